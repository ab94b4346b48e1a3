"""Two runs compared scenario by scenario: verdicts, pass rates with exact tests, trajectories, tokens, cost, time.

Scenarios are paired by node id. Pairs that ran once in both runs are compared together with the exact
McNemar test; a scenario with repeated attempts in either run is compared on its own with Fisher's exact
test, and those tests are corrected for their number (Holm). The overall verdict is a `regression` or an
`improvement` only when a test says so at `SIGNIFICANCE`; changes the tests cannot tell from chance are
`not enough evidence`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from ..stats.comparison import fisher_exact, mcnemar_exact
from .schema import RunResults, TestResult

SIGNIFICANCE = 0.05
Overall = Literal["regression", "improvement", "no change", "not enough evidence"]


@dataclass(frozen=True)
class Outcome:
    """A scenario's attempts in one run."""

    passed: int
    attempts: int

    @classmethod
    def of(cls, test: TestResult) -> Outcome:
        if test.verdict is not None:
            return cls(test.verdict.passed, test.verdict.attempts)
        return cls(int(test.status == "passed"), 1)

    @property
    def rate(self) -> float:
        return self.passed / self.attempts


@dataclass
class ScenarioChange:
    """One scenario in both runs."""

    nodeid: str
    base_status: str
    new_status: str
    base: Outcome
    new: Outcome
    p_value: float | None = None
    """Fisher's exact test, Holm-corrected, for a scenario with repeated attempts; None for single attempts."""
    trajectory: str | None = None
    """The first turn whose tool calls changed, in words."""
    tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE


@dataclass
class Comparison:
    """What changed from the base run to the new one, and whether it is more than chance."""

    changes: list[ScenarioChange]
    only_in_base: list[str]
    only_in_new: list[str]
    paired: int = 0
    """Scenarios that ran once in both runs: they are compared together, with the McNemar test."""
    base_only_passed: int = 0
    new_only_passed: int = 0
    mcnemar_p: float = 1.0
    overall: Overall = "no change"
    tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0

    @property
    def evidence(self) -> str:
        """What the overall verdict rests on, in words."""
        parts = []
        if self.paired:
            parts.append(
                f"{self.paired} ran once in both runs: {self.base_only_passed} passed only before, "
                f"{self.new_only_passed} only now (exact McNemar p = {self.mcnemar_p:.3g})"
            )
        repeated = [change for change in self.changes if change.p_value is not None]
        if repeated:
            worse = sum(change.significant and change.new.rate < change.base.rate for change in repeated)
            better = sum(change.significant and change.new.rate > change.base.rate for change in repeated)
            parts.append(
                f"{len(repeated)} repeated: {worse} significantly worse, {better} significantly better "
                "(Fisher's exact test, Holm's correction)"
            )
        return "; ".join([*parts, f"significant below p = {SIGNIFICANCE}"])

    @property
    def changed(self) -> list[ScenarioChange]:
        """The scenarios whose verdict, pass rate or tool calls changed."""
        return [
            change
            for change in self.changes
            if change.base_status != change.new_status or change.base.rate != change.new.rate or change.trajectory
        ]


def compare(base: RunResults, new: RunResults) -> Comparison:
    """Pair the runs' tests by node id and compare them."""
    base_tests = {test.nodeid: test for test in base.tests if test.status != "skipped"}
    new_tests = {test.nodeid: test for test in new.tests if test.status != "skipped"}
    changes = [_change(base_tests[nodeid], new_tests[nodeid]) for nodeid in base_tests if nodeid in new_tests]
    comparison = Comparison(
        changes=changes,
        only_in_base=[nodeid for nodeid in base_tests if nodeid not in new_tests],
        only_in_new=[nodeid for nodeid in new_tests if nodeid not in base_tests],
    )
    single = [change for change in changes if change.base.attempts == change.new.attempts == 1]
    comparison.paired = len(single)
    comparison.base_only_passed = sum(change.base.passed > change.new.passed for change in single)
    comparison.new_only_passed = sum(change.new.passed > change.base.passed for change in single)
    comparison.mcnemar_p = mcnemar_exact(comparison.base_only_passed, comparison.new_only_passed)
    _holm([change for change in changes if change not in single])
    for change in changes:
        comparison.tokens += change.tokens
        comparison.cost_usd += change.cost_usd
        comparison.duration_ms += change.duration_ms
    comparison.overall = _overall(comparison)
    return comparison


def _change(base: TestResult, new: TestResult) -> ScenarioChange:
    return ScenarioChange(
        nodeid=base.nodeid,
        base_status=base.status,
        new_status=new.status,
        base=Outcome.of(base),
        new=Outcome.of(new),
        trajectory=_trajectory(base, new),
        tokens=new.usage.total_tokens - base.usage.total_tokens,
        cost_usd=_cost(new) - _cost(base),
        duration_ms=new.duration_ms - base.duration_ms,
    )


def _holm(repeated: list[ScenarioChange]) -> None:
    """Fisher's exact test for each scenario with repeats, with Holm's correction for testing several."""
    raw = {
        change.nodeid: fisher_exact(change.base.passed, change.base.attempts, change.new.passed, change.new.attempts)
        for change in repeated
    }
    running = 0.0
    for rank, change in enumerate(sorted(repeated, key=lambda change: raw[change.nodeid])):
        running = max(running, min(1.0, (len(repeated) - rank) * raw[change.nodeid]))
        change.p_value = running


def _overall(comparison: Comparison) -> Overall:
    worse = comparison.base_only_passed > comparison.new_only_passed and comparison.mcnemar_p < SIGNIFICANCE
    better = comparison.new_only_passed > comparison.base_only_passed and comparison.mcnemar_p < SIGNIFICANCE
    for change in comparison.changes:
        if change.significant:
            worse |= change.new.rate < change.base.rate
            better |= change.new.rate > change.base.rate
    if worse:
        return "regression"
    if better:
        return "improvement"
    moved = any(
        change.base.rate != change.new.rate or change.base_status != change.new_status for change in comparison.changes
    )
    return "not enough evidence" if moved else "no change"


def _trajectory(base: TestResult, new: TestResult) -> str | None:
    """The first turn whose tool calls (names and arguments) differ between the runs' first conversations."""
    if not base.conversations or not new.conversations:
        return None
    base_turns, new_turns = base.conversations[0].turns, new.conversations[0].turns
    for number in range(1, max(len(base_turns), len(new_turns)) + 1):
        before = _calls(base_turns, number)
        after = _calls(new_turns, number)
        if before != after:
            return f"turn {number}: {before or 'no tool calls'} → {after or 'no tool calls'}"
    return None


def _calls(turns: list, number: int) -> str | None:
    if number > len(turns):
        return "(no such turn)"
    if turns[number - 1].hidden_tool_calls:
        return "tool calls not exposed"
    calls = turns[number - 1].tool_calls
    return ", ".join(f"{call.name}({json.dumps(call.arguments, sort_keys=True)})" for call in calls) or None


def _cost(test: TestResult) -> float:
    """What the test's model and judge calls cost (or would have, when replayed)."""
    return sum(
        (turn.cost_usd or 0.0) + sum(judgement.cost_usd or 0.0 for judgement in turn.judgements)
        for conversation in test.conversations
        for turn in conversation.turns
    )
