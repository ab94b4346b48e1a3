"""Connections to MCP servers over stdio, streamable HTTP or SSE, through the `mcp` SDK."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import IO, Any

import httpx2
import mcp
import mcp_types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from ..config import MCPServer
from ..errors import ToolServerError, first_leaf
from .answers import ToolAnswer

STDERR_TAIL_CHARS = 2000
REQUEST_TIMEOUT = -32001
CONNECTION_CLOSED = -32000


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


@asynccontextmanager
async def open_server(config: MCPServer) -> AsyncIterator[ToolServer]:
    """One server, open until exit."""
    async with AsyncExitStack() as stack:
        yield await connect(stack, config.expanded())


async def connect(stack: AsyncExitStack, config: MCPServer) -> ToolServer:
    """Start or connect to the server and list its tools; `stack` closes it."""
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
