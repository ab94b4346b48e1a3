"""The tools of an agent: the answers of its MCP servers, and calls routed to the server that offers each tool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..config import MCPServer
from ..errors import ToolServerError
from .answers import ToolAnswer
from .offers import OfferMethod, Offers, PromptResult, ResourceResult

if TYPE_CHECKING:
    from .call_events import Answerers
    from .servers import ToolServer
    from .spares import Spares


class Toolbox:
    """The tools of all of an agent's MCP servers, by name."""

    def __init__(self, servers: list[ToolServer]) -> None:
        self.servers = servers
        self._owner: dict[str, ToolServer] = {}
        for server in servers:
            for tool in server.tools:
                if tool.name in self._owner:
                    raise ToolServerError(
                        f"tool {tool.name!r} is offered by both MCP server {self._owner[tool.name].label!r} "
                        f"and {server.label!r}: use allowed_tools=[...] on one of them"
                    )
                self._owner[tool.name] = server

    def owners(self) -> dict[str, str]:
        """Each tool's server label."""
        return {name: server.label for name, server in self._owner.items()}

    async def call(
        self,
        name: str,
        arguments: dict[str, Any],
        answerers: Answerers | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ToolAnswer:
        """Call `name` on the server that offers it; `answerers` answer what the server asks during the call, `meta`
        goes with the request (`_meta`: the trace context)."""
        return await self._owner[name].call(name, arguments, answerers, meta)

    def task_only(self) -> dict[str, list[str]]:
        """By server, the tools not offered because the server runs them only as MCP tasks."""
        return {server.label: server.task_only for server in self.servers if server.task_only}

    async def offers(self, method: OfferMethod) -> Offers:
        """What each server offers, listed with `method` (prompts, resources or resource templates)."""
        return Offers(servers={server.label: await server.offers(method) for server in self.servers})

    async def prompt(self, server: str, name: str, arguments: dict[str, str]) -> PromptResult:
        """The prompt `name` of the server labelled `server`."""
        return await self._server(server).prompt(name, arguments)

    async def resource(self, server: str, uri: str) -> ResourceResult:
        """The resource at `uri`, read from the server labelled `server`."""
        return await self._server(server).resource(uri)

    def _server(self, label: str) -> ToolServer:
        """The server labelled `label`; a ToolServerError that names the servers there are when none is."""
        for server in self.servers:
            if server.label == label:
                return server
        labels = ", ".join(server.label for server in self.servers) or "none"
        raise ToolServerError(f"there is no MCP server {label!r} in this toolbox; its servers: {labels}")

    def annotations(self) -> dict[str, dict[str, Any]]:
        """Each tool's MCP annotations (`readOnlyHint`, `destructiveHint`, …) as the server gave them; {} for none."""
        return {
            tool.name: tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
            for server in self.servers
            for tool in server.tools
        }

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tools in the OpenAI chat-completions `tools` format."""
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description or "",
                    "parameters": tool.input_schema or {"type": "object", "properties": {}},
                },
            }
            for server in self.servers
            for tool in server.tools
        ]


@asynccontextmanager
async def open_toolbox(
    configs: list[MCPServer], shared: Sequence[ToolServer] = (), spares: Spares | None = None
) -> AsyncIterator[Toolbox]:
    """Start or connect to every server, list their tools, and close them all on exit.

    `shared` servers are already open (their scope outlives this toolbox) and are not closed here. With
    `spares`, a server comes from a warm spare where there is one, and is stopped in the background.
    """
    async with AsyncExitStack() as stack:
        servers = []
        if configs:
            from .servers import open_server  # lazily: the mcp SDK costs start-up time, and many agents have no server

            start = spares.server if spares is not None else open_server
            servers = [await stack.enter_async_context(start(config)) for config in configs]
        yield Toolbox([*shared, *servers])
