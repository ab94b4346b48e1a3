"""Record each test's Gherkin steps and conversations, and hand them to the run's results.

The record rides on the test report (`report.aitest`), so it reaches the controller under pytest-xdist.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .agents import SESSIONS_KEY, forget
from .config import ConfigError
from .errors import TurnError
from .results import StepResult, TestResult

RESULT_KEY = pytest.StashKey[TestResult]()
STEP_STARTED_KEY = pytest.StashKey[float]()
REPORT_ATTRIBUTE = "aitest"


def _turns_so_far(item: pytest.Item) -> int:
    return sum(len(session.turns) for session in item.stash.get(SESSIONS_KEY, []))


def _step(item: pytest.Item, step) -> StepResult | None:
    result = item.stash.get(RESULT_KEY, None)
    if result is None:
        return None
    return next((s for s in result.steps if s.line == step.line_number and s.text == step.name), None)


def relative_path(path: str, config: pytest.Config) -> str:
    """`path` relative to the root directory, when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(config.rootpath))
    except ValueError:
        return path


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature, scenario) -> None:
    item = request.node
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec else {}
    item.stash[RESULT_KEY] = TestResult(
        nodeid=item.nodeid,
        kind="scenario",
        name=scenario.name,
        feature=feature.name,
        feature_description=feature.description or None,
        file=relative_path(feature.filename, request.config),
        line=scenario.line_number,
        tags=sorted(scenario.tags | feature.tags),
        example={str(key): str(value) for key, value in example.items()},
        steps=[
            StepResult(
                keyword=step.keyword.strip(),
                text=step.name,
                line=step.line_number,
                docstring=step.docstring,
                datatable=step.datatable.raw() if step.datatable is not None else None,
            )
            for step in scenario.steps
        ],
    )


def pytest_bdd_before_step(request: pytest.FixtureRequest, step) -> None:
    item = request.node
    item.stash[STEP_STARTED_KEY] = time.perf_counter()
    record = _step(item, step)
    if record is not None:
        record.turns_before = _turns_so_far(item)


def finish_step(request: pytest.FixtureRequest, step, status: str, message: str | None = None) -> None:
    item = request.node
    record = _step(item, step)
    if record is None:
        return
    record.status = status  # type: ignore[assignment]
    record.message = message
    started = item.stash.get(STEP_STARTED_KEY, None)
    if started is not None:
        record.duration_ms = (time.perf_counter() - started) * 1000


def pytest_bdd_after_step(request: pytest.FixtureRequest, step) -> None:
    finish_step(request, step, "passed")


def pytest_bdd_step_error(request: pytest.FixtureRequest, step, exception: Exception) -> None:
    finish_step(request, step, "failed", failure_text(exception))


def pytest_bdd_step_func_lookup_error(request: pytest.FixtureRequest, step, exception: Exception) -> None:
    finish_step(request, step, "undefined", str(exception))


def failure_text(exception: BaseException) -> str:
    """What a failed step says: pytest.fail's message, or the exception's type and text."""
    message = getattr(exception, "msg", None)
    if isinstance(message, str):
        return message
    text = str(exception)
    return f"{type(exception).__name__}: {text}" if text else type(exception).__name__


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report: pytest.TestReport = yield
    if call.excinfo is not None and call.excinfo.errisinstance((TurnError, ConfigError)):
        report.longrepr = str(call.excinfo.value)
    if report.when == "teardown":
        forget(item)
        for key in (RESULT_KEY, STEP_STARTED_KEY):
            if key in item.stash:
                del item.stash[key]
        return report
    attach = report.when == "call" or (report.when == "setup" and not report.passed)
    if attach:
        result = _result_for(item)
        if result is not None:
            result.status = "skipped" if report.skipped else ("failed" if report.failed else "passed")
            result.message = _message(result, report) if report.failed else None
            result.duration_ms = report.duration * 1000
            result.conversations = [session.conversation for session in item.stash.get(SESSIONS_KEY, [])]
            if report.failed:
                _name_failed_step(result, report)
            setattr(report, REPORT_ATTRIBUTE, result.model_dump(mode="json"))
            item.user_properties.extend(junit_properties(result))
    return report


def _name_failed_step(result: TestResult, report: pytest.TestReport) -> None:
    """Add the failing Gherkin step, with its file and line, to what pytest prints about the failure."""
    failed = next((step for step in result.steps if step.status in ("failed", "undefined")), None)
    if failed is not None:
        report.sections.append(("failed step", f"{result.file}:{failed.line}: {failed.keyword} {failed.text}"))


def junit_properties(result: TestResult) -> list[tuple[str, str]]:
    """Per-test properties for JUnit XML: models, turns, tool calls, tokens and cost."""
    turns = [turn for conversation in result.conversations for turn in conversation.turns]
    costs = [turn.cost_usd for turn in turns]
    properties = [
        ("aitest_model", ", ".join(result.models)),
        ("aitest_turns", str(len(turns))),
        ("aitest_tool_calls", str(result.tool_call_count)),
        ("aitest_tokens", str(result.usage.total_tokens)),
    ]
    if turns and None not in costs:
        properties.append(("aitest_cost_usd", f"{sum(c for c in costs if c is not None):.6f}"))
    return properties


def _result_for(item: pytest.Item) -> TestResult | None:
    result = item.stash.get(RESULT_KEY, None)
    if result is not None:
        return result
    if not item.stash.get(SESSIONS_KEY, []):
        return None
    from .python_api import session_key

    path, line, name = item.location
    return TestResult(
        nodeid=item.nodeid, kind="python", name=name, file=path, line=(line or 0) + 1, session=session_key(item)
    )


def _message(result: TestResult, report: pytest.TestReport) -> str:
    """The failing step's message, else pytest's account of the failure."""
    failed_step = next((step for step in result.steps if step.status in ("failed", "undefined")), None)
    if failed_step is not None and failed_step.message:
        return failed_step.message
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message.removeprefix("Failed: ")
    return str(report.longrepr)
