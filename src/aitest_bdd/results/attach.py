"""Each test's result, finished when pytest reports the test and attached to the report.

The result rides on the test report (`report.aitest`), so it reaches the controller under pytest-xdist.
Everything the report carries out of the process (the result, the failure text, captured output) passes
through the run's redactor first; text meant for the terminal shows control characters escaped.
"""

from __future__ import annotations

import re

import pytest

from ..config import ConfigError
from ..errors import TurnError
from ..redaction import Redactor
from ..run.context import run_context
from ..run.registry import session_key
from ..run.test_state import released, sessions_of
from ..unicode import valid_data, valid_text
from .junit import junit_properties
from .schema import TestResult

RESULT_KEY = released(pytest.StashKey[TestResult]())
"""A scenario's result, started by the step log before its first step."""
REPORT_ATTRIBUTE = "aitest"


def clean_failure(item: pytest.Item, call: pytest.CallInfo) -> None:
    """Redact the message of a `pytest.fail` before pytest turns it into the report's text."""
    if call.excinfo is not None:
        clean_fail_message(item.config, call.excinfo.value)


def clean_fail_message(config: pytest.Config, failed: BaseException) -> None:
    """Redact a `pytest.fail` message in place: at a failing step too, where other plugins (Allure) read it."""
    if isinstance(failed, pytest.fail.Exception) and isinstance(failed.msg, str):
        failed.msg = terminal_text(run_context(config).redactor, failed.msg)


def attach_result(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """Finish the test's result from pytest's report of it, attach it to the report and the JUnit properties,
    and clean what the report shows."""
    redactor = run_context(item.config).redactor
    result = _result_for(item) if report.when == "call" or (report.when == "setup" and not report.passed) else None
    if result is not None:
        result.status = "skipped" if report.skipped else ("failed" if report.failed else "passed")
        result.message = _message(result, report) if report.failed else _skip_reason(report)
        result.duration_ms = report.duration * 1000
        if not result.attempts:
            result.conversations = [session.conversation for session in sessions_of(item)]
            if result.kind == "scenario":
                run_context(item.config).spending.add(sum(c.spent_usd for c in result.conversations))
        if report.failed and result.verdict is None:
            _name_failed_step(result, report)
        setattr(report, REPORT_ATTRIBUTE, redactor.data(valid_data(result.model_dump(mode="json"))))
        item.user_properties.extend((name, redactor.text(value)) for name, value in junit_properties(result))
    _clean(report, call, redactor)


def _clean(report: pytest.TestReport, call: pytest.CallInfo, redactor: Redactor) -> None:
    """The report's failure text and sections without secrets, and fit for a terminal.

    Our own errors are shown as their message alone; any other failure keeps pytest's account, which is
    replaced by its cleaned text only when cleaning changed it (a secret in a traceback, say).
    """
    if call.excinfo is not None and call.excinfo.errisinstance((TurnError, ConfigError)):
        report.longrepr = terminal_text(redactor, str(call.excinfo.value))
    elif report.failed and report.longrepr is not None and not isinstance(report.longrepr, str):
        text = str(report.longrepr)
        cleaned = terminal_text(redactor, text)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, terminal_text(redactor, text)) for title, text in report.sections]


def terminal_text(redactor: Redactor, text: str) -> str:
    """`text` without secrets, valid Unicode, and with control characters but newline and tab shown escaped."""
    return _CONTROL.sub(_escape, redactor.text(valid_text(text)))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return match.group(0).encode("unicode_escape").decode("ascii")


def _name_failed_step(result: TestResult, report: pytest.TestReport) -> None:
    """Add the failing Gherkin step, with its file and line, to what pytest prints about the failure."""
    failed = next((step for step in result.steps if step.status in ("failed", "undefined")), None)
    if failed is not None:
        report.sections.append(("failed step", f"{result.file}:{failed.line}: {failed.keyword} {failed.text}"))


def _result_for(item: pytest.Item) -> TestResult | None:
    """The scenario's result, or a new one for a Python API test that talked, or tried to talk, to an agent."""
    result = item.stash.get(RESULT_KEY, None)
    if result is not None:
        return result
    if not sessions_of(item) and "aitest_run" not in getattr(item, "fixturenames", ()):
        return None
    path, line, name = item.location
    return TestResult(
        nodeid=item.nodeid, kind="python", name=name, file=path, line=(line or 0) + 1, session=session_key(item)
    )


def _skip_reason(report: pytest.TestReport) -> str | None:
    """Why a test was skipped (a scenario the spending limit left unrun, say)."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return None


def _message(result: TestResult, report: pytest.TestReport) -> str:
    """The failing step's message, else pytest's account of the failure (for repeated attempts, their verdict)."""
    failed_step = next((step for step in result.steps if step.status in ("failed", "undefined")), None)
    if failed_step is not None and failed_step.message and result.verdict is None:
        return failed_step.message
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message.removeprefix("Failed: ")
    return str(report.longrepr)
