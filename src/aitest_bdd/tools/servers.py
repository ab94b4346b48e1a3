"""Connections to MCP servers over stdio, streamable HTTP or SSE, through the `mcp` SDK."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
import mcp
import mcp_types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError

from ..config import MCPServer
from ..errors import ToolServerError, first_leaf, problem
from ..version import package_version
from . import process_group
from .answers import ToolAnswer
from .wire import checked

CLIENT_INFO = mcp_types.Implementation(name="aitest-bdd", version=package_version())
"""How the plugin introduces itself to MCP servers."""
STDERR_TAIL_CHARS = 2000
REQUEST_TIMEOUT = -32001
CONNECTION_CLOSED = -32000


class ToolServer:
    """One open connection to an MCP server."""

    def __init__(self, config: MCPServer, label: str, errlog: IO[str] | None) -> None:
        self.config = config
        self.label = label
        self.client: mcp.Client | None = None
        self._errlog = errlog
        self.tools: list[mcp_types.Tool] = []
        self.invalid_tools: dict[str, str] = {}
        """Tools left out of the list because their definitions are not valid MCP, with what is wrong."""
        self.crashed = False
        """Whether the server exited or dropped the connection during a call."""
        self.restarted = False
        """Whether this is a shared server started again after it crashed."""

    def protocol_version(self) -> str | None:
        """The protocol version agreed on with the server, once connected."""
        return self.client.protocol_version if self.client is not None else None

    def stderr_tail(self) -> str:
        """The last whole lines the server wrote to stderr (stdio servers only).

        A line cut at the start of the tail is left out: a secret cut in half would not be recognised."""
        if self._errlog is None:
            return ""
        self._errlog.flush()
        self._errlog.seek(0, 2)
        start = max(0, self._errlog.tell() - STDERR_TAIL_CHARS)
        self._errlog.seek(start)
        tail = self._errlog.read()
        if start:
            tail = tail.partition("\n")[2]
        return tail.strip()

    def describe_failure(self, what: str) -> str:
        """`what`, with a note when the server was restarted, and the tail of its stderr when there is one."""
        lines = [what]
        if self.restarted:
            lines.append(f"(MCP server {self.label!r} had crashed in an earlier scenario, and was restarted)")
        tail = self.stderr_tail()
        if tail:
            lines.append(f"--- stderr of MCP server {self.label!r} (last lines) ---\n{tail}")
        return "\n".join(lines)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolAnswer:
        """Call a tool and time it."""
        assert self.client is not None, "the server is not connected"
        started = time.perf_counter()
        try:
            result = await self.client.call_tool(name, arguments, read_timeout_seconds=self.config.call_timeout)
        except (mcp.MCPError, ValidationError, RuntimeError, BaseExceptionGroup) as raised:
            what = self._call_failure(name, first_leaf(raised))
            if what is None:
                raise
            raise ToolServerError(self.describe_failure(what)) from None
        return ToolAnswer(
            text=result_text(result),
            structured_content=result.structured_content,
            is_error=bool(result.is_error),
            server=self.label,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    def _call_failure(self, name: str, error: BaseException) -> str | None:
        """What went wrong in a call of `name`, and what to do; None for an error this does not know."""
        if isinstance(error, ValidationError):
            return (
                f"MCP server {self.label!r} sent a result for tool {name!r} that is not a valid MCP tool result "
                f"({problem(error)}): fix the server"
            )
        if _refused_result(error, name):
            first_line = str(error).partition("\n")[0]
            return f"MCP server {self.label!r} sent an invalid result for tool {name!r} ({first_line}): fix the server"
        if not isinstance(error, mcp.MCPError):
            return None
        if error.code == REQUEST_TIMEOUT:
            return (
                f"tool {name!r} on MCP server {self.label!r} did not answer within "
                f"call_timeout={self.config.call_timeout:g}s: raise MCPServer(call_timeout=...) if the tool is "
                "slow, or find out where it hangs"
            )
        if error.code == CONNECTION_CLOSED:
            self.crashed = True
            return (
                f"MCP server {self.label!r} failed during a call to {name!r}: {error.message} (the server exited "
                "or dropped the connection; its stderr or log says why)"
            )
        return (
            f"MCP server {self.label!r} failed during a call to {name!r} with error {error.code}: {error.message} "
            "(a tool's own failures should come back as results with isError: check the server)"
        )


def _refused_result(error: BaseException, name: str) -> bool:
    """Whether `error` is how the SDK refuses a result of tool `name` that breaks its outputSchema, or whose
    outputSchema is not a valid schema: a plain RuntimeError, told from others by its message (mcp 2.3)."""
    if type(error) is not RuntimeError:
        return False
    message = str(error)
    refusals = (f"Invalid structured content returned by tool {name}: ", f"Invalid schema for tool {name}: ")
    missing = f"Tool {name} has an output schema but did not return structured content"
    return message.startswith(refusals) or message == missing


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
    """Start or connect to the server and list its tools, all within startup_timeout; close it on exit.

    A failure to start comes out as one ToolServerError that names the server and says what to do, even when
    closing what was opened fails as well. Messages name the server by its settings before `${VAR}` expansion,
    so no secret gets into them.
    """
    expanded = config.expanded()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        server = ToolServer(expanded, config.label, errlog if config.transport == "stdio" else None)
        failure: str | None = None  # why it did not start: told before what was opened is closed, which may raise too
        try:
            # The deadline's cancel scope must enclose the connection for as long as it is open: it is lifted, not left.
            with anyio.CancelScope(deadline=anyio.current_time() + config.startup_timeout) as deadline:
                async with AsyncExitStack() as connection:
                    try:
                        await _connect(server, errlog, connection)
                    except BaseException as error:
                        failure = _start_failure(server, error, timed_out=deadline.cancel_called)
                        raise
                    deadline.deadline = math.inf
                    yield server
        except BaseException:
            if failure is None:
                raise
            raise ToolServerError(failure) from None
        if failure is not None:  # the deadline passed, and its cancel scope took the cancellation
            raise ToolServerError(failure)


async def _connect(server: ToolServer, errlog: IO[str], connection: AsyncExitStack) -> None:
    """Connect `server` (the handshake) and list its tools; `connection` closes what this opens.

    A tool that can only be run as a task (`execution.taskSupport: "required"`) is not offered to the agent: this
    client calls tools directly, and the server would refuse every call.
    """
    config = server.config
    transport = checked(_transport(config, errlog), server.invalid_tools, server.protocol_version)
    server.client = await connection.enter_async_context(mcp.Client(transport, client_info=CLIENT_INFO))
    listed = await server.client.list_tools()
    allowed = set(config.allowed_tools) if config.allowed_tools is not None else None
    task_only = {tool.name for tool in listed.tools if tool.execution and tool.execution.task_support == "required"}
    server.tools = [
        tool for tool in listed.tools if (allowed is None or tool.name in allowed) and tool.name not in task_only
    ]
    _check_allowed(server, allowed, [tool.name for tool in listed.tools])
    _check_tools(server, allowed)
    _check_task_only(server, allowed, task_only)


def _check_allowed(server: ToolServer, allowed: set[str] | None, offered: list[str]) -> None:
    """Fail when `allowed_tools` names a tool the server does not offer: a typo would leave the agent without it."""
    unknown = sorted((allowed or set()) - set(offered) - set(server.invalid_tools))
    if unknown:
        raise ToolServerError(
            f"MCP server {server.label!r} offers no tool named {', '.join(map(repr, unknown))} that "
            f"MCPServer(allowed_tools=[...]) names; it offers: {', '.join(offered) or 'no tools'}"
        )


def _check_tools(server: ToolServer, allowed: set[str] | None) -> None:
    """Fail when a tool the agent would be offered has a definition that is not valid MCP."""
    invalid = {name: what for name, what in server.invalid_tools.items() if allowed is None or name in allowed}
    if invalid:
        listed = "; ".join(f"{name!r}: {what}" for name, what in invalid.items())
        raise ToolServerError(
            f"MCP server {server.label!r} offers tools whose definitions are not valid MCP ({listed}): "
            "fix the server, or leave them out with MCPServer(allowed_tools=[...])"
        )


def _check_task_only(server: ToolServer, allowed: set[str] | None, task_only: set[str]) -> None:
    """Fail when `allowed_tools` names a tool that can only be run as a task: the agent could never call it."""
    named = sorted((allowed or set()) & task_only)
    if named:
        raise ToolServerError(
            f"MCP server {server.label!r} runs {', '.join(map(repr, named))} only as a task "
            "(execution.taskSupport 'required'), and aitest-bdd does not support MCP tasks yet: take "
            f"{'it' if len(named) == 1 else 'them'} out of MCPServer(allowed_tools=[...])"
        )


def _start_failure(server: ToolServer, error: BaseException, timed_out: bool) -> str | None:
    """Why the server did not start, and what to do, with its stderr; None for an error this does not know."""
    config = server.config
    if timed_out:
        what: str | None = (
            f"MCP server {server.label!r} did not start within startup_timeout={config.startup_timeout:g}s "
            "(connect, handshake and tool list): raise MCPServer(startup_timeout=...) if it is slow to start, "
            f"or check that it speaks MCP{' at that url' if config.url else ''}"
        )
    else:
        what = _start_problem(server, first_leaf(error))
    return server.describe_failure(what) if what is not None else None


def _start_problem(server: ToolServer, error: BaseException) -> str | None:
    """What went wrong while starting, and what to do; None for an error this does not know."""
    label, config = server.label, server.config
    check = "check its url and headers, and that it is running" if config.url else "check MCPServer(command=[...])"
    if isinstance(error, ToolServerError):
        return str(error)
    if isinstance(error, FileNotFoundError) and config.command:
        return (
            f"MCP server {label!r} could not start: program {config.command[0]!r} not found or not executable "
            "(check MCPServer(command=[...]) and PATH)"
        )
    if isinstance(error, mcp.MCPError) and error.code == CONNECTION_CLOSED and config.command:
        hint = "its stderr below may say why" if server.stderr_tail() else "run its command by hand to see why"
        return f"MCP server {label!r} exited during start-up (connection closed): {hint}"
    if isinstance(error, mcp.MCPError):
        return f"MCP server {label!r} could not start: {error.message} ({check})"
    if isinstance(error, RuntimeError):  # the SDK's errors for a handshake it cannot use (e.g. no common version)
        return f"MCP server {label!r} could not start: {error} (check that it speaks a version of MCP this SDK does)"
    if isinstance(error, ValidationError):
        return f"MCP server {label!r} sent a start-up answer that is not valid MCP ({problem(error)}): fix the server"
    if isinstance(error, httpx2.HTTPStatusError):
        return f"MCP server {label!r} answered HTTP {error.response.status_code} ({check})"
    if isinstance(error, OSError | httpx2.HTTPError):
        return f"MCP server {label!r} could not start: {type(error).__name__}: {error} ({check})"
    return None


def _transport(config: MCPServer, errlog: IO[str]) -> Any:
    if config.transport == "stdio":
        command = _group_led([_program(config), *(config.command or [])[1:]])
        params = StdioServerParameters(
            command=command[0],
            args=command[1:],
            env=config.env or None,
            cwd=config.cwd,
            encoding_error_handler="replace",  # bytes that are not UTF-8 arrive as U+FFFD, not as a dead connection
        )
        return stdio_client(params, errlog=errlog)
    if config.transport == "sse":
        return sse_client(str(config.url), headers=config.headers or None)
    return streamable_http_client(str(config.url), http_client=_http_client(config) if config.headers else None)


def _program(config: MCPServer) -> str:
    """The path of the server's program, found as starting it would find it; FileNotFoundError when there is none."""
    name = (config.command or [""])[0]
    found = shutil.which(
        os.path.join(config.cwd or "", name) if os.sep in name else name,
        path=config.env.get("PATH", os.environ.get("PATH")),
    )
    if found is None:
        raise FileNotFoundError(name)
    return found


def _group_led(command: list[str]) -> list[str]:
    """`command`, run so that the processes it starts end with it, and it with this process (see `process_group`).

    Windows ends them anyway.
    """
    if sys.platform == "win32":
        return command
    return [sys.executable, "-I", "-S", str(Path(process_group.__file__)), str(os.getpid()), *command]


def _http_client(config: MCPServer) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
