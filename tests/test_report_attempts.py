"""Repeated attempts in the HTML report and the Markdown summary, from real runs on the scripted model."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from test_report_html import browser, open_report  # noqa: F401 (the module-scoped browser fixture)

from aitest_bdd.report.markdown import cell, render_markdown
from aitest_bdd.report.outputs import read_baseline, write_html, write_markdown
from aitest_bdd.results.schema import RunResults
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

# With seed 6: Paris passes attempts 1, 3 and 5 of 5; the strong model all 5 in Rome, the weak one 2 (2 and 4).
SCRIPT: dict[str, Any] = {
    "seed": 6,
    "rules": [
        {"user_regex": "weather in Paris", "chance": 0.6, "replies": [{"content": "Sunny in Paris, 21 degrees."}]},
        {"user_regex": "strong-model: weather in Rome", "chance": 0.9, "replies": [{"content": "Sunny in Rome."}]},
        {"user_regex": "weak-model: weather in Rome", "chance": 0.3, "replies": [{"content": "Sunny in Rome."}]},
        {"user_regex": "weather in", "replies": [{"content": "I cannot tell."}]},
        {"user_regex": "thanks", "replies": [{"content": "You're welcome!"}]},
    ],
}
# The baseline's model always knows Paris.
BASE_SCRIPT = {**SCRIPT, "rules": [{**SCRIPT["rules"][0], "chance": None}, *SCRIPT["rules"][1:]]}
FEATURE = """
Feature: Weather
  Scenario: Paris
    Given the agent "plain"
    When the user says "What's the weather in Paris?"
    Then the response contains "Sunny"

  Scenario: Thanks
    Given the agent "plain"
    When the user says "thanks"
    Then the response contains "welcome"

  Scenario Outline: Rome on <model>
    Given the agent "plain" using model "<model>"
    When the user says "<model>: weather in Rome?"
    Then the response contains "Sunny"

    Examples:
      | model        |
      | strong-model |
      | weak-model   |
"""
CONFTEST = """
import pytest

from aitest_bdd import Agent, Provider


@pytest.fixture
def aitest_agents():
    return [Agent(name="plain", provider=Provider(model="scripted-default", base_url={base_url!r}, max_retries=0))]
"""


def run(folder: Path, script: dict[str, Any], *args: str) -> RunResults:
    """A real pytest run of FEATURE on the scripted model, writing `r.json`, `r.html` and `r.md` in `folder`."""
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (folder / "weather.feature").write_text(textwrap.dedent(FEATURE).lstrip())
    with ScriptedModelServer(Script.model_validate(script)) as server:
        (folder / "conftest.py").write_text(CONFTEST.format(base_url=server.base_url))
        outputs = ["--aitest-json=r.json", "--aitest-report=r.html", "--aitest-md=r.md"]
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--aitest-record=live", *outputs, *args]
        subprocess.run(command, cwd=folder, capture_output=True, timeout=60, check=False)
    return RunResults.model_validate_json((folder / "r.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """This run (every scenario 5 times) and its baseline (up to 5 times, stopping at a first failure)."""
    root = tmp_path_factory.mktemp("attempts")
    run(root / "new", SCRIPT, "--aitest-repeat", "5")
    run(root / "base", BASE_SCRIPT, "--aitest-repeat", "up-to 5")
    return {"new": root / "new", "base": root / "base"}


@pytest.fixture
def page(browser: Browser, runs: dict[str, Path]) -> Iterator[Page]:  # noqa: F811
    page = open_report(browser, runs["new"] / "r.html")
    yield page
    page.context.close()


def entry(page: Page, name: str) -> str:
    """The id of the listed test whose title is `name`."""
    return page.locator("#list > .entry", has=page.locator(".title", has_text=name)).first.get_attribute("id")


def test_a_repeated_scenario_shows_its_label_verdict_and_where_it_breaks(page: Page) -> None:
    paris, thanks = entry(page, "Paris"), entry(page, "Thanks")
    assert page.inner_text(f"#{paris} .head .badge.label") == "◐ flaky"
    assert page.inner_text(f"#{thanks} .head .badge.label") == "✓ stable pass"
    page.click(f"#{paris} .head")
    assert page.inner_text(f"#{paris} .verdict-line .summary") == (
        "3/5 passed (60 %, 95 % CI 23–88 %), flaky; without a pass-rate gate (--aitest-min-pass-rate), "
        "every attempt must pass"
    )
    breaks = page.locator(f"#{paris} table.breaks tr").all_inner_texts()
    assert breaks[1] == 'Then the response contains "Sunny"\t5\tin 2 of the 5 attempts that reached it'
    attempts = page.locator(f"#{paris} .attempt .attempt-head").all_inner_texts()
    assert [" ".join(text.split()[:4]) for text in attempts] == [
        "Attempt 1 ✓ passed",
        "Attempt 2 ✗ failed",
        "Attempt 3 ✓ passed",
        "Attempt 4 ✗ failed",
        "Attempt 5 ✓ passed",
    ]
    assert 'expected the response of turn 1 to contain "Sunny"' in attempts[1]
    assert "Agents\nplain on scripted-default\n" in page.inner_text(f"#{paris} .facts")


def test_each_attempts_flow_is_one_click_away(page: Page) -> None:
    paris = entry(page, "Paris")
    page.click(f"#{paris} .head")
    assert not page.locator(f"#{paris} .attempt-flow").first.is_visible()
    page.click(f"#{paris} .attempt[data-attempt='3'] .attempt-head")
    flow = page.locator(f"#{paris} .attempt[data-attempt='3'] .attempt-flow")
    assert flow.locator(".turn").count() == 1
    assert flow.locator(".bubble.user .said").inner_text() == "What's the weather in Paris?"
    assert flow.locator(".bubble.assistant .said").inner_text() == "Sunny in Paris, 21 degrees."
    page.click(f"#{paris} .attempt[data-attempt='2'] .attempt-head")
    failed = page.locator(f"#{paris} .attempt[data-attempt='2'] .attempt-flow")
    assert failed.locator(".bubble.assistant .said").inner_text() == "I cannot tell."
    assert failed.locator(".step.failed .text").inner_text() == 'the response contains "Sunny"'


def test_the_matrix_is_a_heat_map_of_pass_rates(page: Page) -> None:
    row = page.locator("#matrix tbody tr", has_text="Rome on <model>")
    weak = row.locator(".cell-box", has=page.locator("a[data-model='weak-model']"))
    strong = row.locator(".cell-box", has=page.locator("a[data-model='strong-model']"))
    assert weak.locator(".cell-rate").inner_text() == "◐ 2/5"
    assert strong.locator(".cell-rate").inner_text() == "✓ 5/5"
    assert weak.get_attribute("title").startswith("2/5 passed (40 %, 95 % CI 12–77 %), flaky · weather.feature::")
    assert weak.get_attribute("class") == "cell-box heat h4" and strong.get_attribute("class") == "cell-box heat h10"
    colors = [box.evaluate("node => getComputedStyle(node).backgroundColor") for box in (weak, strong)]
    assert colors[0] != colors[1]
    pair = page.inner_text("#model-pairs tbody tr")
    assert pair.split("\t") == [
        "strong-model vs weak-model",
        "1",
        "5/5 passed (100 %, 95 % CI 57–100 %)",
        "2/5 passed (40 %, 95 % CI 12–77 %)",
        "0.167",
    ]


def test_the_overview_shows_pass_rates_per_model(page: Page) -> None:
    rows = page.locator("#repeats tbody tr").all_inner_texts()
    assert rows == [
        "scripted-default\t2\t10\t8/10 passed (80 %, 95 % CI 49–94 %)\tpass^5 50 %",
        "strong-model\t1\t5\t5/5 passed (100 %, 95 % CI 57–100 %)\tpass^5 100 %",
        "weak-model\t1\t5\t2/5 passed (40 %, 95 % CI 12–77 %)\tpass^5 0 %",
    ]
    assert page.locator("#saved").count() == 0  # every attempt ran


def test_the_attempts_early_stop_saved(browser: Browser, runs: dict[str, Path]) -> None:  # noqa: F811
    base = RunResults.model_validate_json((runs["base"] / "r.json").read_text(encoding="utf-8"))
    saved = sum(test.verdict.limit - test.verdict.attempts for test in base.tests if test.verdict.early_stop)
    assert saved == 4  # the weak model failed its first attempt
    page = open_report(browser, runs["base"] / "r.html")
    assert page.inner_text("#saved").startswith("Early stop saved 4 attempts")
    page.context.close()


def test_a_scenario_that_regressed_shows_in_the_changes_from_the_baseline(browser: Browser, runs) -> None:  # noqa: F811
    new = RunResults.model_validate_json((runs["new"] / "r.json").read_text(encoding="utf-8"))
    path = runs["new"] / "with-baseline.html"
    write_html(new, path, read_baseline(str(runs["base"] / "r.json"), new))
    page = open_report(browser, path)
    verdict = page.inner_text("#baseline .baseline-verdict")
    assert verdict.startswith("Not enough evidence: 4 scenarios in both runs")
    changed = page.locator("#baseline tbody tr").all_inner_texts()
    assert "weather.feature::test_paris\t5/5 (100 %)\t3/5 (60 %)\t1\t–" in changed
    page.context.close()


@pytest.mark.parametrize("contents", [None, "not json", '{"tests": 3}'])
def test_a_baseline_that_cannot_be_read_costs_only_its_section(
    runs: dict[str, Path], tmp_path: Path, contents: str | None
) -> None:
    new = RunResults.model_validate_json((runs["new"] / "r.json").read_text(encoding="utf-8"))
    baseline_path = tmp_path / "base.json"
    if contents is not None:
        baseline_path.write_text(contents)
    baseline = read_baseline(str(baseline_path), new)
    write_html(new, tmp_path / "r.html", baseline)
    write_markdown(new, tmp_path / "r.md", baseline)
    reasons = {
        None: "cannot be read: No such file or directory",
        "not json": "not valid JSON (Expecting value: line 1 column 1 (char 0))",
        '{"tests": 3}': "not aitest-bdd results: give the --aitest-json file of a run",
    }
    line = f"The baseline {baseline_path} was not used: {reasons[contents]}"
    assert line in (tmp_path / "r.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert f"### Changes from the baseline\n\n{cell(line, 400)}\n\n###" in markdown
    assert "### Repeated attempts" in markdown


def test_the_markdown_summary_shows_verdicts_rates_and_the_baseline(runs: dict[str, Path]) -> None:
    markdown = (runs["new"] / "r.md").read_text(encoding="utf-8")
    assert "| scripted-default | 2 | 10 | 8/10 passed (80 %, 95 % CI 49–94 %) | pass^5 50 % |" in markdown
    assert (
        "| Weather › Paris (weather.feature:2) | 3/5 passed (60 %, 95 % CI 23–88 %), flaky; without a pass-rate "
        "gate (--aitest-min-pass-rate), every attempt must pass |"
    ) in markdown
    assert "| Weather › Thanks (weather.feature:7) | 5/5 passed (100 %, 95 % CI 57–100 %), stable pass |" in markdown
    assert '| Then the response contains "Sunny" (2 of 5 failed) | 3/5 passed (60 %' in markdown
    assert "| Rome on &lt;model&gt; | ✅ 5/5 | ❌ 2/5 |" in markdown
    assert "Changes from the baseline" not in markdown
    new = RunResults.model_validate_json((runs["new"] / "r.json").read_text(encoding="utf-8"))
    compared = render_markdown(new, baseline=read_baseline(str(runs["base"] / "r.json"), new))
    assert "### Changes from the baseline\n\nNot enough evidence: 4 scenarios in both runs" in compared
    assert "| weather.feature::test\\_paris | 5/5 (100 %) | 3/5 (60 %) | 1 | – |" in compared
