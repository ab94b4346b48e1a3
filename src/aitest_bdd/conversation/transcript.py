"""Compact, readable transcripts of turns, for failure messages."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .turns import Turn

EXCERPT_CHARS = 300


def cut(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text`, cut to `limit` characters with a marker that says how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text) - limit} more characters]"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def format_turn(turn: Turn, *, show_error: bool = True, tools: bool = True) -> str:
    """One turn: the user message, each tool call with arguments and a result excerpt (unless not `tools`), the
    reply."""
    lines = [f"Turn {turn.number}"]
    lines += [f"  resource in the context: {resource.uri} ({resource.server})" for resource in turn.resources]
    if turn.prompt:
        arguments = f" {_json(turn.prompt.arguments)}" if turn.prompt.arguments else ""
        lines.append(f"  prompt: {turn.prompt.name}{arguments} ({turn.prompt.server})")
    lines.append(f"  user: {cut(turn.user_message)}")
    if turn.hidden_tool_calls and tools:
        lines.append("  tool calls: not exposed by this agent")
    for call in turn.tool_calls if tools else []:
        marker = "error" if call.is_error else "result"
        arguments = _json(call.arguments) if call.arguments or not call.raw_arguments else call.raw_arguments
        lines.append(f"  tool call: {call.name}({cut(arguments)})" + (" [stubbed]" if call.stubbed else ""))
        lines.append(f"    {marker}: {cut(' '.join(call.result_text.split()))}")
    if turn.error:
        lines.append(f"  turn failed: {turn.error}" if show_error else "  turn failed (see above)")
    else:
        lines.append(f"  assistant: {cut(turn.final_response) if turn.final_response else '(empty reply)'}")
    return "\n".join(lines)


def format_turns(turns: Iterable[Turn], *, tools: bool = True) -> str:
    """Several turns, one after another (with their tool calls, unless not `tools`)."""
    text = "\n".join(format_turn(turn, tools=tools) for turn in turns)
    return text or "(no turns)"
