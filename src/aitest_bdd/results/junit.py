"""Per-test properties for JUnit XML: a scenario's place, models, turns, tool calls, tokens and cost."""

from __future__ import annotations

from .schema import TestResult


def junit_properties(result: TestResult) -> list[tuple[str, str]]:
    """The `aitest_*` properties of one test (cost only when every turn's price is known)."""
    turns = [turn for conversation in result.conversations for turn in conversation.turns]
    costs = [turn.cost_usd for turn in turns]
    properties = [
        ("aitest_model", ", ".join(result.models)),
        ("aitest_turns", str(len(turns))),
        ("aitest_tool_calls", str(result.tool_call_count)),
        ("aitest_tokens", str(result.usage.total_tokens)),
    ]
    if turns and None not in costs:
        properties.append(("aitest_cost_usd", f"{sum(c for c in costs if c is not None):.6f}"))
    return properties


def location_properties(file: str, line: int) -> list[tuple[str, str]]:
    """`aitest_file` and `aitest_line` (1-based): where a scenario is, also in the default xunit2 format, which
    drops the `file` and `line` attributes of each testcase."""
    return [("aitest_file", file), ("aitest_line", str(line))]
