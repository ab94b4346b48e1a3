"""MCP servers shared by the scenarios of a feature file or of the whole run."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..config import MCPServer
from ..runtime import Runtime

if TYPE_CHECKING:
    from .servers import ToolServer


class ServerPool:
    """Open shared servers, by the key of what shares them (a feature file, or the run)."""

    RUN = "run"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._open: dict[tuple[str, str], tuple[AbstractContextManager[ToolServer], ToolServer]] = {}

    def get(self, config: MCPServer, key: str) -> ToolServer:
        """The server for `config` shared under `key`, started on first use."""
        identity = (key, config.model_dump_json())
        if identity not in self._open:
            from .servers import open_server  # lazily: the mcp SDK costs start-up time

            held = self.runtime.hold(open_server(config))
            self._open[identity] = (held, held.__enter__())
        return self._open[identity][1]

    def release(self, key: str) -> None:
        """Stop the servers shared under `key`."""
        for identity in [identity for identity in self._open if identity[0] == key]:
            held, _ = self._open.pop(identity)
            held.__exit__(None, None, None)

    def close_all(self) -> None:
        for key in {identity[0] for identity in self._open}:
            self.release(key)
