"""Whole answers as the server-sent events of a stream: a chat completion as `chat.completion.chunk` chunks, a
Responses API response as the Responses API's events, each ready to send as the body of a `text/event-stream`."""

from __future__ import annotations

import json
import re
from typing import Any

_FINAL_EVENTS = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
_CHUNK_HEAD = ("id", "created", "model", "system_fingerprint", "service_tier")


def _pieces(text: str) -> list[str]:
    """A text cut into the pieces a stream sends: a word each, with the space after it."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def chat_events(completion: dict[str, Any], include_usage: bool = True) -> bytes:
    """A chat completion as the chunks of a stream: for each choice the role, the text a word at a time, the refusal,
    each tool call (its name, then its arguments) and the finish reason; with `include_usage` a last chunk with the
    usage and no choices; then `[DONE]`."""
    head = {key: completion[key] for key in _CHUNK_HEAD if key in completion} | {"object": "chat.completion.chunk"}
    chunks: list[dict[str, Any]] = []
    for position, choice in enumerate(completion.get("choices") or []):
        index = choice.get("index", position)
        message = choice.get("message") or {}
        deltas: list[dict[str, Any]] = [{"role": "assistant"}]
        deltas += [{"content": piece} for piece in _pieces(message.get("content") or "")]
        if message.get("refusal"):
            deltas.append({"refusal": message["refusal"]})
        for call_index, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            named = {"index": call_index, "id": call.get("id"), "type": call.get("type", "function")}
            deltas.append({"tool_calls": [named | {"function": {"name": function.get("name"), "arguments": ""}}]})
            arguments = {"index": call_index, "function": {"arguments": function.get("arguments") or ""}}
            deltas.append({"tool_calls": [arguments]})
        chunks += [head | {"choices": [{"index": index, "delta": delta, "finish_reason": None}]} for delta in deltas]
        finish = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason"), "logprobs": None}
        chunks.append(head | {"choices": [finish]})
    if include_usage:
        chunks.append(head | {"choices": [], "usage": completion.get("usage")})
    return b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks) + b"data: [DONE]\n\n"


def response_events(response: dict[str, Any]) -> bytes:
    """A Responses API response as the events of a stream: created and in progress; for each output item its
    addition, its text (a word at a time), refusal, arguments or reasoning summary, and its completion; then the
    response completed (or incomplete, or failed) whole."""
    started = response | {"status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(response.get("output") or []):
        events += _item_events(index, item)
    final = _FINAL_EVENTS.get(response.get("status") or "", "response.completed")
    events.append({"type": final, "response": response})
    return b"".join(
        f"event: {event['type']}\ndata: {json.dumps(event | {'sequence_number': number})}\n\n".encode()
        for number, event in enumerate(events)
    )


def _item_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of output item number `index`: added (without its text), the deltas of its text, done."""
    where = {"item_id": item.get("id"), "output_index": index}
    kind = item.get("type")
    events: list[dict[str, Any]] = []
    if kind == "message":
        events.append(_added(index, item | {"status": "in_progress", "content": []}))
        for part_index, part in enumerate(item.get("content") or []):
            events += _part_events(part, where | {"content_index": part_index})
    elif kind == "function_call":
        events.append(_added(index, item | {"status": "in_progress", "arguments": ""}))
        arguments = item.get("arguments") or ""
        events.append({"type": "response.function_call_arguments.delta", "delta": arguments} | where)
        events.append({"type": "response.function_call_arguments.done", "arguments": arguments} | where)
    elif kind == "reasoning":
        events.append(_added(index, item | {"summary": []}))
        for summary_index, part in enumerate(item.get("summary") or []):
            at = where | {"summary_index": summary_index}
            text = part.get("text") or ""
            empty = part | {"text": ""}
            events.append({"type": "response.reasoning_summary_part.added", "part": empty} | at)
            events += [
                {"type": "response.reasoning_summary_text.delta", "delta": piece} | at for piece in _pieces(text)
            ]
            events.append({"type": "response.reasoning_summary_text.done", "text": text} | at)
            events.append({"type": "response.reasoning_summary_part.done", "part": part} | at)
    else:
        events.append(_added(index, item))
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def _added(index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def _part_events(part: dict[str, Any], at: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of one content part of a message: added empty, its text or refusal in deltas, done."""
    if part.get("type") == "refusal":
        refusal = part.get("refusal") or ""
        return [
            {"type": "response.content_part.added", "part": part | {"refusal": ""}} | at,
            {"type": "response.refusal.delta", "delta": refusal} | at,
            {"type": "response.refusal.done", "refusal": refusal} | at,
            {"type": "response.content_part.done", "part": part} | at,
        ]
    text = part.get("text") or ""
    return [
        {"type": "response.content_part.added", "part": part | {"text": ""}} | at,
        *({"type": "response.output_text.delta", "delta": piece, "logprobs": []} | at for piece in _pieces(text)),
        {"type": "response.output_text.done", "text": text, "logprobs": []} | at,
        {"type": "response.content_part.done", "part": part} | at,
    ]
