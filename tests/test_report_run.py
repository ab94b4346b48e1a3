"""Reports of real runs: a pytester project on the scripted model with real MCP servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from test_gherkin_session import BANKING_SCRIPT
from test_report_html import CHROMIUM_ARGS

from aitest_bdd.report.html import render_html
from aitest_bdd.results.schema import RunResults, TestResult

SCRIPT = BANKING_SCRIPT
OUTLINE = """
  Scenario Outline: Balance on <model>
    Given the agent "banking" using model "<model>"
    When the user says "What's my checking balance?"
    Then the turn ran on "large-model"

    Examples:
      | model       |
      | small-model |
      | large-model |
"""
FEATURE = (
    """
Feature: Banking
  Scenario: Balance then thanks
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"
    And the response contains "1,500"
    When the user says "Thanks!"
    Then the response contains "welcome"

  Scenario: Transfer with a wrong expectation
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"
    When the user says "Move 200 of it to savings"
    Then the response contains "2,000"
    And the agent calls "transfer"
"""
    + OUTLINE
)
MODEL_STEP = """

from pytest_bdd import parsers, then


@then(parsers.parse('the turn ran on "{model}"'))
def turn_ran_on(aitest_session, model):
    assert aitest_session.last_turn.model == model, f"the turn ran on {aitest_session.last_turn.model}"
"""
SESSION_TESTS = """
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

agent = Agent(
    name="banking",
    provider=Provider(model="py-model", base_url={base_url!r}, max_retries=0),
    mcp_servers=[MCPServer(command=[sys.executable, "-m", "aitest_bdd.testing.servers.banking"])],
)


@pytest.mark.session("bank-chat")
class TestChat:
    async def test_balance(self, aitest_run):
        assert (await aitest_run(agent, "What's my checking balance?")).tool_was_called("get_balance")

    async def test_thanks(self, aitest_run):
        assert "welcome" in (await aitest_run(agent, "Thanks!")).final_response
"""


def write_project(project, feature: str) -> None:
    """The feature, the `the turn ran on` step, and a Python session of two tests."""
    project.feature("banking", feature)
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text(encoding="utf-8") + MODEL_STEP, encoding="utf-8")
    project.pytester.makepyfile(test_chat=SESSION_TESTS.format(base_url=project.server.base_url))


def timeline(page: Page, entry: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#{entry} .timeline > *",
        """nodes => nodes.map(n => n.classList.contains('turn')
            ? 'turn ' + [...n.querySelectorAll('.said, .tool-name')].map(x => x.textContent).join(' / ')
            : n.dataset.status + ' ' + n.querySelector('.text').textContent)""",
    )


@pytest.mark.script(SCRIPT)
def test_real_run_report(project, tmp_path: Path) -> None:
    write_project(project, FEATURE)
    out = tmp_path / "out"
    result = project.run(f"--aitest-json={out}/r.json", f"--aitest-report={out}/r.html", f"--aitest-md={out}/r.md")
    result.assert_outcomes(passed=4, failed=2)
    text = (out / "r.json").read_text(encoding="utf-8")
    html = (out / "r.html").read_text(encoding="utf-8")
    assert render_html(RunResults.model_validate_json(text)) == html
    index = {test["nodeid"].split("::")[-1]: n for n, test in enumerate(json.loads(text)["tests"])}
    markdown = (out / "r.md").read_text(encoding="utf-8")
    assert 'Then the response contains "2,000" | expected the response of turn 2 to contain "2,000"' in markdown
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((out / "r.html").as_uri())
        page.wait_for_selector("body[data-ready=true]")
        passing = f"t-{index['test_balance_then_thanks']}"
        failing = f"t-{index['test_transfer_with_a_wrong_expectation']}"
        page.click(f"#{passing} .head")
        assert timeline(page, passing) == [
            'passed the agent "banking"',
            'passed the user says "What\'s my checking balance?"',
            "turn What's my checking balance? / get_balance / Your checking balance is $1,500.00.",
            'passed the agent calls "get_balance"',
            'passed the response contains "1,500"',
            'passed the user says "Thanks!"',
            "turn Thanks! / You're welcome!",
            'passed the response contains "welcome"',
        ]
        page.click(f"#{failing} .head")
        assert timeline(page, failing) == [
            'passed the agent "banking"',
            'passed the user says "What\'s my checking balance?"',
            "turn What's my checking balance? / get_balance / Your checking balance is $1,500.00.",
            'passed the agent calls "get_balance"',
            'passed the user says "Move 200 of it to savings"',
            "turn Move 200 of it to savings / transfer / Done: moved $200 to savings.",
            'failed the response contains "2,000"',
            'skipped the agent calls "transfer"',
        ]
        message = page.inner_text(f"#{failing} .step.failed pre.message")
        assert message.startswith('expected the response of turn 2 to contain "2,000"')
        page.click(f"#{failing} .tool-head >> nth=1")
        assert '"savings"' in page.inner_text(f"#{failing} pre.arguments")
        assert '"formatted": "3,400.00"' in page.inner_text(f"#{failing} pre.result")
        cells = {cell.get_attribute("data-model"): cell for cell in page.locator("#matrix a.cell").all()}
        assert cells["small-model"].get_attribute("class") == "cell failed"
        assert cells["large-model"].get_attribute("href") == f"#t-{index['test_balance_on_model[large-model]']}"
        session = f"t-{index['test_balance']}"
        assert "session bank-chat" in page.inner_text(f"#{session} .head")
        assert page.inner_text("#answers") == "Answers: scripted demo model (not a real LLM)"
        page.click(f"#{passing} details.given summary")
        offered = page.locator(f"#{passing} table.tools-offered td.tool-name").all_inner_texts()
        assert "get_balance" in offered and "transfer" in offered
        assert "model call 1" not in page.inner_text(f"#{passing} .body")
        page.locator("#matrix button.compare").click()
        models = [column.get_attribute("data-model") for column in page.locator("#compare .column").all()]
        assert sorted(models) == ["large-model", "small-model"]
        assert page.locator("#compare .column .turn").count() == 2
        browser.close()
    assert "Answers: scripted demo model (not a real LLM)\n" in markdown


@pytest.mark.script(SCRIPT)
def test_xdist_records_the_same_tests(project, tmp_path: Path) -> None:
    write_project(project, "Feature: Banking\n" + OUTLINE)
    runs = {}
    for workers in ("0", "2"):
        path = tmp_path / f"n{workers}.json"
        project.run("-n", workers, f"--aitest-json={path}").assert_outcomes(passed=3, failed=1)
        runs[workers] = {test.nodeid: test for test in RunResults.model_validate_json(path.read_text()).tests}
    assert sorted(runs["0"]) == sorted(runs["2"]) and len(runs["0"]) == 4
    for nodeid, test in runs["0"].items():
        other = runs["2"][nodeid]
        assert (other.kind, other.status, steps(other)) == (test.kind, test.status, steps(test))


def steps(test: TestResult) -> list[tuple[str, str, str, int]]:
    return [(step.keyword, step.text, step.status, step.turns_before) for step in test.steps]
