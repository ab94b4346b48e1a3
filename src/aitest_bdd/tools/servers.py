"""Connections to MCP servers over stdio, streamable HTTP or SSE, through the `mcp` SDK."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import IO, Any, TypeVar

import anyio
import httpx2
import mcp
import mcp_types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError

from .. import process_group
from ..config import MCPServer
from ..errors import ToolServerError, first_leaf, problem
from ..version import package_version
from .answers import ToolAnswer
from .call_events import Answerers
from .content import answer_content, content_block
from .offers import Offer, OfferMethod, PromptMessage, PromptResult, ResourceResult
from .server_requests import CallInProgress, ask_for_logs, client_options
from .wire import checked

CLIENT_INFO = mcp_types.Implementation(name="aitest-bdd", version=package_version())
"""How the plugin introduces itself to MCP servers."""
STDERR_TAIL_CHARS = 2000
REQUEST_TIMEOUT = -32001
CONNECTION_CLOSED = -32000
T = TypeVar("T")


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
        self.task_only: list[str] = []
        """Tools not offered to the agent because the server runs them only as MCP tasks."""
        self.call_in_progress: CallInProgress | None = None
        """The tool call running now: it holds what the server sends during it, and who answers the server."""

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

    async def call(
        self,
        name: str,
        arguments: dict[str, Any],
        answerers: Answerers | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ToolAnswer:
        """Call a tool and time it, with a progress token; what the server asks during the call, `answerers`
        answer (without them, questions are cancelled and sampling refused). `meta` goes in the request's `_meta`."""
        assert self.client is not None, "the server is not connected"
        started = time.perf_counter()
        running = self.call_in_progress = CallInProgress(answerers)
        try:
            result = await self.client.call_tool(
                name,
                arguments,
                read_timeout_seconds=self.config.call_timeout,
                progress_callback=running.progress,
                meta=meta,  # type: ignore[arg-type]  # a RequestParamsMeta: a TypedDict that takes any keys
            )
        except (mcp.MCPError, ValidationError, RuntimeError, BaseExceptionGroup) as raised:
            what = self._call_failure(name, first_leaf(raised))
            if what is None:
                raise
            raise ToolServerError(self.describe_failure(what)) from None
        finally:
            self.call_in_progress = None
        text, content = answer_content(result)
        return ToolAnswer(
            text=text,
            content=content,
            structured_content=result.structured_content,
            is_error=bool(result.is_error),
            server=self.label,
            duration_ms=(time.perf_counter() - started) * 1000,
            **running.fields(),
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
        lost = self._lost(f"a call to {name!r}", error)
        if lost is not None:
            return lost
        return (
            f"MCP server {self.label!r} failed during a call to {name!r} with error {error.code}: {error.message} "
            "(a tool's own failures should come back as results with isError: check the server)"
        )

    def _lost(self, request: str, error: mcp.MCPError) -> str | None:
        """When `error` says the connection was lost during `request`, the message that says so; the server is
        marked as crashed."""
        if error.code != CONNECTION_CLOSED:
            return None
        self.crashed = True
        return (
            f"MCP server {self.label!r} failed during {request}: {error.message} (the server exited or dropped the "
            "connection; its stderr or log says why)"
        )

    async def offers(self, method: OfferMethod) -> list[Offer]:
        """What the server offers, listed with `method`, all pages; nothing when it does not declare prompts or
        resources."""
        assert self.client is not None, "the server is not connected"
        client, capabilities = self.client, self.client.server_capabilities
        if (capabilities.prompts if method == "prompts/list" else capabilities.resources) is None:
            return []
        fetch, field = {
            "prompts/list": (client.list_prompts, "prompts"),
            "resources/list": (client.list_resources, "resources"),
            "resources/templates/list": (client.list_resource_templates, "resource_templates"),
        }[method]
        found: list[Offer] = []
        cursors: list[str | None] = [None]
        while cursors[-1] not in cursors[:-1]:  # a server that hands out a cursor twice would list forever
            page = await self._request(method, lambda: fetch(cursor=cursors[-1]))
            found += [Offer.model_validate(item.model_dump(mode="json")) for item in getattr(page, field)]
            if not page.next_cursor:
                break
            cursors.append(page.next_cursor)
        return found

    async def prompt(self, name: str, arguments: dict[str, str]) -> PromptResult:
        """The prompt `name` (`prompts/get`) with `arguments`, each content block kept with its type."""
        assert self.client is not None, "the server is not connected"
        client = self.client
        result = await self._request(f"prompts/get of {name!r}", lambda: client.get_prompt(name, arguments or None))
        messages = [PromptMessage(role=part.role, content=content_block(part.content)) for part in result.messages]
        return PromptResult(server=self.label, description=result.description, messages=messages)

    async def resource(self, uri: str) -> ResourceResult:
        """The contents of the resource at `uri` (`resources/read`), each as an embedded resource block."""
        assert self.client is not None, "the server is not connected"
        client = self.client
        result = await self._request(f"resources/read of {uri!r}", lambda: client.read_resource(uri))
        contents = [content_block(mcp_types.EmbeddedResource(resource=part)) for part in result.contents]
        return ResourceResult(server=self.label, contents=contents)

    async def _request(self, request: str, send: Callable[[], Awaitable[T]]) -> T:
        """The server's result for `request` within call_timeout; a failure as a ToolServerError that says why."""
        try:
            with anyio.fail_after(self.config.call_timeout):
                return await send()
        except TimeoutError:
            what = (
                f"MCP server {self.label!r} did not answer {request} within call_timeout="
                f"{self.config.call_timeout:g}s: raise MCPServer(call_timeout=...), or find out where it hangs"
            )
        except (mcp.MCPError, ValidationError, BaseExceptionGroup) as raised:
            error = first_leaf(raised)
            if isinstance(error, ValidationError):
                what = f"MCP server {self.label!r} sent a result for {request} that is not valid MCP ({problem(error)})"
            elif isinstance(error, mcp.MCPError):
                what = self._lost(request, error) or (
                    f"MCP server {self.label!r} refused {request}: {error.message} (error {error.code})"
                )
            else:
                raise
        raise ToolServerError(self.describe_failure(what))


def _refused_result(error: BaseException, name: str) -> bool:
    """Whether `error` is how the SDK refuses a result of tool `name` that breaks its outputSchema, or whose
    outputSchema is not a valid schema: a plain RuntimeError, told from others by its message (mcp 2.3)."""
    if type(error) is not RuntimeError:
        return False
    message = str(error)
    refusals = (f"Invalid structured content returned by tool {name}: ", f"Invalid schema for tool {name}: ")
    missing = f"Tool {name} has an output schema but did not return structured content"
    return message.startswith(refusals) or message == missing


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
    options = client_options(lambda: server.call_in_progress, config.roots, config.log_level, config.sampling_model)
    server.client = await connection.enter_async_context(mcp.Client(transport, client_info=CLIENT_INFO, **options))
    await ask_for_logs(server.client, config.log_level)
    listed = await server.client.list_tools()
    allowed = set(config.allowed_tools) if config.allowed_tools is not None else None
    task_only = {tool.name for tool in listed.tools if tool.execution and tool.execution.task_support == "required"}
    server.tools = [
        tool for tool in listed.tools if (allowed is None or tool.name in allowed) and tool.name not in task_only
    ]
    _check_allowed(server, allowed, [tool.name for tool in listed.tools])
    _check_tools(server, allowed)
    _check_task_only(server, allowed, task_only)
    server.task_only = sorted(task_only) if allowed is None else []


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
        command = process_group.led([_program(config), *(config.command or [])[1:]])
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


def _http_client(config: MCPServer) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
