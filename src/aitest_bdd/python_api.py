"""The Python API: `await aitest_run(agent, message)` in async tests, and `@pytest.mark.session`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from .agents import SESSIONS_KEY, model_override, save_unless_broken, shared_servers
from .config import Agent
from .recording import Cassette
from .records import Turn

if TYPE_CHECKING:
    from .session import AgentSession

AitestRun = Callable[[Agent, str], Awaitable[Turn]]


def session_key(item: pytest.Item) -> str:
    """The conversation a test belongs to: its `session` mark (per parametrized variant), or itself."""
    mark = item.get_closest_marker("session")
    if mark is None or not mark.args:
        return item.nodeid
    callspec = getattr(item, "callspec", None)
    return f"{mark.args[0]}[{callspec.id}]" if callspec else str(mark.args[0])


class SessionRegistry:
    """Open conversations of the Python API, by session key and agent name."""

    def __init__(self, config: pytest.Config) -> None:
        from .plugin import prices, record_settings, runtime

        self.runtime = runtime(config)
        self.prices = prices(config)
        self.settings = record_settings(config)
        self._sessions: dict[str, dict[str, AgentSession]] = {}
        self._cassettes: dict[str, Cassette | None] = {}
        self._last_item: dict[str, str] = {}

    def plan(self, items: list[pytest.Item]) -> None:
        """Note the last test of each session, where its servers can be closed."""
        for item in items:
            self._last_item[session_key(item)] = item.nodeid

    async def session(self, key: str, agent: Agent, item: pytest.Item) -> AgentSession:
        """The open conversation with `agent` (by name and model) in session `key`, started on first use."""
        by_agent = self._sessions.setdefault(key, {})
        identity = f"{agent.name}@{agent.provider.model}"
        session = by_agent.get(identity)
        if session is None:
            from .session import AgentSession

            if key not in self._cassettes:
                name = key.split("::", 1)[-1]
                self._cassettes[key] = self.settings.cassette(item.path, name, item.nodeid)
            session = by_agent[identity] = AgentSession(
                agent, self.runtime, self.prices, self._cassettes[key], self.settings.real_tools, shared_servers(item)
            )
        if not session.is_open:
            await asyncio.to_thread(session.open)
        return session

    def sessions(self, key: str) -> list[AgentSession]:
        return list(self._sessions.get(key, {}).values())

    def finish(self, item: pytest.Item) -> None:
        """Close the item's sessions if no later test continues them."""
        key = session_key(item)
        if self._last_item.get(key, item.nodeid) == item.nodeid:
            self._close(key)

    def close_all(self) -> None:
        for key in list(self._sessions):
            self._close(key)

    def _close(self, key: str) -> None:
        sessions = list(self._sessions.pop(key, {}).values())
        for session in sessions:
            session.close()
        cassette = self._cassettes.pop(key, None)
        if cassette is not None:
            save_unless_broken(cassette, sessions)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Iterator[None]:
    """Run `async def` tests that use `aitest_run` under pytest-asyncio without asking for a mark."""
    if inspect.iscoroutinefunction(obj) and "aitest_run" in inspect.signature(obj).parameters:
        marks = [mark.name for mark in getattr(obj, "pytestmark", [])]
        if "asyncio" not in marks:
            pytest.mark.asyncio(obj)
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    from .plugin import registry

    registry(session.config).plan(session.items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under `--dist load`, keep the tests of a class (a `@pytest.mark.session` flow) on one worker."""
    if config.getoption("dist", None) != "load":
        return None
    from .xdist_scheduling import ClassScheduling

    return ClassScheduling(config, log)


@pytest.fixture
def aitest_run(request: pytest.FixtureRequest) -> Iterator[AitestRun]:
    """`await aitest_run(agent, message)` runs one turn and returns its `Turn`.

    Calls in one test, or in the tests of one `@pytest.mark.session("name")` class, continue one
    conversation per agent.
    """
    from .plugin import registry

    sessions = registry(request.config)
    key = session_key(request.node)
    override = model_override(request.config)

    async def run(agent: Agent, message: str) -> Turn:
        if override:
            agent = agent.with_model(override)
        session = await sessions.session(key, agent, request.node)
        request.node.stash[SESSIONS_KEY] = sessions.sessions(key)
        return await session.runtime.call_async(session.run_turn, message)

    yield run
    sessions.finish(request.node)
