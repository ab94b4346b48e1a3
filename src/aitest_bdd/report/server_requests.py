"""What the reports say about what MCP servers asked during tool calls, and about the tools they run only as tasks."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..conversation.turns import Conversation, ToolCall
from ..results.schema import TestResult

LEFT_OUT = {"progress": "progress notifications", "logs": "log messages"}


def task_only_tools(conversations: Iterable[Conversation]) -> dict[str, list[str]]:
    """By server, the tools not offered because they run only as MCP tasks."""
    return {server: tools for conversation in conversations for server, tools in conversation.task_only_tools.items()}


def task_only_lines(found: dict[str, list[str]]) -> list[str]:
    """One note per server: which of its tools were not offered, and why."""
    return [
        f"server {server}: {len(tools)} tool(s) that run only as MCP tasks are not offered: {', '.join(tools)}"
        for server, tools in sorted(found.items())
    ]


def asked(call: ToolCall) -> list[str]:
    """What the server asked during `call`, and what it was answered, one line each; and what it sent beyond what
    a call keeps."""
    lines = []
    for question in call.elicitations:
        answer = f"{question.action} {json.dumps(question.content, ensure_ascii=False)}" if question.content else ""
        lines.append(f"{call.name} asked the user: {question.message} → answered {answer or question.action}")
    for sampling in call.samplings:
        what = sampling.problem or f"{sampling.total_tokens:,} tokens: {sampling.text}"
        lines.append(f"{call.name} sampling: {sampling.model}, {what}")
    if call.left_out:
        sent = " and ".join(f"{count:,} {LEFT_OUT[kind]}" for kind, count in sorted(call.left_out.items()))
        lines.append(f"{call.name}: {sent} more than a call keeps were left out")
    return lines


def asked_in(test: TestResult) -> list[str]:
    """What MCP servers asked during the test's tool calls."""
    return [line for conversation in test.conversations for call in conversation.tool_calls for line in asked(call)]
