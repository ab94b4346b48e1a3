"""The tools of an agent: its MCP servers, opened once for a session, and calls routed to them."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import IO, Any

import httpx2
import mcp
import mcp_types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from .config import MCPServer

STDERR_TAIL_CHARS = 2000
REQUEST_TIMEOUT = -32001
CONNECTION_CLOSED = -32000


class ToolServerError(RuntimeError):
    """An MCP server that could not start, crashed, or did not answer in time."""


class ToolAnswer(BaseModel):
    """A tool's result as the agent loop uses it: the text for the model, and the rest for the record."""

    text: str
    structured_content: Any = None
    is_error: bool = False
    server: str | None = None
    duration_ms: float = 0.0
    truncated_from: int | None = None

    def truncated(self, limit: int) -> ToolAnswer:
        """This answer with its text cut to `limit` characters, marked, and the full size noted."""
        if len(self.text) <= limit:
            return self
        size = len(self.text)
        structured = self.structured_content
        if structured is not None and len(json.dumps(structured)) > limit:
            structured = None
        marker = f"\n[truncated: the tool returned {size:,} characters; the first {limit:,} are shown]"
        text = self.text[:limit] + marker
        return self.model_copy(update={"text": text, "structured_content": structured, "truncated_from": size})


class ToolServer:
    """One open connection to an MCP server."""

    def __init__(self, config: MCPServer, client: mcp.Client, errlog: IO[str] | None) -> None:
        self.config = config
        self.client = client
        self._errlog = errlog
        self.tools: list[mcp_types.Tool] = []

    @property
    def label(self) -> str:
        return self.config.label

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr (stdio servers only)."""
        if self._errlog is None:
            return ""
        self._errlog.flush()
        self._errlog.seek(0, 2)
        size = self._errlog.tell()
        self._errlog.seek(max(0, size - STDERR_TAIL_CHARS))
        return self._errlog.read().strip()

    def describe_failure(self, what: str) -> str:
        """`what`, with the tail of the server's stderr when there is one."""
        tail = self.stderr_tail()
        return f"{what}\n--- stderr of MCP server {self.label!r} (last lines) ---\n{tail}" if tail else what

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolAnswer:
        """Call a tool and time it."""
        started = time.perf_counter()
        try:
            result = await self.client.call_tool(name, arguments, read_timeout_seconds=self.config.call_timeout)
        except (mcp.MCPError, BaseExceptionGroup) as raised:
            error = first_leaf(raised)
            if not isinstance(error, mcp.MCPError):
                raise
            if error.code == REQUEST_TIMEOUT:
                what = (
                    f"tool {name!r} on MCP server {self.label!r} did not answer within "
                    f"call_timeout={self.config.call_timeout:g}s"
                )
            else:
                what = f"MCP server {self.label!r} failed during a call to {name!r}: {error.message}"
            raise ToolServerError(self.describe_failure(what)) from None
        return ToolAnswer(
            text=result_text(result),
            structured_content=result.structured_content,
            is_error=bool(result.is_error),
            server=self.label,
            duration_ms=(time.perf_counter() - started) * 1000,
        )


def result_text(result: mcp_types.CallToolResult) -> str:
    """The text a tool result gives the model: its text blocks, other blocks described."""
    parts = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{block.type} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


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

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolAnswer:
        """Call `name` on the server that offers it."""
        return await self._owner[name].call(name, arguments)

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
async def open_toolbox(configs: list[MCPServer], shared: Sequence[ToolServer] = ()) -> AsyncIterator[Toolbox]:
    """Start or connect to every server, list their tools, and close them all on exit.

    `shared` servers are already open (their scope outlives this toolbox) and are not closed here.
    """
    async with AsyncExitStack() as stack:
        servers = [await _open_server(stack, config.expanded()) for config in configs]
        yield Toolbox([*shared, *servers])


@asynccontextmanager
async def open_server(config: MCPServer) -> AsyncIterator[ToolServer]:
    """One server, open until exit."""
    async with AsyncExitStack() as stack:
        yield await _open_server(stack, config.expanded())


async def _open_server(stack: AsyncExitStack, config: MCPServer) -> ToolServer:
    errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace"))  # noqa: SIM115
    server = ToolServer(config, None, errlog if config.transport == "stdio" else None)  # type: ignore[arg-type]
    try:
        server.client = await stack.enter_async_context(
            mcp.Client(_transport(config, errlog), read_timeout_seconds=config.startup_timeout)
        )
        listed = await server.client.list_tools()
    except (OSError, mcp.MCPError, httpx2.HTTPError, BaseExceptionGroup) as error:
        raise ToolServerError(server.describe_failure(_start_failure(config, first_leaf(error)))) from None
    allowed = set(config.allowed_tools) if config.allowed_tools is not None else None
    server.tools = [tool for tool in listed.tools if allowed is None or tool.name in allowed]
    return server


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, or `error` itself."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _start_failure(config: MCPServer, error: BaseException) -> str:
    if isinstance(error, FileNotFoundError) and config.command:
        return (
            f"MCP server {config.label!r} could not start: program {config.command[0]!r} not found "
            "(check MCPServer(command=[...]) and PATH)"
        )
    if isinstance(error, mcp.MCPError) and error.code == REQUEST_TIMEOUT:
        return f"MCP server {config.label!r} did not start within startup_timeout={config.startup_timeout:g}s"
    if isinstance(error, mcp.MCPError) and error.code == CONNECTION_CLOSED:
        return f"MCP server {config.label!r} exited during start-up (connection closed)"
    detail = error.message if isinstance(error, mcp.MCPError) else f"{type(error).__name__}: {error}"
    return f"MCP server {config.label!r} could not start: {detail}"


def _transport(config: MCPServer, errlog: IO[str]) -> Any:
    if config.transport == "stdio":
        command = config.command or []
        params = StdioServerParameters(command=command[0], args=command[1:], env=config.env or None, cwd=config.cwd)
        return stdio_client(params, errlog=errlog)
    if config.transport == "sse":
        return sse_client(str(config.url), headers=config.headers or None)
    return streamable_http_client(str(config.url), http_client=_http_client(config) if config.headers else None)


def _http_client(config: MCPServer) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
