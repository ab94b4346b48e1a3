"""Bind a scenario to its session: find the agent it names, apply model overrides, open the conversation."""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from ..app import AppError
from ..config import Agent, ConfigError, explain
from ..errors import ToolServerError
from ..recording.cassette import Cassette, RecordingMismatch
from ..run.context import run_context
from ..run.test_state import held_sessions, recording_name, released, save_unless_broken, sessions_of, shared_servers

if TYPE_CHECKING:
    from ..conversation.session import AgentSession

AGENTS_FIXTURE = "aitest_agents"
CASSETTE_KEY = released(pytest.StashKey["Cassette | None"]())
IN_USE_KEY = released(pytest.StashKey[bool]())
SHOWN_KEY = pytest.StashKey[dict[str, str]]()
"""On the config: each configuration error of the agents fixture already shown, with the test that showed it."""
MISSING_FIXTURE = """there is no {fixture} fixture, so no agent named {name!r}: add these three lines to conftest.py \
(with `import pytest` and `from aitest_bdd import Agent, Provider`):

@pytest.fixture
def {fixture}():
    return [Agent(name="{name}", provider=Provider(model="openai/gpt-4.1-mini"))]"""


def agents_by_name(agents: object) -> dict[str, Agent]:
    """Check what the `aitest_agents` fixture returned and index it by name."""
    if isinstance(agents, Agent):
        agents = [agents]
    if not isinstance(agents, Sequence) or not all(isinstance(agent, Agent) for agent in agents):
        raise ConfigError(
            f"the {AGENTS_FIXTURE} fixture must return a list of aitest_bdd.Agent, not {type(agents).__name__}"
        )
    known: dict[str, Agent] = {}
    for agent in agents:
        if agent.name in known:
            raise ConfigError(
                f"the {AGENTS_FIXTURE} fixture defines two agents named {agent.name!r}: give each a name of its own"
            )
        known[agent.name] = agent
    return known


def find_agent(agents: object, name: str, model: str | None) -> Agent:
    """The agent called `name`, on `model` when one is given."""
    known = agents_by_name(agents)
    if name not in known:
        defined = ", ".join(repr(n) for n in known) or "none"
        raise ConfigError(
            f"no agent named {name!r}; the {AGENTS_FIXTURE} fixture defines: {defined}. "
            f"Add Agent(name={name!r}, ...) to it in conftest.py, or fix the name in the feature"
        )
    agent = known[name]
    return agent.with_model(model) if model else agent


def start_session(request: pytest.FixtureRequest, name: str, model: str | None = None) -> AgentSession:
    """Open a session with the named agent for this test; it is closed when the test ends.

    It becomes the scenario's `aitest_session`. Before any step has used that, a later `Given the agent`
    step replaces it (a Background's agent, then a scenario's choice of model); after, it is an error.
    """
    from ..conversation.session import AgentSession  # lazily: it loads the openai SDK

    item = request.node
    context = run_context(request.config)
    sessions = held_sessions(item)
    if item.stash.get(IN_USE_KEY, False):
        pytest.fail(
            f"this scenario's conversation with agent {sessions[-1].agent.name!r} has started, and a scenario "
            f"is one conversation: talk to agent {name!r}{f' on model {model!r}' if model else ''} in a scenario "
            "of its own",
            pytrace=False,
        )
    for unused in sessions:
        unused.close()
    sessions.clear()
    problem = None
    try:
        agent = find_agent(agents_of(request, name), name, model or context.model_override)
        cassette = _cassette(request)
    except (ConfigError, RecordingMismatch) as error:
        problem = str(error)
    if problem:
        pytest.fail(problem, pytrace=False)
    context.redactor.learn_agent(agent)
    session = AgentSession(
        agent,
        context.runtime,
        context.prices,
        cassette,
        context.recording.real_tools,
        shared_servers(item, context.servers),
        context.spares,
        traced=context.traced,
    )
    sessions.append(session)
    request.addfinalizer(session.close)
    if not session.replays_another_model():
        _open(session)
    # else: it would run live, which a later `Given the agent ... using model` (the model its recording was
    # made with) may still spare: it opens when a step first uses it
    return session


def current_session(request: pytest.FixtureRequest) -> AgentSession:
    """The session the scenario's `Given the agent` step opened; from now on no other agent may replace it."""
    sessions = sessions_of(request.node)
    if not sessions:
        pytest.fail(
            'this step needs an agent: start the scenario (or its Background) with Given the agent "NAME"',
            pytrace=False,
        )
    request.node.stash[IN_USE_KEY] = True
    _open(sessions[-1])
    return sessions[-1]


def _open(session: AgentSession) -> None:
    """Open the session (a no-op once open); a start that fails fails the step."""
    try:
        session.open()
    except (ConfigError, ToolServerError, RecordingMismatch, AppError) as error:
        problem = f"agent {session.agent.name!r} could not start: {error}"
    else:
        return
    pytest.fail(problem, pytrace=False)


def agents_of(request: pytest.FixtureRequest, name: str) -> object:
    """What the user's agents fixture returns; an invalid Agent, Provider or MCPServer in it fails the scenario
    with one short message, shown in full once per run."""
    defined = request._fixturemanager.getfixturedefs(AGENTS_FIXTURE, request.node) or ()
    own = [fixture.func for fixture in defined if not fixture.func.__module__.startswith("aitest_bdd.")]
    if not own:
        pytest.fail(MISSING_FIXTURE.format(fixture=AGENTS_FIXTURE, name=name), pytrace=False)
    try:
        return request.getfixturevalue(AGENTS_FIXTURE)
    except ValidationError as error:
        wrong, fields = explain(error)
        problem = f"{_where(request.config, own[-1], error)}: {wrong}"
    shown = request.config.stash.setdefault(SHOWN_KEY, {})
    if problem in shown:
        pytest.fail(f"the {AGENTS_FIXTURE} fixture failed, as shown for {shown[problem]}: {problem}", pytrace=False)
    shown[problem] = request.node.nodeid
    pytest.fail(
        f"the {AGENTS_FIXTURE} fixture could not make its agents: {problem}" + (f"\n{fields}" if fields else ""),
        pytrace=False,
    )


def _where(config: pytest.Config, fixture: Any, error: BaseException) -> str:
    """`file:line` of the fixture's line that raised `error` (its first line when the error came from elsewhere)."""
    file = inspect.getsourcefile(fixture) or ""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == file]
    line = lines[-1] if lines else fixture.__code__.co_firstlineno
    return f"{os.path.relpath(file, config.rootpath)}:{line}"


def _cassette(request: pytest.FixtureRequest) -> Cassette | None:
    """The test's recording file, shared by its sessions and saved when the test ends."""
    item = request.node
    if CASSETTE_KEY not in item.stash:
        context = run_context(request.config)
        cassette = context.recording.cassette(item.path, recording_name(item), item.nodeid, context.redactor)
        item.stash[CASSETTE_KEY] = cassette
        if cassette is not None:
            sessions = held_sessions(item)  # this attempt's: a repeated scenario's next attempt has its own
            request.addfinalizer(lambda: save_unless_broken(cassette, sessions))
    return item.stash[CASSETTE_KEY]
