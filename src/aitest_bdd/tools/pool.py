"""MCP servers shared by the scenarios of a feature file or of the whole run."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..config import MCPServer
from ..errors import ToolServerError
from ..runtime import Runtime

if TYPE_CHECKING:
    from .servers import ToolServer

Identity = tuple[str, str]


class ServerPool:
    """Open shared servers, by the key of what shares them (a feature file, or the run).

    A shared server that crashed during a call is started again for the next scenario that asks for it,
    once: each shared server (one configuration under one key) is restarted at most once per run. After
    a second crash, or when the restart fails, the scenarios that ask for it fail at once, with a message
    that says so.
    """

    RUN = "run"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._open: dict[Identity, tuple[AbstractContextManager[ToolServer], ToolServer]] = {}
        self._restarted: set[Identity] = set()
        self._given_up: dict[Identity, str] = {}
        """Why each shared server that is not started again is not: the message for the scenarios that ask for it."""

    def get(self, config: MCPServer, key: str) -> ToolServer:
        """The server for `config` shared under `key`, started on first use, and restarted once after a crash."""
        identity = (key, config.model_dump_json())
        if identity in self._given_up:
            raise ToolServerError(self._given_up[identity])
        crashed = identity in self._open and self._open[identity][1].crashed
        if crashed:
            self._stop(identity)
            if identity in self._restarted:
                self._given_up[identity] = (
                    f"MCP server {config.label!r} (scope={config.scope!r}) crashed again after its restart, and a "
                    "shared server is restarted only once: fix the crash (see the scenarios that failed with it "
                    "before), or give the server scope='scenario'"
                )
                raise ToolServerError(self._given_up[identity])
            self._restarted.add(identity)
        if identity not in self._open:
            self._start(identity, config, restart=crashed)
        return self._open[identity][1]

    def _start(self, identity: Identity, config: MCPServer, restart: bool) -> None:
        from .servers import open_server  # lazily: the mcp SDK costs start-up time

        held = self.runtime.hold(open_server(config))
        try:
            server = held.__enter__()
        except ToolServerError as error:
            if not restart:
                raise
            self._given_up[identity] = (
                f"MCP server {config.label!r} (scope={config.scope!r}) crashed, and its restart failed; a shared "
                f"server is restarted only once: fix the server, or give it scope='scenario'. The restart failed with:"
                f"\n{error}"
            )
            raise ToolServerError(f"{error}\n(it was being restarted: it had crashed in an earlier scenario)") from None
        server.restarted = restart
        self._open[identity] = (held, server)

    def _stop(self, identity: Identity) -> None:
        held, _ = self._open.pop(identity)
        held.__exit__(None, None, None)

    def release(self, key: str) -> None:
        """Stop the servers shared under `key`."""
        for identity in [identity for identity in self._open if identity[0] == key]:
            self._stop(identity)

    def close_all(self) -> None:
        for key in {identity[0] for identity in self._open}:
            self.release(key)
