"""Conversations that span tests: the Python API's sessions, by session key and agent."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from ..config import Agent
from ..conversation.pricing import PriceTable
from ..recording.cassette import Cassette, RecordSettings
from ..redaction import Redactor
from ..runtime import Runtime
from ..tools.pool import ServerPool
from ..tools.spares import Spares
from .test_state import save_unless_broken, shared_servers

if TYPE_CHECKING:
    from ..conversation.session import AgentSession, Checkpoint


def session_key(item: pytest.Item) -> str:
    """The conversation a test belongs to: its `session` mark (per parametrized variant), or itself."""
    mark = item.get_closest_marker("session")
    if mark is None or not mark.args:
        return item.nodeid
    callspec = getattr(item, "callspec", None)
    return f"{mark.args[0]}[{callspec.id}]" if callspec else str(mark.args[0])


class SessionRegistry:
    """Open conversations of the Python API, by session key and agent name."""

    def __init__(
        self,
        runtime: Runtime,
        prices: PriceTable,
        recording: RecordSettings,
        servers: ServerPool,
        spares: Spares | None,
        redactor: Redactor,
        traced: bool = False,
    ) -> None:
        self.runtime = runtime
        self.prices = prices
        self.recording = recording
        self.servers = servers
        self.spares = spares
        self.redactor = redactor
        self.traced = traced
        """Whether conversations are traced (`--aitest-otel`)."""
        self._sessions: dict[str, dict[str, AgentSession]] = {}
        self._cassettes: dict[str, Cassette | None] = {}
        self._last_item: dict[str, str] = {}
        self._before: dict[str, tuple[str, dict[str, Checkpoint]]] = {}

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
            from ..conversation.session import AgentSession  # lazily: it loads the openai SDK

            self.redactor.learn_agent(agent)
            if key not in self._cassettes:
                name = key.split("::", 1)[-1]
                self._cassettes[key] = self.recording.cassette(item.path, name, item.nodeid, self.redactor)
            session = by_agent[identity] = AgentSession(
                agent,
                self.runtime,
                self.prices,
                self._cassettes[key],
                self.recording.real_tools,
                shared_servers(item, self.servers),
                self.spares,
                traced=self.traced,
            )
        if not session.is_open:
            await asyncio.to_thread(session.open)
        return session

    def begin(self, item: pytest.Item) -> None:
        """Note where the item's conversations stand as it starts; when it runs again (a rerun of a failed test),
        go back there, so that the failed run's turns are forgotten and the sessions it opened start anew."""
        key = session_key(item)
        by_agent = self._sessions.get(key, {})
        nodeid, before = self._before.get(key, ("", {}))
        if nodeid != item.nodeid:
            self._before[key] = (item.nodeid, {identity: held.checkpoint() for identity, held in by_agent.items()})
            return
        for identity, session in list(by_agent.items()):
            if identity in before:
                session.rewind(before[identity])
            else:
                del by_agent[identity]
                session.close()

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
        self._before.pop(key, None)
        sessions = list(self._sessions.pop(key, {}).values())
        for session in sessions:
            session.close()
        cassette = self._cassettes.pop(key, None)
        if cassette is not None:
            save_unless_broken(cassette, sessions)
