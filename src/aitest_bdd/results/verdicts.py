"""A repeated scenario's verdict from its attempts: the pass rate, its interval, pass@k, the label, where it breaks."""

from __future__ import annotations

from typing import Literal

from ..stats.intervals import wilson
from ..stats.labels import label
from ..stats.pass_at_k import pass_at_k, pass_hat_k
from .schema import Attempt, StepFailures, Verdict


def verdict_of(
    attempts: list[Attempt], limit: int, gate: float | None, stopped: Literal["passed", "failed"] | None = None
) -> Verdict:
    """Decide a scenario from its attempts: it passes when its pass rate reaches `gate` (every attempt, without one).

    `stopped` is the decision of an early stop, which weighs the evidence instead of comparing the rate.
    """
    runs, passed = len(attempts), sum(attempt.status == "passed" for attempt in attempts)
    low, high = (round(bound, 12) for bound in wilson(passed, runs))  # 0, not 2.8e-17, for none passed
    reached = passed >= (gate if gate is not None else 1.0) * runs - 1e-9  # 14/25 reaches 56 % (0.56 × 25 > 14)
    decision = stopped or ("passed" if reached else "failed")
    verdict = Verdict(
        attempts=runs,
        passed=passed,
        limit=limit,
        early_stop=stopped is not None,
        gate=gate,
        decision=decision,
        low=low,
        high=high,
        label=label(passed, runs),
        pass_at_k=[pass_at_k(runs, passed, k) for k in range(1, runs + 1)],
        pass_hat_k=[pass_hat_k(runs, passed, k) for k in range(1, runs + 1)],
        step_failures=_step_failures(attempts),
    )
    verdict.summary = _summary(verdict)
    return verdict


def percent(rate: float) -> str:
    """A rate as a whole percentage, `80 %`; only 0 and 1 show as 0 % and 100 %."""
    shown = round(rate * 100)
    if 0 < rate < 1:
        shown = min(max(shown, 1), 99)
    return f"{shown} %"


def _summary(verdict: Verdict) -> str:
    text = (
        f"{verdict.passed}/{verdict.attempts} passed ({percent(verdict.passed / verdict.attempts)}, "
        f"95 % CI {round(verdict.low * 100)}–{percent(verdict.high)}), {verdict.label}"
    )
    gate = f"the gate of {percent(verdict.gate)}" if verdict.gate is not None else "the rule that every attempt passes"
    if verdict.early_stop:
        text += f"; {verdict.decision} against {gate} after {verdict.attempts} of up to {verdict.limit} attempts"
    elif verdict.gate is not None:
        text += f"; {'reaches' if verdict.decision == 'passed' else 'is below'} {gate}"
    elif verdict.decision == "failed":
        text += "; without a pass-rate gate (--aitest-min-pass-rate), every attempt must pass"
    return text


def _step_failures(attempts: list[Attempt]) -> list[StepFailures]:
    """Each step that failed in some attempt, with how many of the attempts that reached it it failed in."""
    counts: dict[int, StepFailures] = {}
    for attempt in attempts:
        for step in attempt.steps:
            if step.status == "skipped":
                continue
            counted = counts.setdefault(
                step.line, StepFailures(keyword=step.keyword, text=step.text, line=step.line, failed=0, ran=0)
            )
            counted.ran += 1
            counted.failed += step.status in ("failed", "undefined")
    return sorted((counted for counted in counts.values() if counted.failed), key=lambda counted: -counted.failed)
