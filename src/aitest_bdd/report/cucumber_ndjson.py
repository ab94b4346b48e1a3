"""A run's results as Cucumber Messages (NDJSON, one envelope a line), with the `cucumber-messages` library.

The Gherkin documents and pickles come from the feature files, parsed again with `gherkin-official`; each
scenario's result is matched to its pickle by file, line and Outline row. Each step carries its attachments
(`step_attachments`). The results keep durations, not clock times: the timestamps lay the tests end to end,
ending when the results were gathered. Tests of the Python API have no pickle and are left out.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cucumber_messages import (
    Attachment,
    AttachmentContentEncoding,
    Duration,
    Envelope,
    GherkinDocument,
    Hook,
    Meta,
    Pickle,
    Product,
    Source,
    SourceMediaType,
    SourceReference,
    TestCase,
    TestCaseFinished,
    TestCaseStarted,
    TestRunFinished,
    TestRunStarted,
    TestStep,
    TestStepFinished,
    TestStepResult,
    TestStepResultStatus,
    TestStepStarted,
    Timestamp,
    message_converter,
)
from gherkin.ast_builder import AstBuilder
from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler
from gherkin.stream.id_generator import IdGenerator

from ..results.schema import RunResults, StepResult, TestResult
from .step_attachments import StepRun, step_attachments, step_runs

STATUS = {
    "passed": TestStepResultStatus.passed,
    "failed": TestStepResultStatus.failed,
    "skipped": TestStepResultStatus.skipped,
    "undefined": TestStepResultStatus.undefined,
}
OUTSIDE_STEPS = "aitest-bdd: the test outside its steps"
"""The hook that carries a failure no step had (a test's teardown, a crashed xdist worker)."""


class UnmatchedScenario(Exception):
    """A result whose scenario is no longer in its feature file."""


@dataclass
class FeatureFile:
    """A parsed feature file: its document, its pickles, and what the results are matched by."""

    source: Source
    document: dict[str, Any]
    pickles: list[dict[str, Any]]
    lines: dict[str, int] = field(default_factory=dict)
    """The line of each scenario, step and Examples row, by AST node id."""
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    """Each Examples row's values by column, by row id."""
    used: set[str] = field(default_factory=set)

    def pickle_of(self, test: TestResult) -> dict[str, Any]:
        """The pickle `test` ran: the scenario at its line, the row with its Outline values."""
        for pickle in self.pickles:
            scenario, *row = pickle["astNodeIds"]
            if pickle["id"] in self.used or self.lines.get(scenario) != test.line:
                continue
            if (self.rows[row[0]] if row else {}) == test.example:
                self.used.add(pickle["id"])
                return pickle
        raise UnmatchedScenario(f"{test.file}:{test.line} ({test.name}) is no longer a scenario in the file")


def parse_feature(path: Path, uri: str, ids: IdGenerator) -> FeatureFile:
    """The feature file at `path`, named `uri` in the messages, parsed with ids from `ids`."""
    text = path.read_text(encoding="utf-8")
    document = Parser(AstBuilder(ids)).parse(text)
    document["uri"] = uri
    pickles = Compiler(ids).compile(document)
    parsed = FeatureFile(
        Source(data=text, media_type=SourceMediaType.text_x_cucumber_gherkin_plain, uri=uri), document, pickles
    )
    _index(document.get("feature") or {}, parsed)
    return parsed


def _index(node: dict[str, Any], parsed: FeatureFile) -> None:
    """Note the lines of the scenarios, steps and rows under `node`, and each row's values."""
    for child in node.get("children", []):
        for kind in ("background", "scenario", "rule"):
            if kind in child:
                _index(child[kind], parsed)
    if "id" in node and "steps" in node:
        parsed.lines[node["id"]] = node["location"]["line"]
    for step in node.get("steps", []):
        parsed.lines[step["id"]] = step["location"]["line"]
    for examples in node.get("examples", []):
        header = [cell["value"] for cell in examples.get("tableHeader", {}).get("cells", [])]
        for row in examples.get("tableBody", []):
            parsed.rows[row["id"]] = dict(zip(header, (cell["value"] for cell in row["cells"]), strict=False))


class Clock:
    """The messages' timestamps: the tests laid end to end, from the run's start."""

    def __init__(self, results: RunResults, tests: list[TestResult]) -> None:
        self.now = results.created_at - timedelta(milliseconds=sum(test.duration_ms for test in tests))

    def stamp(self) -> Timestamp:
        seconds = self.now.timestamp()
        return Timestamp(seconds=int(seconds), nanos=self.now.microsecond * 1000)

    def advance(self, ms: float) -> None:
        self.now += timedelta(milliseconds=ms)


def render_messages(results: RunResults) -> str:
    """The results as Cucumber Messages NDJSON, each feature file read from `results.root_dir`."""
    ids = IdGenerator()
    tests = [test for test in results.tests if test.kind == "scenario"]
    root = results.root_dir or Path.cwd()
    files = {uri: parse_feature(root / uri, uri, ids) for uri in dict.fromkeys(test.file for test in tests)}
    envelopes = [Envelope(meta=_meta(results))]
    for parsed in files.values():
        envelopes.append(Envelope(source=parsed.source))
        envelopes.append(Envelope(gherkin_document=message_converter.from_dict(parsed.document, GherkinDocument)))
        envelopes += [Envelope(pickle=message_converter.from_dict(pickle, Pickle)) for pickle in parsed.pickles]
    hook = Hook(id=ids.get_next_id(), source_reference=SourceReference(uri="aitest-bdd"), name=OUTSIDE_STEPS)
    envelopes.append(Envelope(hook=hook))
    clock = Clock(results, tests)
    run_id = ids.get_next_id()
    envelopes.append(Envelope(test_run_started=TestRunStarted(timestamp=clock.stamp(), id=run_id)))
    for test in tests:
        parsed = files[test.file]
        envelopes += _test_case(test, parsed, parsed.pickle_of(test), ids, run_id, hook.id, clock)
    success = all(test.status != "failed" for test in tests)
    finished = TestRunFinished(success=success, timestamp=clock.stamp(), test_run_started_id=run_id)
    envelopes.append(Envelope(test_run_finished=finished))
    return "".join(json.dumps(message_converter.to_dict(envelope), ensure_ascii=False) + "\n" for envelope in envelopes)


def _meta(results: RunResults) -> Meta:
    return Meta(
        protocol_version=version("cucumber-messages"),
        implementation=Product(name=results.tool, version=results.tool_version or None),
        runtime=Product(name="python", version=platform.python_version()),
        os=Product(name=platform.system()),
        cpu=Product(name=platform.machine()),
    )


def _test_case(
    test: TestResult,
    parsed: FeatureFile,
    pickle: dict[str, Any],
    ids: IdGenerator,
    run_id: str,
    hook: str,
    clock: Clock,
) -> list[Envelope]:
    """The test case of `test`, then each run of it (each attempt, when repeated) step by step."""
    steps = [
        TestStep(id=ids.get_next_id(), pickle_step_id=step["id"], step_definition_ids=[]) for step in pickle["steps"]
    ]
    runs = step_runs(test)
    outcomes = [_run_outcome(test, run) for run in runs]
    outside = TestStep(id=ids.get_next_id(), hook_id=hook)
    failed_outside = any(_failed_outside(status, run) for run, (status, _, _) in zip(runs, outcomes, strict=True))
    case = TestCase(
        id=ids.get_next_id(),
        pickle_id=pickle["id"],
        test_steps=[*steps, outside] if failed_outside else steps,
        test_run_started_id=run_id,
    )
    envelopes = [Envelope(test_case=case)]
    lines = [parsed.lines[step["astNodeIds"][0]] for step in pickle["steps"]]
    for run, (status, message, duration) in zip(runs, outcomes, strict=True):
        started_id = ids.get_next_id()
        started = TestCaseStarted(attempt=run.attempt, id=started_id, test_case_id=case.id, timestamp=clock.stamp())
        envelopes.append(Envelope(test_case_started=started))
        begun = clock.now
        attachments = step_attachments(run)
        by_line = {step.line: index for index, step in enumerate(run.steps)}
        for test_step, line in zip(steps, lines, strict=True):
            index = by_line.get(line)
            ran = run.steps[index] if index is not None else StepResult(keyword="", text="", line=line)
            envelopes += _step(started_id, test_step.id, ran, attachments[index] if index is not None else [], clock)
        if failed_outside:
            failed = _failed_outside(status, run)
            outcome = StepResult(
                keyword="",
                text="",
                line=0,
                status="failed" if failed else "passed",
                message=message if failed else None,
            )
            envelopes += _step(started_id, outside.id, outcome, [], clock)
        clock.now = max(clock.now, begun + timedelta(milliseconds=duration))
        finished = TestCaseFinished(test_case_started_id=started_id, timestamp=clock.stamp(), will_be_retried=False)
        envelopes.append(Envelope(test_case_finished=finished))
    return envelopes


def _failed_outside(status: str, run: StepRun) -> bool:
    """Whether the run failed with no step failing: in its teardown, say, or with its xdist worker."""
    return status == "failed" and all(step.status != "failed" for step in run.steps)


def _run_outcome(test: TestResult, run: StepRun) -> tuple[str, str | None, float]:
    """The status, message and duration of one run: the test's, or its attempt's."""
    if not test.attempts:
        return test.status, test.message, test.duration_ms
    attempt = test.attempts[run.attempt]
    return attempt.status, attempt.message, attempt.duration_ms


def _step(started_id: str, step_id: str, step: StepResult, attachments: list, clock: Clock) -> list[Envelope]:
    envelopes = [
        Envelope(
            test_step_started=TestStepStarted(
                test_case_started_id=started_id, test_step_id=step_id, timestamp=clock.stamp()
            )
        )
    ]
    for attachment in attachments:
        attached = Attachment(
            body=attachment.text,
            content_encoding=AttachmentContentEncoding.identity,
            media_type=attachment.media_type,
            file_name=attachment.name,
            test_case_started_id=started_id,
            test_step_id=step_id,
            timestamp=clock.stamp(),
        )
        envelopes.append(Envelope(attachment=attached))
    clock.advance(step.duration_ms)
    seconds, rest = divmod(round(step.duration_ms * 1_000_000), 1_000_000_000)
    result = TestStepResult(
        duration=Duration(seconds=seconds, nanos=rest), status=STATUS[step.status], message=step.message
    )
    finished = TestStepFinished(
        test_case_started_id=started_id, test_step_id=step_id, test_step_result=result, timestamp=clock.stamp()
    )
    envelopes.append(Envelope(test_step_finished=finished))
    return envelopes
