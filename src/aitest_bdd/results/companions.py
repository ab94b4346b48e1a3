"""Each test's transcript in the other pytest reports: pytest-html (`--html`) and Allure (`--alluredir`).

Both plugins are optional: each is imported only when its report is being written. What they get is built
from the test's result on its report, which is already redacted, and passes through the redactor again; a
failing step's message is redacted as the step fails, since Allure records it then.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

from ..conversation.transcript import format_turns
from ..conversation.turns import Conversation
from ..run.context import run_context
from .attach import REPORT_ATTRIBUTE, terminal_text
from .schema import TestResult

TRANSCRIPT_NAME = "aitest transcript"
TOOL_CALLS_NAME = "aitest tool calls"


def attach_transcript(item: pytest.Item, report: pytest.TestReport) -> None:
    """Add the test's transcript to the pytest-html row, and to the Allure result with its tool calls as JSON."""
    config = item.config
    writes_html = config.pluginmanager.has_plugin("html") and bool(config.getoption("htmlpath", None))
    writes_allure = bool(config.getoption("allure_report_dir", None))
    data = getattr(report, REPORT_ATTRIBUTE, None)
    if not (writes_html or writes_allure) or data is None:
        return
    result = TestResult.model_validate(data)
    if not result.conversations:
        return
    redactor = run_context(config).redactor
    text = terminal_text(redactor, transcript(result.conversations))
    if writes_html:
        from pytest_html import extras  # lazily: pytest-html is optional

        report.extras = [*getattr(report, "extras", []), extras.html(f"<pre>{html.escape(text, quote=False)}</pre>")]
    if writes_allure and _allure_test_is_open(config, result):
        import allure  # lazily: allure-pytest and allure-pytest-bdd are optional

        allure.attach(text, name=TRANSCRIPT_NAME, attachment_type=allure.attachment_type.TEXT)
        calls = redactor.data(tool_calls(result.conversations))
        body = json.dumps(calls, ensure_ascii=False, indent=2)
        allure.attach(body, name=TOOL_CALLS_NAME, attachment_type=allure.attachment_type.JSON)


def transcript(conversations: list[Conversation]) -> str:
    """Each conversation under a line naming its agent and model, then its turns."""
    parts = []
    for conversation in conversations:
        attempt = f", attempt {conversation.attempt}" if conversation.attempt is not None else ""
        heading = f"agent {conversation.agent!r}, model {conversation.model!r}{attempt}"
        parts.append(f"{heading}\n{format_turns(conversation.turns)}")
    return "\n\n".join(parts)


def tool_calls(conversations: list[Conversation]) -> list[dict[str, Any]]:
    """Every tool call, in order, with the agent and the turn that made it."""
    return [
        {"agent": conversation.agent, "turn": turn.number, **call.model_dump(mode="json")}
        for conversation in conversations
        for turn in conversation.turns
        for call in turn.tool_calls
    ]


def _allure_test_is_open(config: pytest.Config, result: TestResult) -> bool:
    """Whether Allure has a result open for the test: allure-pytest-bdd opens one for scenarios only."""
    return result.kind == "scenario" or not config.pluginmanager.has_plugin("allure_pytest_bdd")
