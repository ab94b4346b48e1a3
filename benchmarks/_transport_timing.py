"""Round trips timed at the transports: model requests at the HTTP transport, MCP requests at the stdio streams.

`install()` wraps every `httpx2.AsyncHTTPTransport` (the pool the sessions post model requests through)
and the plugin's MCP transports, and returns the log both write to. An HTTP round trip runs from handing
the request to the transport to having read the response body; an MCP round trip from writing a request
to the client's stream to reading the answer with the same id from it (the SDK's JSON encoding and
decoding of the stdio lines are inside it, as in any loop over the SDK).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TransportLog:
    """Round trips in milliseconds, in the order they finished."""

    http: list[float] = field(default_factory=list)
    mcp: list[float] = field(default_factory=list)


class _TimedWrite:
    """A write stream that notes when each request leaves."""

    def __init__(self, stream: Any, sent: dict[Any, float]) -> None:
        self._stream = stream
        self._sent = sent

    async def send(self, item: Any) -> None:
        import mcp_types  # the mcp SDK, loaded only where a server is used

        message = getattr(item, "message", None)
        if isinstance(message, mcp_types.JSONRPCRequest):
            self._sent[message.id] = time.perf_counter()
        await self._stream.send(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def __aenter__(self) -> _TimedWrite:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> Any:
        return await self._stream.__aexit__(*exc_info)


class _TimedRead:
    """A read stream that logs each answer's round trip."""

    def __init__(self, stream: Any, sent: dict[Any, float], log: list[float]) -> None:
        self._stream = stream
        self._sent = sent
        self._log = log

    async def receive(self) -> Any:
        received = await self._stream.receive()
        message = getattr(received, "message", None)
        if message is not None and not hasattr(message, "method"):  # an answer, not the server's own request
            started = self._sent.pop(getattr(message, "id", None), None)
            if started is not None:
                self._log.append((time.perf_counter() - started) * 1000)
        return received

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __aiter__(self) -> _TimedRead:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _TimedRead:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> Any:
        return await self._stream.__aexit__(*exc_info)


def install() -> TransportLog:
    """Time model requests and MCP requests at their transports from now on, in this process."""
    import httpx2

    from aitest_bdd.tools import servers

    log = TransportLog()
    if not hasattr(servers, "_transport"):
        raise SystemExit("aitest_bdd.tools.servers._transport is gone: update benchmarks/_transport_timing.py")
    send = httpx2.AsyncHTTPTransport.handle_async_request

    async def timed_send(self: httpx2.AsyncHTTPTransport, request: httpx2.Request) -> httpx2.Response:
        started = time.perf_counter()
        response = await send(self, request)
        await response.aread()
        log.http.append((time.perf_counter() - started) * 1000)
        return response

    open_transport = servers._transport

    @asynccontextmanager
    async def timed(transport: Any) -> AsyncIterator[tuple[Any, Any]]:
        async with transport as (read_stream, write_stream):
            sent: dict[Any, float] = {}
            yield _TimedRead(read_stream, sent, log.mcp), _TimedWrite(write_stream, sent)

    httpx2.AsyncHTTPTransport.handle_async_request = timed_send  # type: ignore[method-assign]
    servers._transport = lambda config, errlog: timed(open_transport(config, errlog))
    return log
