"""A rubric: criteria judged one by one, each with a weight or as a "must"; it holds when every "must" holds and
the weighted share of the other criteria that hold reaches a threshold."""

from __future__ import annotations

from dataclasses import dataclass

from .judge_questions import vote_count
from .turns import Judgement

DEFAULT_THRESHOLD = 1.0
"""The score a rubric needs when its step names none: every criterion must hold."""

MUST = "must"
HEADERS = {"criterion", "criteria"}


class RubricError(ValueError):
    """A rubric's table cannot be read."""


@dataclass(frozen=True)
class Criterion:
    """One row of a rubric: what the judge checks, and its weight (None: it must hold)."""

    text: str
    weight: float | None = 1.0

    @property
    def must(self) -> bool:
        return self.weight is None


def criteria(rows: list[list[str]]) -> list[Criterion]:
    """The criteria of a table of `| criterion | weight |` rows (the weight cell is optional: a number above 0,
    `must`, or empty for 1; a header row `| criterion | weight |` is skipped)."""
    rows = [[cell.strip() for cell in row] for row in rows if row and any(cell.strip() for cell in row)]
    if rows and rows[0][0].casefold() in HEADERS:
        rows = rows[1:]
    if not rows:
        raise RubricError("the rubric has no criteria: write one per row, e.g. | names the amount | must |")
    return [_criterion(row) for row in rows]


def _criterion(row: list[str]) -> Criterion:
    text, cell = row[0], (row[1] if len(row) > 1 else "")
    if not text:
        raise RubricError(f"a rubric row has no criterion in its first cell: | {' | '.join(row)} |")
    if cell.casefold() == MUST:
        return Criterion(text, None)
    if not cell:
        return Criterion(text)
    try:
        weight = float(cell)
    except ValueError:
        weight = 0.0
    if not weight > 0:
        raise RubricError(f'the weight of "{text}" is {cell!r}: write a number above 0, or "must"')
    return Criterion(text, weight)


def threshold_of(text: str) -> float:
    """The score a rubric step names (0 to 1)."""
    value = float(text)
    if not 0 <= value <= 1:
        raise RubricError(f"a rubric's score is from 0 to 1: {text} is out of range")
    return value


@dataclass(frozen=True)
class RubricOutcome:
    """The judge's verdicts on a rubric's criteria, and what they add up to."""

    verdicts: list[Judgement]
    threshold: float = DEFAULT_THRESHOLD

    @property
    def score(self) -> float:
        """The weight of the criteria that hold over the weight of all, "must" criteria aside (1 when all are)."""
        weighted = [verdict for verdict in self.verdicts if not verdict.must]
        total = sum(verdict.weight or 0.0 for verdict in weighted)
        return sum(verdict.weight or 0.0 for verdict in weighted if verdict.passed) / total if total else 1.0

    @property
    def failed(self) -> list[Judgement]:
        return [verdict for verdict in self.verdicts if not verdict.passed]

    @property
    def passed(self) -> bool:
        return not any(verdict.must for verdict in self.failed) and self.score >= self.threshold - 1e-9

    def problem(self, subject: str = "the response") -> str:
        """Why the rubric does not hold: the score and the threshold, then each failed criterion with its reasoning."""
        musts = sum(verdict.must for verdict in self.failed)
        lines = [
            f"expected {subject} to satisfy the rubric, but its score is {self.score:.2f} "
            f"(at least {self.threshold:.2f} needed)"
            + (f" and {musts} \"must\" {'criteria' if musts > 1 else 'criterion'} failed" if musts else "")
            + "; the criteria that failed:"
        ]
        for verdict in self.failed:
            weight = MUST if verdict.must else f"weight {verdict.weight:g}"
            votes = vote_count(verdict)
            lines.append(
                f'  - "{verdict.criterion}" ({weight}): the judge ({verdict.model}) said no: {verdict.reasoning}'
                + (f" [{votes}]" if votes else "")
            )
        return "\n".join(lines)
