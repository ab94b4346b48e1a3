"""Warm spares of scenario-scoped stdio MCP servers: the next scenario's server starts while this one runs.

A spare is started only after a scenario has started a server of the same configuration itself, is used by
one scenario, and is stopped in the background when that scenario ends. Each spare lives in a task of its
own on the run's loop, which enters and exits its connection. The run's end stops the spares no scenario
took and waits for every server to be gone.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from ..config import MCPServer
from ..runtime import Runtime

if TYPE_CHECKING:
    from .servers import ToolServer

DEFAULT_SPARES = 1
"""Spares kept per server configuration when `aitest_mcp_spares` is not set."""
class _Spare:
    """One server process, started, held and stopped by a task of its own."""

    def __init__(self, config: MCPServer) -> None:
        self.server: ToolServer | None = None
        """The open server; None while it starts, and for good when it failed to start."""
        self.ready = asyncio.Event()
        """Set once the server is open, or failed to start."""
        self._released = asyncio.Event()
        self.task = asyncio.create_task(self._own(config))

    async def _own(self, config: MCPServer) -> None:
        from .servers import open_server  # lazily: the mcp SDK costs start-up time

        try:
            async with open_server(config) as server:
                self.server = server
                self.ready.set()
                await self._released.wait()
        finally:
            self.ready.set()

    def release(self) -> None:
        """Let the task stop the server; the caller does not wait for it."""
        self._released.set()


class Spares:
    """Up to `per_config` spare servers for each stdio configuration (and the same environment) a scenario used.

    Everything but `close` runs on the run's loop.
    """

    def __init__(self, runtime: Runtime, per_config: int) -> None:
        self.runtime = runtime
        self.per_config = per_config
        self._waiting: dict[str, list[_Spare]] = {}
        """Spares no scenario has taken yet, by configuration, oldest first."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @asynccontextmanager
    async def server(self, config: MCPServer) -> AsyncIterator[ToolServer]:
        """A server of `config` for one scenario: a spare when one is ready or starting, else one started now.

        A spare that failed to start is dropped and the server started now, so a failure reads as without spares.
        """
        from .servers import open_server  # lazily: the mcp SDK costs start-up time

        identity = _identity(config)
        spare = await self._take(identity)
        if spare is None or spare.server is None:
            async with open_server(config) as server:
                self._top_up(identity, config)
                yield server
            return
        self._top_up(identity, config)
        try:
            yield spare.server
        finally:
            spare.release()

    async def _take(self, identity: str | None) -> _Spare | None:
        """The oldest spare of `identity`, once it is open or has failed; None when there is none."""
        waiting = self._waiting.get(identity) if identity is not None else None
        if not waiting:
            return None
        spare = waiting.pop(0)
        await spare.ready.wait()
        return spare

    def _top_up(self, identity: str | None, config: MCPServer) -> None:
        """Start spares of `config` until `per_config` of them are waiting."""
        if identity is None or self._closed:
            return
        waiting = self._waiting.setdefault(identity, [])
        while len(waiting) < self.per_config:
            spare = _Spare(config)
            waiting.append(spare)
            self._tasks.add(spare.task)
            spare.task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        """Drop a finished task; what it raised was its server's failure to start or to stop, which no one awaits
        (a scenario that would have taken a spare that failed starts its own server, and fails with it)."""
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()

    def close(self) -> None:
        """Stop the spares no scenario took, and wait until every server started here has stopped."""
        if self._tasks:
            self.runtime.call(self._close)
        self._closed = True

    async def _close(self) -> None:
        self._closed = True
        for spare in [spare for waiting in self._waiting.values() for spare in waiting]:
            if spare.server is not None:
                spare.release()
            else:
                spare.task.cancel()  # still starting: cut short, which stops what it started
        self._waiting.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _identity(config: MCPServer) -> str | None:
    """What makes two servers interchangeable: the configuration with `${VAR}` expanded, and the directory it
    starts in; None for a server that gets no spares (one reached over a URL)."""
    if config.transport != "stdio":
        return None
    return f"{config.expanded().model_dump_json()}\0{config.cwd or os.getcwd()}"
