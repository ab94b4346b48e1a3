"""What an MCP server sends, made readable before the SDK reads it.

The SDK drops a message whose JSON escapes a lone surrogate (`"\\ud800"`, as a server that cuts text
inside a UTF-16 pair sends it): the request it answers would wait out its timeout. Such a message is
parsed again here, with each lone surrogate replaced by U+FFFD. And the SDK refuses a whole tool list
when one tool's definition is not valid MCP: such tools are taken out of the list here and kept, with
what is wrong with them, for the connection to report by name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Self

import anyio
import mcp_types
from mcp.client import Transport
from mcp.shared.message import SessionMessage
from mcp_types.methods import validate_server_result
from pydantic import ValidationError

from ..errors import problem
from ..unicode import valid_data

Received = SessionMessage | Exception


@asynccontextmanager
async def checked(
    transport: Transport, invalid_tools: dict[str, str], version: Callable[[], str | None]
) -> AsyncIterator[tuple[CheckedStream, Any]]:
    """`transport`, whose received messages are repaired or checked; `invalid_tools` gets each tool taken out.

    Tool definitions are checked against the protocol version agreed on, which `version` gives once known.
    """
    async with transport as (read_stream, write_stream):
        yield CheckedStream(read_stream, invalid_tools, version), write_stream


class CheckedStream:
    """A transport's read stream (the SDK's `ReadStream` protocol) that repairs or checks each message."""

    def __init__(self, stream: Any, invalid_tools: dict[str, str], version: Callable[[], str | None]) -> None:
        self._stream = stream
        self._invalid_tools = invalid_tools
        self._version = version

    @property
    def last_context(self) -> Any:
        """The sender's context of the last message, for the SDK (only some transports have one)."""
        return getattr(self._stream, "last_context", None)

    async def receive(self) -> Received:
        received = await self._stream.receive()
        if isinstance(received, ValidationError):
            return _reparsed(received)
        if isinstance(received, Exception):
            return received
        if isinstance(received.message, mcp_types.JSONRPCResponse):
            return self._without_invalid_tools(received)
        return received

    async def aclose(self) -> None:
        await self._stream.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Received:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _without_invalid_tools(self, received: SessionMessage) -> SessionMessage:
        """A tool list without the tools whose definitions are not valid MCP (noted in `invalid_tools`)."""
        response = received.message
        assert isinstance(response, mcp_types.JSONRPCResponse)
        tools, version = response.result.get("tools"), self._version()
        if not isinstance(tools, list) or version is None:
            return received
        valid = []
        for number, tool in enumerate(tools, start=1):
            try:
                validate_server_result("tools/list", version, {**response.result, "tools": [tool]})
            except ValidationError as error:
                wrong = problem(error, within=("tools", 0))
                if wrong is None:  # the list itself is wrong, not this tool: the SDK will say so
                    return received
                name = tool.get("name") if isinstance(tool, dict) else None
                self._invalid_tools[name if isinstance(name, str) else f"#{number}"] = wrong
                continue
            except (KeyError, ValueError):  # a protocol version this SDK does not know: the SDK will say so
                return received
            valid.append(tool)
        if len(valid) == len(tools):
            return received
        result = {**response.result, "tools": valid}
        return SessionMessage(response.model_copy(update={"result": result}), metadata=received.metadata)


def _reparsed(error: ValidationError) -> Received:
    """The message that failed to parse, parsed again with lone surrogates replaced; else the error itself."""
    first = error.errors(include_url=False)[0]
    if first["type"] != "json_invalid" or not isinstance(first.get("input"), str | bytes):
        return error
    try:
        data = json.loads(first["input"], parse_constant=_refuse)
        return SessionMessage(mcp_types.jsonrpc_message_adapter.validate_python(valid_data(data), by_name=False))
    except ValueError:  # still not JSON, or not JSON-RPC
        return error


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")
