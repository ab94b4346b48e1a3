"""Collect every test's result on the controller, print the terminal summary, and write the JSON, HTML and Markdown."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conversation.turns import Conversation
from ..results.attach import REPORT_ATTRIBUTE
from ..results.schema import RunResults, TestResult
from ..version import package_version
from .outputs import OUTPUTS

SCRIPTED_MODEL_PREFIX = "aitest-scripted"


@dataclass
class Tally:
    """The counts the terminal summary prints, for some conversations."""

    turns: int = 0
    tool_calls: int = 0
    tokens: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    models: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, conversations: list[Conversation]) -> Tally:
        tally = cls()
        for turn in (turn for conversation in conversations for turn in conversation.turns):
            tally.turns += 1
            tally.tool_calls += len(turn.tool_calls)
            tally.tokens += turn.usage.total_tokens
            tally.sources[turn.source] += 1
            tally.models.update(call.model for call in turn.model_calls)
        return tally

    def add(self, other: Tally) -> None:
        self.turns += other.turns
        self.tool_calls += other.tool_calls
        self.tokens += other.tokens
        self.sources.update(other.sources)
        self.models |= other.models


class ResultsCollector:
    """Gathers test results from reports (local or from xdist workers) and writes the outputs.

    The results are kept only when an output is asked for, as compressed JSON until the outputs are
    written (a tenth of their size as objects); otherwise each is counted and let go.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._results: dict[str, bytes] = {}
        self._tallies: dict[str, Tally] = {}
        self._session_of: dict[str, str] = {}
        self._sessions: dict[str, tuple[str, int]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data is None or hasattr(self.config, "workerinput"):
            return
        delattr(report, REPORT_ATTRIBUTE)
        result = TestResult.model_validate(data)
        if self.targets:
            self._results[report.nodeid] = zlib.compress(json.dumps(data).encode(), level=1)
        self._tallies[report.nodeid] = Tally.of(result.conversations)
        if result.kind == "python" and result.session:
            self._session_of[report.nodeid] = result.session
            held = self._sessions.get(result.session)
            if held is None or result.turn_count >= held[1]:
                self._sessions[result.session] = (report.nodeid, result.turn_count)

    @property
    def targets(self) -> dict[str, str]:
        """The outputs asked for, by kind (read when needed: a conftest may set them after configure)."""
        return {name: target for name in OUTPUTS if (target := _target(self.config, name))}

    def run_results(self) -> RunResults:
        tests = [TestResult.model_validate_json(zlib.decompress(result)) for result in self._results.values()]
        return RunResults(tool_version=package_version(), tests=tests)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        targets = self.targets
        if hasattr(self.config, "workerinput") or not targets:
            return
        results = self.run_results()
        for name, target in targets.items():
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            OUTPUTS[name].write(results, path)

    def total(self) -> Tally:
        """The counts over every conversation once (a Python API session's last test holds all of it)."""
        holders = {nodeid for nodeid, _turns in self._sessions.values()}
        total = Tally()
        for nodeid, tally in self._tallies.items():
            if nodeid not in self._session_of or nodeid in holders:
                total.add(tally)
        return total

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self._tallies:
            return
        total = self.total()
        how = f" ({', '.join(f'{n} {source}' for source, n in sorted(total.sources.items()))})" if total.turns else ""
        answered_by = sorted(total.models)
        terminalreporter.write_sep("-", "aitest-bdd")
        terminalreporter.write_line(
            f"{_count(len(self._tallies), 'agent test')}, {_count(total.turns, 'turn')}{how}, "
            f"{_count(total.tool_calls, 'tool call')}, {_count(total.tokens, 'token')}"
        )
        if answered_by:
            terminalreporter.write_line(f"answered by: {', '.join(answered_by)}")
        if answered_by and all(model.startswith(SCRIPTED_MODEL_PREFIX) for model in answered_by):
            terminalreporter.write_line(
                "every answer came from the scripted test model, not a real LLM (use --aitest-model to pick one)"
            )
        if total.sources.get("replayed"):
            terminalreporter.write_line("replayed turns come from recordings; --aitest-record=all records them anew")
        for name, target in self.targets.items():
            terminalreporter.write_line(f"aitest {name}: {target}")


def _target(config: pytest.Config, name: str) -> str | None:
    return config.getoption(f"aitest_{name}") or config.getini(f"aitest_{name}") or None


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")
