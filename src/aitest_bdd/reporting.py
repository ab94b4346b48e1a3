"""Collect every test's record on the controller and write the run's JSON, HTML and Markdown."""

from __future__ import annotations

from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from .recorder import REPORT_ATTRIBUTE
from .results import RunResults, TestResult, distinct_conversations

SCRIPTED_MODEL_PREFIX = "aitest-scripted"


def package_version() -> str:
    try:
        return version("aitest-bdd")
    except PackageNotFoundError:
        return "unknown"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aitest")
    for name, what in (
        ("report", "a self-contained HTML report"),
        ("json", "the results as JSON (versioned schema)"),
        ("md", "a Markdown summary for CI job summaries"),
    ):
        group.addoption(f"--aitest-{name}", dest=f"aitest_{name}", metavar="PATH", default=None, help=f"write {what}")
        parser.addini(f"aitest_{name}", f"write {what} to this path, like --aitest-{name}", default="")


class ResultsCollector:
    """Gathers test records from reports (local or from xdist workers) and writes the outputs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, TestResult] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data is not None:
            self.results[report.nodeid] = TestResult.model_validate(data)

    def run_results(self) -> RunResults:
        return RunResults(tool_version=package_version(), tests=list(self.results.values()))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        results = self.run_results()
        for name, write in (("json", write_json), ("report", write_html), ("md", write_markdown)):
            target = self.config.getoption(f"aitest_{name}") or self.config.getini(f"aitest_{name}")
            if target:
                path = Path(target)
                path.parent.mkdir(parents=True, exist_ok=True)
                write(results, path)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        results = list(self.results.values())
        if not results:
            return
        conversations = distinct_conversations(results)
        turns = [turn for conversation in conversations for turn in conversation.turns]
        calls = sum(len(turn.tool_calls) for turn in turns)
        tokens = sum(turn.usage.total_tokens for turn in turns)
        sources = Counter(turn.source for turn in turns)
        how = f" ({', '.join(f'{count} {source}' for source, count in sorted(sources.items()))})" if turns else ""
        answered_by = sorted({call.model for turn in turns for call in turn.model_calls})
        terminalreporter.write_sep("-", "aitest-bdd")
        terminalreporter.write_line(
            f"{_count(len(results), 'agent test')}, {_count(len(turns), 'turn')}{how}, "
            f"{_count(calls, 'tool call')}, {_count(tokens, 'token')}"
        )
        if answered_by:
            terminalreporter.write_line(f"answered by: {', '.join(answered_by)}")
        if answered_by and all(model.startswith(SCRIPTED_MODEL_PREFIX) for model in answered_by):
            terminalreporter.write_line(
                "every answer came from the scripted test model, not a real LLM (use --aitest-model to pick one)"
            )
        if sources.get("replayed"):
            terminalreporter.write_line("replayed turns come from recordings; --aitest-record=all records them anew")
        for name in ("json", "report", "md"):
            target = self.config.getoption(f"aitest_{name}") or self.config.getini(f"aitest_{name}")
            if target:
                terminalreporter.write_line(f"aitest {name}: {target}")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def write_json(results: RunResults, path: Path) -> None:
    path.write_text(results.model_dump_json(indent=1), encoding="utf-8")


def write_html(results: RunResults, path: Path) -> None:
    from .report.html import render_html

    path.write_text(render_html(results), encoding="utf-8")


def write_markdown(results: RunResults, path: Path) -> None:
    from .report.markdown import render_markdown

    path.write_text(render_markdown(results), encoding="utf-8")
