"""When to stop repeating a scenario: Wald's sequential probability ratio test around the pass-rate gate.

The test weighs "the pass rate is at least gate + margin" against "at most gate − margin" after every
attempt, and stops as soon as the likelihood ratio crosses a bound. The margin is 0.1, narrowed near 0 and
1 so that the zone stays inside them. A scenario passes only when the evidence shows it: one still
undecided at the attempt limit fails. So, checked after every attempt, the chance of passing a scenario
whose rate is at most gate − margin stays at most α / (1 − β) (Wald's bound), whatever the limit. The
chance of failing one whose rate is at least gate + margin is at most β / (1 − α) only when the limit
leaves the test room to decide; `benchmarks/early_stop.py` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, log
from typing import Literal

ERROR_RATE = 0.05
"""α and β: the chance of passing a scenario whose rate is below the margin, and of failing one above it."""

MARGIN = 0.1
"""Half-width of the indifference zone around the gate (inside it, either verdict is acceptable), at most."""

Decision = Literal["passed", "failed"]


@dataclass(frozen=True)
class SequentialTest:
    """Decides a gate of `gate` (a pass rate) from attempts, within `limit` attempts."""

    gate: float
    limit: int
    error_rate: float = ERROR_RATE

    def __post_init__(self) -> None:
        if not 0 < self.gate <= 1:
            raise ValueError(f"the gate must be a pass rate above 0 and at most 1, not {self.gate}")
        if self.limit < 1:
            raise ValueError(f"the attempt limit must be at least 1, not {self.limit}")

    @property
    def margin(self) -> float:
        """The indifference zone's half-width: `MARGIN`, or less where the gate is close to 0 or 1."""
        return round(min(MARGIN, self.gate / 2, (1 - self.gate) / 2), 12)

    @property
    def fewest_to_pass(self) -> int:
        """How many attempts, all passed, it takes to show the gate is reached (every attempt, without a gate)."""
        if self.gate >= 1:
            return self.limit
        return ceil(self._pass_bound / self._per_pass - 1e-9)

    def decide(self, passed: int, attempts: int) -> Decision | None:
        """The verdict once the evidence settles it, or None to run another attempt."""
        failed = attempts - passed
        if self.gate >= 1:
            # Every attempt must pass: one failure decides, and only the last attempt can decide a pass.
            if failed:
                return "failed"
            return "passed" if attempts >= self.limit else None
        ratio = passed * self._per_pass + failed * self._per_failure
        if ratio >= self._pass_bound:
            return "passed"
        if ratio <= log(self.error_rate / (1 - self.error_rate)):
            return "failed"
        if ratio + (self.limit - attempts) * self._per_pass < self._pass_bound:
            return "failed"  # even if every remaining attempt passed, the evidence would not show the gate reached
        return None

    @property
    def _pass_bound(self) -> float:
        return log((1 - self.error_rate) / self.error_rate)

    @property
    def _per_pass(self) -> float:
        return log((self.gate + self.margin) / (self.gate - self.margin))

    @property
    def _per_failure(self) -> float:
        return log((1 - self.gate - self.margin) / (1 - self.gate + self.margin))
