"""The model proxy: an OpenAI-compatible endpoint on 127.0.0.1 that an agent under test is pointed at.

Each conversation opens its own address, ``http://127.0.0.1:PORT/<token>/v1``, and a handler that answers its
model calls (Chat Completions and the Responses API)::

    proxy = ModelProxy()
    base_url, token = await proxy.open(handler)
    client = openai.AsyncOpenAI(base_url=base_url, api_key=token)
    ...
    proxy.close(token)
    await proxy.aclose()

The handler always answers whole; a request that asks for a stream gets the answer as server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .sse import chat_events, response_events

Api = Literal["chat", "responses"]
_ROUTES: dict[str, Api] = {"v1/chat/completions": "chat", "v1/responses": "responses"}
_SERVED = "POST /v1/chat/completions and POST /v1/responses"
_HOST = "127.0.0.1"
_GRACE_SECONDS = 5.0
"""How long stopping the server waits for requests still being answered."""
_JSON = "application/json"


NO_RETRY = "x-should-retry"
"""The header that tells the `openai` SDK (and the frameworks built on it) not to retry an error answer."""


@dataclass(frozen=True)
class ProxyReply:
    """A handler's answer: the HTTP status and the JSON body (a chat completion, a Responses API response, or
    ``{"error": {"message": ...}}``), always whole, even for a request that asks for a stream."""

    status: int
    body: dict[str, Any]


ProxyHandler = Callable[[Api, dict[str, Any]], Awaitable[ProxyReply]]
"""Answers one model call of a conversation: the API (``"chat"`` or ``"responses"``) and the request body."""


@dataclass(frozen=True)
class _Answer:
    status: int
    content: bytes
    media_type: str = _JSON


class ModelProxy:
    """One per run; serves many conversations, each under its own token.

    The server starts on the first :meth:`open`, on the event loop that calls it, and serves requests concurrently.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, ProxyHandler] = {}
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0
        self._starting = asyncio.Lock()

    async def open(self, handler: ProxyHandler) -> tuple[str, str]:
        """Register a conversation, starting the server on first use; its ``(base_url, token)``.

        ``base_url`` (``http://127.0.0.1:PORT/<token>/v1``) is what the agent's ``OPENAI_BASE_URL`` is set to;
        ``token`` is what it may send as its API key.
        """
        async with self._starting:
            if self._task is None:
                await self._start()
        token = secrets.token_hex(16)
        self._handlers[token] = handler
        return f"http://{_HOST}:{self._port}/{token}/v1", token

    def close(self, token: str) -> None:
        """Forget a conversation: later requests for it get a 404."""
        self._handlers.pop(token, None)

    async def aclose(self) -> None:
        """Stop the server and close its port; waits a little for requests still being answered."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        await task

    async def _start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
        sock.bind((_HOST, 0))
        server = _uvicorn_server(self._asgi())
        task = asyncio.create_task(server.serve(sockets=[sock]), name="aitest-bdd model proxy")
        try:
            while not server.started and not task.done():
                await asyncio.sleep(0.005)
            if not server.started:
                await task  # raises what stopped it
                raise RuntimeError("aitest-bdd's model proxy stopped as it started")
        except BaseException:
            task.cancel()
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._server, self._task = server, task

    def _asgi(self) -> Callable[..., Awaitable[None]]:
        from starlette.requests import Request
        from starlette.responses import Response

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            request = Request(scope, receive)
            answer = await self._answer(request.method, scope["path"], await request.body())
            headers = {"Cache-Control": "no-cache"} if answer.media_type != _JSON else {}
            if answer.status >= 400:  # aitest-bdd's own client has retried already (Provider(max_retries=...))
                headers[NO_RETRY] = "false"
            response = Response(answer.content, answer.status, headers, answer.media_type)
            await response(scope, receive, send)

        return app

    async def _answer(self, method: str, path: str, raw: bytes) -> _Answer:
        """The answer to one request: routed by the token in its path, then by the API."""
        token, _, rest = path.strip("/").partition("/")
        handler = self._handlers.get(token)
        if handler is None:
            return _error(404, "no conversation is served at this address: it has ended, or the URL is wrong")
        api = _ROUTES.get(rest.rstrip("/"))
        if api is None or method != "POST":
            return _error(404, f"aitest-bdd's model proxy serves {_SERVED}, not {method} /{rest}")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        try:
            reply = await handler(api, body)
            if reply.status != 200 or body.get("stream") is not True:
                return _Answer(reply.status, json.dumps(reply.body).encode())
            if api == "responses":
                return _Answer(200, response_events(reply.body), "text/event-stream")
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return _Answer(200, chat_events(reply.body, include_usage), "text/event-stream")
        except Exception as exc:
            return _error(500, f"aitest-bdd's model proxy failed: {type(exc).__name__}: {exc}")


def _error(status: int, message: str) -> _Answer:
    """An error in OpenAI's shape."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    error = {"message": message, "type": kind, "param": None, "code": None}
    return _Answer(status, json.dumps({"error": error}).encode())


def _uvicorn_server(app: Callable[..., Awaitable[None]]) -> Any:
    """A quiet uvicorn server for `app` that leaves the process's signal handlers and logging alone."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="off",
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=_GRACE_SECONDS,
    )
    return Server(config)
