"""Streamed model requests: the events put back together as the answer the request would get without streaming, with
the time its first reply token took.

The answer is the JSON a request without streaming gets (a chat completion, or a Responses API response), with
`FIRST_TOKEN_MS` added: so it is recorded, and replayed, like any answer, and a replay keeps the recorded time.
"""

from __future__ import annotations

import time
from typing import Any

import openai

FIRST_TOKEN_MS = "aitest_first_token_ms"
"""On a streamed answer: milliseconds from sending the request to the first token of the reply (text, refusal or
tool call), None when it had none."""
CHAT_PATH = "/chat/completions"
_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")
_REPLY_DELTAS = ("response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta")


async def streamed(client: openai.AsyncOpenAI, path: str, body: dict[str, Any], options: Any) -> dict[str, Any]:
    """Send `body` to `path` (Chat Completions, or the Responses API) streamed, and return the whole answer.

    A ValueError when the stream breaks off or is not made of the API's events."""
    chat = path == CHAT_PATH
    body = body | ({"stream": True, "stream_options": {"include_usage": True}} if chat else {"stream": True})
    started = time.perf_counter()
    stream = await client.post(
        path, body=body, cast_to=object, stream=True, stream_cls=openai.AsyncStream[object], options=options
    )
    answer = _ChatChunks() if chat else _ResponseEvents()
    first: float | None = None
    try:
        async for event in stream:
            if not isinstance(event, dict):
                raise ValueError(f"a streamed event is not a JSON object: {event!r:.200}")
            if answer.add(event) and first is None:
                first = (time.perf_counter() - started) * 1000
    finally:
        await stream.close()
    return answer.whole() | {FIRST_TOKEN_MS: first}


class _ChatChunks:
    """Chat completion chunks, gathered into a chat completion: the first choice's text, refusal and tool calls (each
    call's pieces by its index), its finish reason, and the usage of the last chunk."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.choices = False

    def add(self, chunk: dict[str, Any]) -> bool:
        """Take one chunk; whether it holds a token of the reply."""
        self.head = self.head or {key: chunk.get(key) for key in ("id", "created", "model")}
        self.usage = chunk.get("usage") or self.usage
        token = False
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            self.choices = True
            delta = choice.get("delta") or {}
            self.content.append(delta.get("content") or "")
            self.refusal.append(delta.get("refusal") or "")
            for piece in delta.get("tool_calls") or []:
                empty = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                call = self.calls.setdefault(piece.get("index", 0), empty)
                function = piece.get("function") or {}
                call["id"] = piece.get("id") or call["id"]
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            token = token or bool(delta.get("content") or delta.get("refusal") or delta.get("tool_calls"))
        return token

    def whole(self) -> dict[str, Any]:
        if not self.head:
            raise ValueError("the stream ended before its first chunk")
        content, refusal = "".join(self.content), "".join(self.refusal)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content if content or not (self.calls or refusal) else None,
            "refusal": refusal or None,
        }
        if self.calls:
            message["tool_calls"] = [call for _, call in sorted(self.calls.items())]
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason, "logprobs": None}
        return {
            "id": self.head.get("id") or "",
            "object": "chat.completion",
            "created": self.head.get("created") or 0,
            "model": self.head.get("model") or "",
            "choices": [choice] if self.choices else [],
            "usage": self.usage,
        }


class _ResponseEvents:
    """Responses API events: the response of the last one (`response.completed`, `.incomplete` or `.failed`)."""

    def __init__(self) -> None:
        self.response: dict[str, Any] | None = None

    def add(self, event: dict[str, Any]) -> bool:
        """Take one event; whether it holds a token of the reply."""
        kind = event.get("type")
        if kind == "error":
            raise ValueError(f"the stream sent an error: {event.get('message') or event}")
        if kind in _FINAL_EVENTS:
            self.response = event.get("response")
        added_call = kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call"
        return kind in _REPLY_DELTAS or added_call

    def whole(self) -> dict[str, Any]:
        if not isinstance(self.response, dict):
            raise ValueError("the stream ended before the response was complete")
        return self.response
