"""The tool calls of an agent that aitest-bdd does not run, read from its model calls through the model proxy.

A model's reply asks for tool calls; the agent's next request carries their results (chat `tool` messages, or
Responses `function_call_output` items). A result reads as failed when its text starts with "Error:", "Error
executing" or "An error occurred" (any case), or it is a JSON object with `"isError": true` (or `"is_error"`), as
agents commonly report a failed tool to their model.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from openai.types.chat import ChatCompletion

from ..unicode import valid_data, valid_text
from .trace_context import new_span_id
from .turns import OfferedTool, ToolCall

_FAILED = re.compile(r"\s*(error\s*:|error executing\b|an error occurred\b)", re.IGNORECASE)


def reads_as_failure(text: str) -> bool:
    """Whether a tool result, as the agent gave it to its model, says that the call failed."""
    if _FAILED.match(text):
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and (data.get("isError") is True or data.get("is_error") is True)


def _text(content: Any) -> str:
    """A message's content as text: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else json.dumps(content)


def _results(api: Literal["chat", "responses"], body: dict[str, Any]) -> dict[str, str]:
    """The tool results a request carries, by call id."""
    if api == "chat":
        messages = body.get("messages") or []
        return {
            str(message.get("tool_call_id")): _text(message.get("content"))
            for message in messages
            if isinstance(message, dict) and message.get("role") == "tool"
        }
    items = body.get("input")
    return {
        str(item.get("call_id")): _text(item.get("output"))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    }


def offered_tools(api: Literal["chat", "responses"], body: dict[str, Any]) -> list[OfferedTool]:
    """The function tools a request offers the model (chat: `{"type": "function", "function": {...}}`; Responses:
    `{"type": "function", "name": ...}`), with no server: the agent's own tools."""
    offered = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        function = tool.get("function") if api == "chat" else tool
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        parameters = function.get("parameters")
        offered.append(
            OfferedTool(
                name=function["name"],
                description=function.get("description") or "",
                parameters=parameters if isinstance(parameters, dict) else None,
            ).keyed()
        )
    return offered


class ObservedTools:
    """The tool calls of a conversation's turns, in the order the model asked for them, with the results the agent
    sent back: in the same turn, or in the next turn's first request."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        """The current turn's calls."""
        self._waiting: dict[str, tuple[ToolCall, float]] = {}
        """The calls still waiting for their results, by id, with when they were asked for (perf_counter)."""

    def start_turn(self) -> list[ToolCall]:
        """A new turn: the list its calls will be added to."""
        self.calls = []
        return self.calls

    def request(self, api: Literal["chat", "responses"], body: dict[str, Any]) -> None:
        """Take the results of waiting calls from the agent's next request."""
        for call_id, result in _results(api, body).items():
            if call_id in self._waiting:
                call, asked = self._waiting.pop(call_id)
                call.result_text = valid_text(result)
                call.is_error = reads_as_failure(call.result_text)
                call.duration_ms = (time.perf_counter() - asked) * 1000

    def response(self, completion: ChatCompletion, started_ms: float | None = None) -> None:
        """Note the tool calls the model asked for."""
        for asked in completion.choices[0].message.tool_calls or [] if completion.choices else []:
            raw = asked.function.arguments or ""
            try:
                arguments = json.loads(raw) if raw.strip() else {}
            except ValueError:
                arguments = None
            call = ToolCall(id=asked.id, name=asked.function.name, raw_arguments=raw, started_ms=started_ms)
            if started_ms is not None:
                call.span_id = new_span_id()
            if isinstance(arguments, dict):
                call.arguments = valid_data(arguments)
            self.calls.append(call)
            self._waiting[asked.id] = (call, time.perf_counter())
