"""Collect every test's result on the controller, print the terminal summary, and write the JSON, HTML and Markdown.

The output paths are checked before the first test, and a test whose xdist worker died is a failed result.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conversation.pricing import format_usd
from ..conversation.sampling_cost import unpriced_samplers
from ..conversation.turns import Conversation, is_scripted
from ..results.attach import REPORT_ATTRIBUTE
from ..results.reading import UnreadableResults, read_results
from ..results.schema import RunResults, TestResult, Verdict
from ..version import package_version
from ..whole_files import UnwritablePath, prepare_path
from .cucumber_json import add_embeddings
from .outputs import OUTPUTS, read_baseline
from .server_requests import task_only_lines, task_only_tools
from .tool_gates import ToolSurfaceWatch

FOREIGN_OUTPUTS = {"--junitxml": "xmlpath", "--cucumberjson": "cucumber_json_path"}
"""pytest's JUnit XML and pytest-bdd's Cucumber JSON, by option and destination: their paths are checked too."""
CRASH_ADVICE = (
    "the worker's process ended during this test (killed, out of memory, or a crash in native code); "
    "run the test without -n to see why"
)


@dataclass
class Tally:
    """The counts the terminal summary prints, for some conversations; the judge's tokens and cost apart."""

    turns: int = 0
    tool_calls: int = 0
    tokens: int = 0
    reasoning_tokens: int = 0
    """Of the agent's tokens, those a reasoning model spent on its hidden reasoning."""
    judge_tokens: int = 0
    judge_calls: int = 0
    """How many times the judge was asked: once per verdict, or once per vote with --aitest-judge-samples."""
    user_model_tokens: int = 0
    user_model_calls: int = 0
    """How many times the user model, which plays simulated users, was asked."""
    cost_usd: float = 0.0
    judge_cost_usd: float = 0.0
    user_model_cost_usd: float = 0.0
    user_models: set[str] = field(default_factory=set)
    judged: bool = False
    unpriced: set[str] = field(default_factory=set)
    sources: Counter[str] = field(default_factory=Counter)
    models: set[str] = field(default_factory=set)
    judge_models: set[str] = field(default_factory=set)
    live_instead: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Conversations run live because their recording was made with another model, by (model, recording's model)."""

    @classmethod
    def of(cls, conversations: list[Conversation]) -> Tally:
        tally = cls()
        tally.live_instead.update(
            (conversation.model, conversation.live_instead_of)
            for conversation in conversations
            if conversation.live_instead_of is not None
        )
        for turn in (turn for conversation in conversations for turn in conversation.turns):
            tally.turns += 1
            tally.tool_calls += len(turn.tool_calls)
            tally.tokens += turn.usage.total_tokens
            tally.reasoning_tokens += turn.usage.reasoning_tokens
            tally.sources[turn.source] += 1
            tally.models.update(call.model for call in turn.model_calls)
            tally.cost_usd += turn.cost_usd or 0.0
            if turn.cost_usd is None:
                tally.unpriced.add(turn.model)
            tally.unpriced |= unpriced_samplers([turn])
            for verdict in turn.judgements:
                tally.judged = True
                tally.judge_tokens += verdict.usage.total_tokens
                tally.judge_calls += verdict.calls
                tally.judge_cost_usd += verdict.cost_usd or 0.0
                tally.judge_models.add(verdict.model)
                if verdict.cost_usd is None:
                    tally.unpriced.add(verdict.model)
        for call in (call for conversation in conversations for call in conversation.user_model_calls):
            tally.user_model_calls += 1
            tally.user_model_tokens += call.usage.total_tokens
            tally.user_model_cost_usd += call.cost_usd or 0.0
            tally.user_models.add(call.model)
            if call.cost_usd is None:
                tally.unpriced.add(call.model)
        return tally

    def add(self, other: Tally) -> None:
        self.turns += other.turns
        self.tool_calls += other.tool_calls
        self.tokens += other.tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.judge_tokens += other.judge_tokens
        self.judge_calls += other.judge_calls
        self.user_model_tokens += other.user_model_tokens
        self.user_model_calls += other.user_model_calls
        self.cost_usd += other.cost_usd
        self.judge_cost_usd += other.judge_cost_usd
        self.user_model_cost_usd += other.user_model_cost_usd
        self.user_models |= other.user_models
        self.judged |= other.judged
        self.unpriced |= other.unpriced
        self.sources.update(other.sources)
        self.models |= other.models
        self.judge_models |= other.judge_models
        self.live_instead.update(other.live_instead)

    @property
    def scripted(self) -> bool:
        """Whether some answer came from the scripted test model, whose costs are those of the model it plays."""
        return any(map(is_scripted, self.models | self.judge_models | self.user_models))

    def tokens_line(self) -> str:
        """All tokens, with the agent's, the judge's and the user model's apart when a judge or a user model was
        asked."""
        if not self.judged and not self.user_model_calls:
            return _count(self.tokens, "token")
        every = _count(self.tokens + self.judge_tokens + self.user_model_tokens, "token")
        parts = [f"agent {self.tokens:,}"]
        if self.judged:
            parts.append(f"judge {self.judge_tokens:,} in {_count(self.judge_calls, 'call')}")
        if self.user_model_calls:
            parts.append(f"user model {self.user_model_tokens:,} in {_count(self.user_model_calls, 'call')}")
        return f"{every} ({', '.join(parts)})"

    def cost_line(self) -> str | None:
        """The cost, when every price is known, with the agent's and the judge's apart."""
        if self.unpriced or not self.turns:
            return None
        line = f"cost: {format_usd(self.cost_usd + self.judge_cost_usd + self.user_model_cost_usd)}"
        parts = [f"judge {format_usd(self.judge_cost_usd)}"] if self.judged else []
        if self.user_model_calls:
            parts.append(f"user model {format_usd(self.user_model_cost_usd)}")
        if parts:
            line += f" (agent {format_usd(self.cost_usd)}, {', '.join(parts)})"
        if self.scripted:
            line += ", hypothetical: the scripted test model answered, priced as the model it stands in for"
        return line


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
        self._unwritten: dict[str, str] = {}
        self._verdicts: dict[str, Verdict] = {}
        self._baseline_note: str | None = None
        self._unenriched: str | None = None
        """Why pytest-bdd's Cucumber JSON did not gain the steps' attachments, when it did not."""
        self._tools = ToolSurfaceWatch(config)
        self._task_only: dict[str, list[str]] = {}
        """By MCP server, the tools not offered because they run only as tasks: noted once per server."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        """Check every output path before the first test: one that cannot be written is a usage error."""
        if hasattr(self.config, "workerinput"):
            return
        for option, target in self._output_paths():
            try:
                prepare_path(Path(target))
            except UnwritablePath as error:
                raise pytest.UsageError(f"{option} {target}: {error}") from None
        for name in self.targets:
            if problem := OUTPUTS[name].unavailable():
                raise pytest.UsageError(f"{_asked_for(self.config, name)[0]} {self.targets[name]}: {problem}")
        self._baseline_note = self._check_baseline()
        self._tools.read_gates()

    def _check_baseline(self) -> str | None:
        """What the terminal says about `--aitest-baseline` when it cannot be used: it never costs the run."""
        asked = self._baseline_path()
        if asked is None:
            return None
        if not {"report", "md"} & set(self.targets):
            return f"aitest baseline: {asked} is compared in --aitest-report and --aitest-md, and neither was asked for"
        try:
            read_results(Path(asked))
        except UnreadableResults as error:
            return f"aitest baseline: {asked} not used: {error.reason}"
        return None

    def _baseline_path(self) -> str | None:
        asked = self.config.getoption("aitest_baseline") or self.config.getini("aitest_baseline")
        return os.path.expanduser(asked) if asked else None

    def _output_paths(self) -> Iterator[tuple[str, str]]:
        """Each output's path after how it was asked for, pytest's JUnit XML and pytest-bdd's Cucumber JSON too."""
        yield from (asked for name in OUTPUTS if (asked := _asked_for(self.config, name)))
        for option, dest in FOREIGN_OUTPUTS.items():
            if target := self.config.getoption(dest, None):
                yield option, os.path.expanduser(os.path.expandvars(target))

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport) -> None:
        """The test a pytest-xdist worker died in fails with the crash as its message (its report comes next)."""
        report.longrepr = f"{report.longrepr}: {CRASH_ADVICE}"
        kept = self._results.get(crashitem)
        result = TestResult.model_validate_json(zlib.decompress(kept)) if kept else _unreported(crashitem)
        result.status, result.message = "failed", report.longrepr
        setattr(report, REPORT_ATTRIBUTE, result.model_dump(mode="json"))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data is None or hasattr(self.config, "workerinput"):
            return
        delattr(report, REPORT_ATTRIBUTE)
        result = TestResult.model_validate(data)
        self._tools.add(result, data)
        self._task_only.update(task_only_tools(result.conversations))
        if self.targets or self._cucumber_json:
            self._results[report.nodeid] = zlib.compress(json.dumps(data).encode(), level=1)
        self._tallies[report.nodeid] = Tally.of(result.conversations)
        if result.verdict is not None:
            self._verdicts[report.nodeid] = result.verdict
        if result.kind == "python" and result.session:
            self._session_of[report.nodeid] = result.session
            held = self._sessions.get(result.session)
            if held is None or result.turn_count >= held[1]:
                self._sessions[result.session] = (report.nodeid, result.turn_count)

    @property
    def targets(self) -> dict[str, str]:
        """The outputs asked for, by kind (read when needed: a conftest may set them after configure)."""
        return {name: asked[1] for name in OUTPUTS if (asked := _asked_for(self.config, name))}

    def run_results(self) -> RunResults:
        tests = [TestResult.model_validate_json(zlib.decompress(result)) for result in self._results.values()]
        surface, root = self._tools.surface(), self.config.rootpath
        return RunResults(tool_version=package_version(), tests=tests, tool_surface=surface, root_dir=root)

    @property
    def _cucumber_json(self) -> str | None:
        """Where pytest-bdd writes its Cucumber JSON (`--cucumberjson`), which gains each step's attachments."""
        target = self.config.getoption("cucumber_json_path", None)
        return os.path.expanduser(os.path.expandvars(target)) if target else None

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        """Write the outputs first: the rest of finishing (teardown, stopping xdist workers) can block or fail.
        Then the tool gates, which fail a run that passed (exit status 1)."""
        if not hasattr(self.config, "workerinput"):
            self._write_outputs(session)
            if self._tallies and not (self.config.getoption("aitest_steps") or self.config.getoption("aitest_dry_run")):
                self._tools.check(session)
        try:
            return (yield)
        finally:  # pytest-bdd has written its Cucumber JSON by now, even when another plugin's finishing failed
            if self._cucumber_json and self._results and not hasattr(self.config, "workerinput"):
                self._enrich_cucumber_json(session, self._cucumber_json)

    def _enrich_cucumber_json(self, session: pytest.Session, path: str) -> None:
        """Add each step's attachments to pytest-bdd's Cucumber JSON; one that fails is named in the summary."""
        try:
            add_embeddings(Path(path), self.run_results())
        except Exception as error:  # the file stays as pytest-bdd wrote it
            self._unenriched = getattr(error, "strerror", None) or f"{type(error).__name__}: {error}"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def _write_outputs(self, session: pytest.Session) -> None:
        """Write each output asked for; one that fails is named in the summary and fails a run that passed."""
        targets = self.targets
        if not targets or self.config.getoption("aitest_steps") or self.config.getoption("aitest_dry_run"):
            return  # a listing or a dry run checks, it does not run: its "passed" would read as a green run
        try:
            results = self.run_results()
        except Exception as error:  # a result that does not load must not cost the summary and the exit status
            self._unwritten = {name: f"the results could not be read: {error}" for name in targets}
        else:
            asked = self._baseline_path()
            baseline = read_baseline(asked, results) if asked else None
            for name, target in targets.items():
                try:
                    OUTPUTS[name].write(results, Path(target), baseline)
                except Exception as error:  # one output that fails must not cost the others
                    self._unwritten[name] = getattr(error, "strerror", None) or f"{type(error).__name__}: {error}"
        if self._unwritten and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def total(self) -> Tally:
        """The counts over every conversation once (a Python API session's last test holds all of it)."""
        holders = {nodeid for nodeid, _turns in self._sessions.values()}
        total = Tally()
        for nodeid, tally in self._tallies.items():
            if nodeid not in self._session_of or nodeid in holders:
                total.add(tally)
        return total

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self._tallies and not self._unwritten and not self._baseline_note and not self._unenriched:
            return
        terminalreporter.write_sep("-", "aitest-bdd")
        if self._tallies:
            self._summarize_tests(terminalreporter)
        for name, target in self.targets.items():
            if name in self._unwritten:
                terminalreporter.write_line(f"aitest {name}: {target} not written: {self._unwritten[name]}", red=True)
            elif self._tallies:
                terminalreporter.write_line(f"aitest {name}: {target}")
        if self._baseline_note:
            terminalreporter.write_line(self._baseline_note, yellow=True)
        if self._unenriched:
            terminalreporter.write_line(
                f"aitest: {self._cucumber_json} has no attachments: {self._unenriched}", red=True
            )

    def _summarize_tests(self, terminalreporter) -> None:
        total = self.total()
        how = f" ({', '.join(f'{n} {source}' for source, n in sorted(total.sources.items()))})" if total.turns else ""
        answered_by = sorted(total.models)
        terminalreporter.write_line(
            f"{_count(len(self._tallies), 'agent test')}, {_count(total.turns, 'turn')}{how}, "
            f"{_count(total.tool_calls, 'tool call')}, {total.tokens_line()}"
        )
        if total.reasoning_tokens:
            terminalreporter.write_line(f"reasoning: {_count(total.reasoning_tokens, 'token')} of the agent's output")
        if cost := total.cost_line():
            terminalreporter.write_line(cost)
        if answered_by:
            terminalreporter.write_line(f"answered by: {', '.join(answered_by)}")
        if answered_by and all(map(is_scripted, answered_by)):
            terminalreporter.write_line(
                "every answer came from the scripted test model, not a real LLM (use --aitest-model to pick one)"
            )
        for (model, recorded), count in sorted(total.live_instead.items()):
            terminalreporter.write_line(
                f"{_count(count, 'conversation')} ran live on {model}: recorded with {recorded}, "
                "so not replayed (the recordings stay as they are)"
            )
        if total.sources.get("replayed"):
            terminalreporter.write_line("replayed turns come from recordings; --aitest-record=all records them anew")
        if self._verdicts:
            _summarize_verdicts(terminalreporter, self._verdicts)
        self._tools.summarize(terminalreporter)
        for note in task_only_lines(self._task_only):
            terminalreporter.write_line(note, yellow=True)


def _summarize_verdicts(terminalreporter, verdicts: dict[str, Verdict]) -> None:
    """How the repeated scenarios came out, and each one that is not a stable pass."""
    labels = Counter(verdict.label for verdict in verdicts.values())
    attempts = sum(verdict.attempts for verdict in verdicts.values())
    saved = sum(verdict.limit - verdict.attempts for verdict in verdicts.values() if verdict.early_stop)
    terminalreporter.write_line(
        f"{_count(len(verdicts), 'repeated scenario')}, {_count(attempts, 'attempt')}"
        + (f" ({_count(saved, 'attempt')} saved by early stop)" if saved else "")
        + ": "
        + ", ".join(f"{count} {label}" for label, count in labels.most_common())
    )
    for nodeid, verdict in verdicts.items():
        if verdict.label != "stable pass":
            terminalreporter.write_line(f"  {nodeid}: {verdict.summary}", red=verdict.decision == "failed")


def _unreported(nodeid: str) -> TestResult:
    """The result of a test known only by its id, for a test whose worker died before reporting it."""
    file = nodeid.split("::", 1)[0]
    kind = "scenario" if file.endswith(".feature") else "python"
    return TestResult(nodeid=nodeid, kind=kind, name=nodeid.rsplit("::", 1)[-1], file=file)


def _asked_for(config: pytest.Config, name: str) -> tuple[str, str] | None:
    """Where output `name` is to be written, after how it was asked for (`--aitest-json` or `aitest_json =`)."""
    if option := config.getoption(f"aitest_{name}"):
        return f"--aitest-{name}", option
    if ini := config.getini(f"aitest_{name}"):
        return f"aitest_{name} =", ini
    return None


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")
