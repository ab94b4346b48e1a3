"""The agent's tool loop on OpenAI's Responses API: the history as Responses input items, and a response as the chat
completion the loop reads.

A conversation keeps one history, in Chat Completions messages, whatever API its agent speaks; an agent on
`Provider(api="responses")` sends it converted, and its answers come back converted. Each request holds the whole
history and asks the provider to keep nothing (`store: false`), rather than naming the previous response
(`previous_response_id`): a request then holds all its answer depends on, so a recording replays it and a live run
leaves no state behind. The reasoning items a reasoning model returns ride on the assistant message in the history
(`REASONING_ITEMS`) and go back with the next requests, with the encrypted content that stands for them when the
provider keeps nothing.
"""

from __future__ import annotations

from typing import Any

from ..errors import TurnError
from .tool_messages import Message

RESPONSES_PATH = "/responses"
REASONING_ITEMS = "reasoning_items"
"""On an assistant message: the reasoning items that came with it, to send back with the history."""
REASONING_SUMMARY = "reasoning_summary"
"""On a converted chat completion's message: the summary of the model's reasoning, when the API returned one."""
_ENCRYPTED_REASONING = "reasoning.encrypted_content"
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
"""Why a response is incomplete, as the finish reason a chat completion gives."""


def responses_body(chat: dict[str, Any]) -> dict[str, Any]:
    """The Responses request for the Chat Completions request body `chat` (model, messages, tools, tool_choice,
    temperature, max_tokens, reasoning_effort)."""
    body: dict[str, Any] = {"model": chat["model"], "input": input_items(chat["messages"]), "store": False}
    if chat.get("tools"):
        body["tools"] = [function_tool(tool) for tool in chat["tools"]]
        body["tool_choice"] = chat.get("tool_choice", "auto")
    if "temperature" in chat:
        body["temperature"] = chat["temperature"]
    if "max_tokens" in chat:
        body["max_output_tokens"] = chat["max_tokens"]
    if "reasoning_effort" in chat:
        body["reasoning"] = {"effort": chat["reasoning_effort"], "summary": "auto"}
        body["include"] = [_ENCRYPTED_REASONING]
    return body


def function_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions function tool as a Responses function tool. MCP input schemas seldom meet the strict
    mode's rules (every property required, no additional properties), so it is off, as on Chat Completions."""
    function = tool["function"]
    return {
        "type": "function",
        "name": function["name"],
        "description": function.get("description") or "",
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        "strict": False,
    }


def input_items(messages: list[Message]) -> list[dict[str, Any]]:
    """The history as Responses input items: messages, an assistant's reasoning items and function calls, and the
    function call outputs that answer them."""
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": message["tool_call_id"], "output": message["content"]}
            )
        elif role == "assistant":
            items.extend(item for item in message.get(REASONING_ITEMS, []) if item.get("encrypted_content"))
            if message.get("content"):
                items.append({"role": "assistant", "content": message["content"]})
            items.extend(
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                }
                for call in message.get("tool_calls") or []
            )
        else:
            items.append({"role": role, "content": _input_content(message.get("content"))})
    return items


def _input_content(content: Any) -> Any:
    """A message's content as Responses input: text as it is, chat content parts as input parts."""
    if not isinstance(content, list):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") == "image_url":
            parts.append({"type": "input_image", "image_url": part["image_url"]["url"], "detail": "auto"})
        else:
            parts.append({"type": "input_text", "text": part.get("text", "")})
    return parts


def chat_completion(data: Any) -> dict[str, Any]:
    """A Responses API response (JSON) as a chat completion: its text, refusal and function calls as one assistant
    message, its reasoning items and summary beside them, its status as a finish reason, its usage in chat terms.

    It is read as the SDK reads it, leniently: a field a provider leaves out counts as empty. A ValueError when
    `data` is not a response; a TurnError when the response says the request failed."""
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise ValueError("it has no 'output' list of items")
    if data.get("status") == "failed":
        error = data.get("error") or {}
        raise TurnError(
            f"model {data.get('model')!r} failed to answer: {error.get('message') or 'no reason given'} "
            f"({error.get('code') or 'status failed'})"
        )
    texts, refusals, calls, reasoning, summary = [], [], [], [], []
    for item in data["output"]:
        kind = item.get("type")
        if kind == "message":
            parts = item.get("content") or []
            texts += [part.get("text") or "" for part in parts if part.get("type") == "output_text"]
            refusals += [part.get("refusal") or "" for part in parts if part.get("type") == "refusal"]
        elif kind == "function_call":
            function = {"name": item["name"], "arguments": item.get("arguments") or ""}
            calls.append({"id": item["call_id"], "type": "function", "function": function})
        elif kind == "reasoning":
            reasoning.append({key: value for key, value in item.items() if value is not None})
            summary += [part.get("text") or "" for part in item.get("summary") or []]
    content = "".join(texts) if texts else (None if calls or refusals else "")
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": "".join(refusals) or None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message[REASONING_ITEMS] = reasoning
    if summary:
        message[REASONING_SUMMARY] = "\n\n".join(summary)
    reason = (data.get("incomplete_details") or {}).get("reason")
    finish = _INCOMPLETE.get(reason or "", "tool_calls" if calls else "stop")
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    return {
        "id": data.get("id") or "",
        "object": "chat.completion",
        "created": int(data.get("created_at") or 0),
        "model": data.get("model") or "",
        "choices": [choice],
        "usage": _chat_usage(data.get("usage")),
    }


def _chat_usage(usage: Any) -> dict[str, Any] | None:
    """Responses usage in Chat Completions terms, with the reasoning and cached tokens."""
    if not isinstance(usage, dict):
        return None
    return {
        "prompt_tokens": usage.get("input_tokens") or 0,
        "completion_tokens": usage.get("output_tokens") or 0,
        "total_tokens": usage.get("total_tokens") or 0,
        "completion_tokens_details": {
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
        },
        "prompt_tokens_details": {"cached_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0},
    }


def carried(message: Any) -> dict[str, Any]:
    """What an assistant message of the history keeps of a converted reply `message` besides its text and tool
    calls: its reasoning items."""
    items = (message.model_extra or {}).get(REASONING_ITEMS)
    return {REASONING_ITEMS: items} if items else {}


def reasoning_summary(message: Any) -> str | None:
    """The summary of the model's reasoning on a converted reply `message`, or None."""
    return (message.model_extra or {}).get(REASONING_SUMMARY)
