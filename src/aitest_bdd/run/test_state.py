"""What a test holds while it runs (its sessions, and each module's own keys), on its pytest item until teardown."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pytest

from ..config import MCPServer
from ..tools.pool import ServerPool

if TYPE_CHECKING:
    from ..conversation.session import AgentSession
    from ..recording.cassette import Cassette
    from ..tools.servers import ToolServer

T = TypeVar("T")
_RELEASED: list[pytest.StashKey] = []


def released(key: pytest.StashKey[T]) -> pytest.StashKey[T]:
    """`key`, to be dropped from every item by `forget()` at teardown."""
    _RELEASED.append(key)
    return key


SESSIONS_KEY = released(pytest.StashKey["list[AgentSession]"]())
ATTEMPT_KEY = pytest.StashKey[int]()
"""Which attempt of a repeated scenario runs now; kept across `begin_attempt`, dropped by `forget`."""


def sessions_of(item: pytest.Item) -> list[AgentSession]:
    """The sessions the test has talked to, oldest first."""
    return item.stash.get(SESSIONS_KEY, [])


def held_sessions(item: pytest.Item) -> list[AgentSession]:
    """The test's own list of its sessions, made on first use, for the code that opens them to change."""
    return item.stash.setdefault(SESSIONS_KEY, [])


def turns_so_far(item: pytest.Item) -> int:
    """How many turns the test's sessions have run."""
    return sum(len(session.turns) for session in sessions_of(item))


def forget(item: pytest.Item) -> None:
    """Drop the test's sessions, result and the rest it held from the item, which pytest keeps until the run ends."""
    for key in [*_RELEASED, ATTEMPT_KEY]:
        if key in item.stash:
            del item.stash[key]


def begin_attempt(item: pytest.Item, number: int) -> None:
    """Start attempt `number` of a repeated scenario afresh: the last attempt's sessions are closed and forgotten."""
    for session in sessions_of(item):
        session.close()
    forget(item)
    item.stash[ATTEMPT_KEY] = number


def recording_name(item: pytest.Item, attempt: int | None = None) -> str:
    """The name of the test's recording: the test's name, and for attempts after the first, the attempt's number
    (by default, the attempt that runs now)."""
    number = attempt or item.stash.get(ATTEMPT_KEY, 1)
    return item.name if number == 1 else f"{item.name}@attempt-{number}"  # no test's own name holds an "@"


def shared_servers(item: pytest.Item, pool: ServerPool) -> Callable[[MCPServer], ToolServer]:
    """How a test gets servers of `feature` or `run` scope: from the run's pool, released with their scope."""

    def get(config: MCPServer) -> ToolServer:
        if config.scope == "run":
            return pool.get(config, ServerPool.RUN)
        key = str(item.path)
        owner = item.getparent(pytest.Module) or item.session
        owner.addfinalizer(lambda: pool.release(key))
        return pool.get(config, key)

    return get


def save_unless_broken(cassette: Cassette, sessions: list[AgentSession]) -> None:
    """Save a recording unless a turn failed to run (a broken run is not worth replaying)."""
    if not any(turn.error for session in sessions for turn in session.turns):
        cassette.save()
