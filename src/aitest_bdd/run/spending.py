"""The run's spending limit, `--aitest-max-cost`: what scenarios' live model and judge calls cost, summed
across pytest-xdist workers in a ledger file that each process appends to."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

LEDGER_INPUT = "aitest_ledger"
"""The key under which the controller hands its ledger's path to each xdist worker."""
_AMOUNT = re.compile(r"\$?\s*(\d+(?:\.\d+)?)")


class Spending:
    """What the run has spent on live calls, and whether it has reached its limit."""

    def __init__(self, limit_usd: float | None = None, ledger: Path | None = None, owner: bool = False) -> None:
        self.limit_usd = limit_usd
        self.ledger = ledger
        self._owner = owner

    @classmethod
    def start(cls, config: pytest.Config) -> Spending:
        """The limit from `--aitest-max-cost` (or the ini), with a ledger shared by the run's processes."""
        text, given = config.getoption("aitest_max_cost"), "--aitest-max-cost"
        if text is None:
            text, given = config.getini("aitest_max_cost") or None, "aitest_max_cost ="
        if text is None:
            return cls()
        found = _AMOUNT.fullmatch(text.strip())
        if found is None:
            raise pytest.UsageError(f"{given} {text!r} is not an amount in US dollars: write one such as 5 or 0.50")
        if float(found[1]) <= 0:
            raise pytest.UsageError(f"{given} {text!r} would run nothing: give an amount above $0")
        worker = getattr(config, "workerinput", {})
        if LEDGER_INPUT in worker:
            return cls(float(found[1]), Path(worker[LEDGER_INPUT]))
        handle, name = tempfile.mkstemp(prefix="aitest-spending-", suffix=".txt")
        os.close(handle)
        return cls(float(found[1]), Path(name), owner=True)

    def add(self, usd: float) -> None:
        """Note what an attempt spent; one short line, appended whole, so that processes do not mix their writes."""
        if self.ledger is not None and usd > 0:
            with self.ledger.open("a", encoding="ascii") as ledger:
                ledger.write(f"{usd:.12f}\n")

    @property
    def spent(self) -> float:
        """What the run's scenarios have spent so far."""
        if self.ledger is None:
            return 0.0
        lines = self.ledger.read_text(encoding="ascii").splitlines(keepends=True)
        return sum(float(line) for line in lines if line.endswith("\n"))  # a line being written is not counted yet

    def reached(self) -> bool:
        """Whether no new attempt may start."""
        return self.limit_usd is not None and self.spent >= self.limit_usd

    def close(self) -> None:
        if self._owner and self.ledger is not None:
            self.ledger.unlink(missing_ok=True)
