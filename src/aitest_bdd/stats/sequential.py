"""When to stop repeating a scenario: Wald's sequential probability ratio test around the pass-rate gate.

The test weighs "the pass rate is at least gate + margin" against "at most gate − margin" after every
attempt, and stops as soon as the likelihood ratio crosses a bound. A scenario passes only when the
evidence shows it: one still undecided at the attempt limit fails. So, checked after every attempt,
the chance of passing a scenario whose rate is at most gate − margin stays at most α / (1 − β) (Wald's
bound), whatever the limit. The chance of failing one whose rate is at least gate + margin is at most
β / (1 − α) only when the limit leaves the test room to decide; `benchmarks/early_stop.py` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log
from typing import Literal

ERROR_RATE = 0.05
"""α and β: the chance of passing a scenario whose rate is below the margin, and of failing one above it."""

MARGIN = 0.1
"""Half-width of the indifference zone around the gate: inside it, either verdict is acceptable."""

Decision = Literal["pass", "fail"]


@dataclass(frozen=True)
class SequentialTest:
    """Decides a gate of `gate` (a pass rate) from attempts, within `limit` attempts."""

    gate: float
    limit: int
    margin: float = MARGIN
    error_rate: float = ERROR_RATE

    def __post_init__(self) -> None:
        if not 0 < self.gate <= 1:
            raise ValueError(f"the gate must be a pass rate above 0 and at most 1, not {self.gate}")
        if self.limit < 1:
            raise ValueError(f"the attempt limit must be at least 1, not {self.limit}")

    def decide(self, passed: int, attempts: int) -> Decision | None:
        """The verdict once the evidence settles it, or None to run another attempt."""
        failed = attempts - passed
        if self.gate >= 1:
            # Every attempt must pass: one failure decides, and only the last attempt can decide a pass.
            if failed:
                return "fail"
            return "pass" if attempts >= self.limit else None
        below, above = max(self.gate - self.margin, 0.001), min(self.gate + self.margin, 0.999)
        per_pass, per_failure = log(above / below), log((1 - above) / (1 - below))
        ratio = passed * per_pass + failed * per_failure
        to_pass = log((1 - self.error_rate) / self.error_rate)
        if ratio >= to_pass:
            return "pass"
        if ratio <= log(self.error_rate / (1 - self.error_rate)):
            return "fail"
        if ratio + (self.limit - attempts) * per_pass < to_pass:
            return "fail"  # even if every remaining attempt passed, the evidence would not show the gate reached
        return None
