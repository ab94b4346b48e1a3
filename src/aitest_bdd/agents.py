"""Find the agent a scenario names, apply model overrides, and give the scenario its session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pytest

from .config import Agent, ConfigError, MCPServer
from .errors import ToolServerError
from .recording import Cassette, RecordingMismatch
from .server_pool import ServerPool

if TYPE_CHECKING:
    from .mcp_client import ToolServer
    from .session import AgentSession

AGENTS_FIXTURE = "aitest_agents"
SESSIONS_KEY = pytest.StashKey["list[AgentSession]"]()
CASSETTE_KEY = pytest.StashKey["Cassette | None"]()
IN_USE_KEY = pytest.StashKey[bool]()


def model_override(config: pytest.Config) -> str | None:
    """The model set by `--aitest-model` or the `aitest_model` ini option, if any."""
    return config.getoption("aitest_model") or config.getini("aitest_model") or None


def agents_by_name(agents: object) -> dict[str, Agent]:
    """Check what the `aitest_agents` fixture returned and index it by name."""
    if isinstance(agents, Agent):
        agents = [agents]
    if not isinstance(agents, Sequence) or not all(isinstance(agent, Agent) for agent in agents):
        raise ConfigError(f"the {AGENTS_FIXTURE} fixture must return a list of aitest_bdd.Agent, not {agents!r}")
    return {agent.name: agent for agent in agents}


def find_agent(config: pytest.Config, agents: object, name: str, model: str | None = None) -> Agent:
    """The agent called `name`, on `model` (a step's choice) or the run's model override."""
    known = agents_by_name(agents)
    if name not in known:
        defined = ", ".join(repr(n) for n in known) or "none"
        raise ConfigError(
            f"no agent named {name!r}; the {AGENTS_FIXTURE} fixture defines: {defined}. "
            f"Add Agent(name={name!r}, ...) to it in conftest.py, or fix the name in the feature"
        )
    agent = known[name]
    chosen = model or model_override(config)
    return agent.with_model(chosen) if chosen else agent


def start_session(request: pytest.FixtureRequest, name: str, model: str | None = None) -> AgentSession:
    """Open a session with the named agent for this test; it is closed when the test ends.

    It becomes the scenario's `aitest_session`. Before any step has used that, a later `Given the agent`
    step replaces it (a Background's agent, then a scenario's choice of model); after, it is an error.
    """
    from .plugin import prices, record_settings, runtime
    from .session import AgentSession

    item = request.node
    sessions = item.stash.setdefault(SESSIONS_KEY, [])
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
        agents = request.getfixturevalue(AGENTS_FIXTURE)
        agent = find_agent(request.config, agents, name, model)
        cassette = _cassette(request)
    except (ConfigError, RecordingMismatch) as error:
        problem = str(error)
    if problem:
        pytest.fail(problem, pytrace=False)
    settings = record_settings(request.config)
    session = AgentSession(
        agent,
        runtime(request.config),
        prices(request.config),
        cassette,
        settings.real_tools,
        shared_servers(request.node),
    )
    sessions.append(session)
    request.addfinalizer(session.close)
    try:
        session.open()
    except (ConfigError, ToolServerError, RecordingMismatch) as error:
        problem = f"agent {name!r} could not start: {error}"
    if problem:
        pytest.fail(problem, pytrace=False)
    return session


def current_session(request: pytest.FixtureRequest) -> AgentSession:
    """The session the scenario's `Given the agent` step opened; from now on no other agent may replace it."""
    sessions = request.node.stash.get(SESSIONS_KEY, [])
    if not sessions:
        pytest.fail(
            'this step needs an agent: start the scenario (or its Background) with Given the agent "NAME"',
            pytrace=False,
        )
    request.node.stash[IN_USE_KEY] = True
    return sessions[-1]


def forget(item: pytest.Item) -> None:
    """Drop the test's sessions and recording from the item, which pytest keeps until the run ends."""
    for key in (SESSIONS_KEY, CASSETTE_KEY, IN_USE_KEY):
        if key in item.stash:
            del item.stash[key]


def shared_servers(item: pytest.Item) -> Callable[[MCPServer], ToolServer]:
    """How a test gets servers of `feature` or `run` scope: from the run's pool, released with their scope."""
    from .plugin import server_pool

    pool = server_pool(item.config)

    def get(config: MCPServer) -> ToolServer:
        if config.scope == "run":
            return pool.get(config, ServerPool.RUN)
        key = str(item.path)
        owner = item.getparent(pytest.Module) or item.session
        owner.addfinalizer(lambda: pool.release(key))
        return pool.get(config, key)

    return get


def _cassette(request: pytest.FixtureRequest) -> Cassette | None:
    """The test's recording file, shared by its sessions and saved when the test ends."""
    from .plugin import record_settings

    item = request.node
    if CASSETTE_KEY not in item.stash:
        cassette = record_settings(request.config).cassette(item.path, item.name, item.nodeid)
        item.stash[CASSETTE_KEY] = cassette
        if cassette is not None:
            request.addfinalizer(lambda: save_unless_broken(cassette, item.stash.get(SESSIONS_KEY, [])))
    return item.stash[CASSETTE_KEY]


def save_unless_broken(cassette: Cassette, sessions: list[AgentSession]) -> None:
    """Save a recording unless a turn failed to run (a broken run is not worth replaying)."""
    if not any(turn.error for session in sessions for turn in session.turns):
        cassette.save()
