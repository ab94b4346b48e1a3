"""The HTML report, opened in headless Chromium: overview, matrix, filters, flows, escaping, scale."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from aitest_bdd.conversation.turns import Conversation, Judgement, ModelCall, OfferedTool, ToolCall, Turn, Usage
from aitest_bdd.report import html as report_html
from aitest_bdd.report.html import render_html
from aitest_bdd.results.schema import RunResults, StepResult, TestResult

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<script>window.__xss=1</script><img src=x onerror=window.__xss=1>"
LONG_RESULT = json.dumps({"account": "checking", "history": [f"payment {n}" for n in range(40)]}) + " END-OF-RESULT"


def tool(name: str, arguments: dict[str, Any], result: str, *, error: bool = False) -> ToolCall:
    return ToolCall(
        id=name, name=name, arguments=arguments, server="bank", result_text=result, is_error=error, duration_ms=12
    )


def turn(
    number: int, user: str, reply: str, *tools: ToolCall, model: str = "gpt-4.1-mini", cost: float | None = None
) -> Turn:
    calls = [ModelCall(model=model, tool_calls=[call.name], finish_reason="tool_calls") for call in tools]
    calls.append(ModelCall(model=model, content=reply, finish_reason="stop", usage=Usage(total_tokens=50)))
    return Turn(
        number=number,
        user_message=user,
        model=model,
        model_calls=calls,
        tool_calls=list(tools),
        final_response=reply,
        usage=Usage(prompt_tokens=80, completion_tokens=20, total_tokens=100),
        cost_usd=cost,
        duration_ms=250,
    )


def step(keyword: str, text: str, status: str = "passed", before: int = 0, message: str | None = None) -> StepResult:
    return StepResult(keyword=keyword, text=text, line=1, status=status, turns_before=before, message=message)


def scenario(name: str, steps: list[StepResult], turns: list[Turn], **fields: Any) -> TestResult:
    fields.setdefault("feature", "Banking")
    fields.setdefault("status", "failed" if any(s.status == "failed" for s in steps) else "passed")
    model = turns[0].model if turns else "gpt-4.1-mini"
    return TestResult(
        nodeid=f"features/bank.feature::{name.lower().replace(' ', '_')}{fields.pop('suffix', '')}",
        kind="scenario",
        name=name,
        file="features/bank.feature",
        line=3,
        steps=steps,
        conversations=[Conversation(agent="banking", model=model, turns=turns)] if turns else [],
        duration_ms=900,
        **fields,
    )


def passing_flow() -> TestResult:
    turns = [
        turn(
            1,
            "What's my balance?",
            "Your balance is $1,500.",
            tool("get_balance", {"account": "checking"}, LONG_RESULT),
            cost=0.001,
        ),
        turn(
            2,
            "Move 200 to savings",
            "Done: moved $200.",
            tool("transfer", {"amount": 200}, '{"status": "ok"}'),
            cost=0.002,
        ),
    ]
    turns[0].source, turns[0].tool_calls[0].truncated_from = "replayed", 12000
    turns[1].judgements = [
        Judgement(criterion="names the amount", passed=True, reasoning="It says $200.", model="judge-model")
    ]
    steps = [
        step("Given", 'the agent "banking"'),
        step("When", 'the user says "What\'s my balance?"'),
        step("Then", 'the agent calls "get_balance"', before=1),
        step("When", 'the user says "Move 200 to savings"', before=1),
        step("Then", 'the agent calls "transfer"', before=2),
    ]
    return scenario("Balance then transfer", steps, turns, tags=["smoke"])


def failing_flow() -> TestResult:
    turns = [
        turn(
            1, "Transfer 5000", "I could not: insufficient funds.", tool("transfer", {"amount": 5000}, "no", error=True)
        ),
        turn(2, "Then try 50", "Moved $50.", tool("lookup", {}, "")),
    ]
    odd = turns[1].tool_calls[0]
    odd.raw_arguments, odd.structured_content = '{"limit": 50', {"rows": 2}
    turns[1].model_calls[0].content = "Let me look that up."
    steps = [
        step("Given", 'the agent "banking"'),
        step("When", 'the user says "Transfer 5000"'),
        step("Then", 'the response contains "insufficient"', before=1),
        step("When", 'the user says "Then try 50"', before=1),
        step(
            "Then",
            'the response contains "umbrella"',
            "failed",
            2,
            'expected the response of turn 2 to contain "umbrella"',
        ),
        step("And", 'the agent calls "transfer"', "skipped"),
    ]
    return scenario(
        "Overdraw is refused", steps, turns, message='expected the response of turn 2 to contain "umbrella"'
    )


def outline_row(model: str, passed: bool) -> TestResult:
    reply = "Savings: $3,200." if passed else "I do not know."
    steps = [
        step("Given", f'the agent "banking" using model "{model}"'),
        step("When", 'the user says "Savings balance?"'),
        step(
            "Then",
            'the response contains "3,200"',
            "passed" if passed else "failed",
            1,
            None if passed else 'expected the response of turn 1 to contain "3,200"',
        ),
    ]
    return scenario(
        "Every model finds savings",
        steps,
        [turn(1, "Savings balance?", reply, model=model)],
        example={"model": model},
        suffix=f"[{model}]",
    )


def hostile_flow() -> TestResult:
    steps = [
        step("Given", 'the agent "banking"'),
        step("When", "the user says a hostile thing"),
        step("Then", "nothing breaks", "failed", 1, f"step failed: {XSS}"),
    ]
    turns = [turn(1, f"hello {XSS}", f"reply {XSS}", tool("lookup", {"q": XSS}, f"result {XSS}"))]
    turns[0].judgements = [Judgement(criterion=XSS, passed=False, reasoning=XSS, model="judge-model")]
    return scenario(f"Hostile {XSS}", steps, turns, feature=f"Feature {XSS}", tags=["xss"])


def session_tests() -> list[TestResult]:
    first = turn(1, "Weather in Paris?", "Sunny in Paris.", tool("get_weather", {"city": "Paris"}, "sunny"))
    second = turn(2, "And tomorrow?", "Rain tomorrow, take an umbrella.")
    common = {"kind": "python", "file": "tests/test_weather.py", "session": "weather-chat", "feature": None}
    return [
        TestResult(
            nodeid="tests/test_weather.py::T::test_initial",
            name="test_initial",
            line=10,
            conversations=[Conversation(agent="weather", model="gpt-4.1", turns=[first])],
            **common,
        ),
        TestResult(
            nodeid="tests/test_weather.py::T::test_followup",
            name="test_followup",
            line=20,
            status="failed",
            message="AssertionError: expected a forecast call",
            conversations=[Conversation(agent="weather", model="gpt-4.1", turns=[first, second])],
            **common,
        ),
    ]


def sample_run() -> RunResults:
    """0 passing, 1 failing, 2-3 an Outline over 2 models, 4 hostile text, 5-6 a Python session, 7 skipped."""
    skipped = scenario("Not ready", [step("Given", 'the agent "banking"', "skipped")], [], status="skipped")
    tests = [passing_flow(), failing_flow(), outline_row("gpt-4.1", True), outline_row("gpt-4.1-mini", False)]
    return RunResults(tool_version="test", tests=[*tests, hostile_flow(), *session_tests(), skipped])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(sample_run()), encoding="utf-8")
    return path


def open_report(browser: Browser, path: Path, **context: Any) -> Page:
    """A page showing the report, once its script has drawn the list; page errors fail the test."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}, **context).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    assert errors == []
    return page


@pytest.fixture
def page(browser: Browser, report: Path) -> Iterator[Page]:
    page = open_report(browser, report)
    yield page
    page.context.close()


def timeline(page: Page, entry: str) -> list[str]:
    """The rows of an expanded flow: `step:STATUS:TEXT` or `turn:USER MESSAGE|REPLY`."""
    return page.eval_on_selector_all(
        f"#{entry} .timeline > *",
        """nodes => nodes.map(n => n.classList.contains('turn')
            ? 'turn:' + n.querySelector('.bubble.user .said').textContent + '|'
              + (n.querySelector('.bubble.assistant .said') || {textContent: ''}).textContent
            : 'step:' + n.dataset.status + ':' + n.querySelector('.text').textContent)""",
    )


def shown_entries(page: Page) -> list[str]:
    return page.eval_on_selector_all("#list > .entry", "nodes => nodes.map(n => n.id)")


def test_overview_totals(page: Page) -> None:
    cards = page.inner_text("#overview")
    assert "Tests\n8" in cards and "Passed\n3" in cards and "Failed\n4" in cards and "Skipped\n1" in cards
    assert "Turns\n9" in cards and "Tool calls\n6" in cards and "Tokens\n900" in cards
    assert "$0.0030 (partial)" in cards
    assert page.title() == "aitest-bdd: 4 failed, 3 passed of 8 tests"


def test_failed_tests_come_first(page: Page) -> None:
    assert shown_entries(page) == ["t-1", "t-3", "t-4", "t-5", "t-7", "t-0", "t-2"]
    page.click("[data-show=failed]")
    assert shown_entries(page) == ["t-1", "t-3", "t-4", "t-5"]


def test_passing_flow_interleaves_steps_and_turns(page: Page) -> None:
    page.click("#t-0 .head")
    assert timeline(page, "t-0") == [
        'step:passed:the agent "banking"',
        'step:passed:the user says "What\'s my balance?"',
        "turn:What's my balance?|Your balance is $1,500.",
        'step:passed:the agent calls "get_balance"',
        'step:passed:the user says "Move 200 to savings"',
        "turn:Move 200 to savings|Done: moved $200.",
        'step:passed:the agent calls "transfer"',
    ]
    verdict = page.inner_text("#t-0 .turn >> nth=1 >> .judgement")
    assert "passed" in verdict and "Judge: names the amount" in verdict and "It says $200." in verdict
    facts = page.inner_text("#t-0 .facts")
    assert "features/bank.feature:3" in facts and "@smoke" in facts and "$0.0030" in facts


def test_failing_flow_shows_the_message_and_skipped_steps(page: Page) -> None:
    page.click("#t-1 .head")
    assert timeline(page, "t-1") == [
        'step:passed:the agent "banking"',
        'step:passed:the user says "Transfer 5000"',
        "turn:Transfer 5000|I could not: insufficient funds.",
        'step:passed:the response contains "insufficient"',
        'step:passed:the user says "Then try 50"',
        "turn:Then try 50|Moved $50.",
        'step:failed:the response contains "umbrella"',
        'step:skipped:the agent calls "transfer"',
    ]
    message = page.locator("#t-1 .step.failed pre.message")
    assert message.inner_text() == 'expected the response of turn 2 to contain "umbrella"'
    assert page.locator("#t-1 .tool.error .badge").inner_text() == "error"
    assert page.inner_text("#t-1 .bubble.interim .said") == "Let me look that up."
    page.click("#t-1 .tool-head >> nth=1")
    details = page.inner_text("#t-1 .tool >> nth=1")
    assert 'ARGUMENTS, AS THE MODEL SENT THEM\n{"limit": 50' in details and '"rows": 2' in details


def test_matrix_cells_link_to_their_flows(page: Page) -> None:
    row = page.locator("#matrix tbody tr", has_text="Every model finds savings")
    good, bad = row.locator("a[data-model='gpt-4.1']"), row.locator("a[data-model='gpt-4.1-mini']")
    assert (good.get_attribute("class"), good.get_attribute("href")) == ("cell passed", "#t-2")
    assert (bad.get_attribute("class"), bad.get_attribute("href")) == ("cell failed", "#t-3")
    page.locator("input[name=status][value=failed]").uncheck()
    assert "t-2" in shown_entries(page) and "t-3" not in shown_entries(page)
    bad.click()
    assert page.evaluate("location.hash") == "#t-3"
    assert page.locator("#t-3 .body").is_visible() and page.locator("#t-3.target").count() == 1
    assert 'expected the response of turn 1 to contain "3,200"' in page.inner_text("#t-3 .body")
    toolbar = page.locator("#filters").bounding_box()
    assert 0 <= page.locator("#t-3 .head").bounding_box()["y"] - (toolbar["y"] + toolbar["height"]) < 30


def test_status_model_feature_tag_filters_and_search(page: Page) -> None:
    page.locator("input[name=status][value=passed]").uncheck()
    page.locator("input[name=status][value=skipped]").uncheck()
    assert shown_entries(page) == ["t-1", "t-3", "t-4", "t-5"]
    page.click("#reset-filters")
    page.select_option("#model", "gpt-4.1")
    assert shown_entries(page) == ["t-5", "t-2"]
    page.select_option("#model", "")
    page.select_option("#tag", "smoke")
    assert shown_entries(page) == ["t-0"]
    page.select_option("#tag", "")
    page.select_option("#feature", "tests/test_weather.py")
    assert shown_entries(page) == ["t-5"]
    page.select_option("#feature", "")
    page.fill("#search", "UMBRELLA")
    expect(page.locator("#list > .entry")).to_have_count(2)
    assert shown_entries(page) == ["t-1", "t-5"]
    page.fill("#search", "no such words anywhere")
    expect(page.locator("#list > .entry")).to_have_count(0)
    assert page.inner_text("#count").startswith("Showing 0 of 0 matching")


def test_expanding_a_tool_call_shows_arguments_and_the_full_result(page: Page) -> None:
    page.click("#t-0 .head")
    call = page.locator("#t-0 .tool").first
    excerpt = call.locator(".tool-excerpt")
    assert excerpt.is_visible() and "END-OF-RESULT" not in excerpt.inner_text()
    assert not call.locator(".tool-body").is_visible()
    call.locator(".tool-head").click()
    assert call.locator("pre.arguments").inner_text() == '{\n  "account": "checking"\n}'
    assert call.locator("pre.result").inner_text() == LONG_RESULT
    assert "cut from 12,000 before the model saw it" in call.text_content()
    assert "replayed" in page.inner_text("#t-0 .turn-head >> nth=0")
    assert not excerpt.is_visible()


def test_python_session_is_one_flow_listing_its_tests(page: Page) -> None:
    assert "session weather-chat" in page.inner_text("#t-5 .head")
    page.click("#t-5 .head")
    assert page.locator("#t-6").count() == 0
    rows = page.eval_on_selector_all(
        "#t-5 .timeline > *",
        "nodes => nodes.map(n => n.classList.contains('turn') ? 'turn ' + n.querySelector('.said').textContent"
        " : n.dataset.status + ' ' + n.querySelector('.text').textContent)",
    )
    assert rows == ["passed test_initial", "turn Weather in Paris?", "failed test_followup", "turn And tomorrow?"]
    assert "AssertionError: expected a forecast call" in page.inner_text("#t-5 .body")


def test_hostile_text_shows_as_text_and_runs_nothing(browser: Browser, report: Path) -> None:
    page = open_report(browser, report, bypass_csp=True)
    page.click("#t-4 .head")
    page.click("#t-4 .tool-head")
    assert page.locator("#t-4 .bubble.user .said").inner_text() == f"hello {XSS}"
    assert page.locator("#t-4 .tool pre.result").inner_text() == f"result {XSS}"
    assert page.locator("#t-4 .step.failed pre.message").inner_text() == f"step failed: {XSS}"
    assert f"Feature {XSS}" in page.inner_text("#t-4 .head")
    assert page.inner_text("#t-4 .judgement .reasoning") == XSS
    assert XSS in page.inner_text("#feature")
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.context.close()


def test_screenshot_is_a_png(page: Page, tmp_path: Path) -> None:
    page.click("#t-1 .head")
    path = tmp_path / "report.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width = int.from_bytes(data[16:20], "big")
    assert width == 1280


def test_large_compressed_report_pages_and_reveals(browser: Browser, tmp_path: Path) -> None:
    tests = [outline_row(f"model-{n % 3}", n % 7 != 0) for n in range(450)]
    for n, test in enumerate(tests):
        test.nodeid += str(n)
    html = render_html(RunResults(tests=tests), compress=True)
    assert 'data-encoding="deflate-base64"' in html
    path = tmp_path / "big.html"
    path.write_text(html, encoding="utf-8")
    page = open_report(browser, path)
    assert page.inner_text("#count") == "Showing 200 of 450 matching (450 in all)."
    page.click("#more")
    assert page.locator("#list > .entry").count() == 400
    page.locator("input[name=status][value=passed]").uncheck()
    assert page.locator("#t-449").count() == 0
    page.evaluate("location.hash = '#t-449'")
    page.wait_for_selector("#t-449 .body .timeline")
    assert "Savings balance?" in page.inner_text("#t-449 .body")
    page.wait_for_timeout(50)
    assert page.locator("#t-449 .body").is_visible()
    assert page.locator("input[name=status][value=passed]").is_checked()
    page.context.close()


def test_data_cannot_close_its_script_element() -> None:
    run = sample_run()
    run.tests[0].conversations[0].turns[0].final_response = "</script><!--<script>"
    html = render_html(run)
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.DOTALL)
    assert len(blocks) == 3 and "<!--" not in html
    assert json.loads(blocks[2])[0]["conversations"][0]["turns"][0]["final_response"] == "</script><!--<script>"


def test_large_data_is_compressed_and_json_re_renders_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    run = sample_run()
    assert 'data-encoding="json"' in render_html(run)
    monkeypatch.setattr(report_html, "PLAIN_LIMIT", 100)
    html = render_html(run)
    assert 'data-encoding="deflate-base64"' in html
    assert render_html(RunResults.model_validate_json(run.model_dump_json())) == html


RECORDED_AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
TRANSCRIPT = (
    "Turn 1\n  user: Time in Tokyo?\n  tool call: convert_time({})\n    result: 18:00\n  assistant: It is 18:00."
)


def answered(test: TestResult, model: str, source: str, recorded_models: list[str] | None = None) -> TestResult:
    """`test` with its turns answered by `model` and taken from `source`, recorded on RECORDED_AT if replayed."""
    conversation = test.conversations[0]
    for item in conversation.turns:
        item.source = source
        for call in item.model_calls:
            call.model = model
    if source == "replayed":
        conversation.recorded_at, conversation.recorded_models = RECORDED_AT, recorded_models or [model]
    return test


def sources_run() -> RunResults:
    """0 the scripted model replayed, with what it was given and a judge; 1 live; 2 replayed; 3 a failing step."""
    demo = answered(passing_flow(), "aitest-scripted:banking", "replayed")
    conversation = demo.conversations[0]
    conversation.system_prompt = "You are a careful banking assistant.\nNever guess a balance."
    conversation.tools = [
        OfferedTool(name="get_balance", description="The balance of an account, in dollars.", server="bank"),
        OfferedTool(name="transfer", description="Move money between accounts.", server="bank"),
    ]
    conversation.turns[0].duration_ms, conversation.turns[0].recorded_duration_ms = 10, 850
    conversation.turns[1].judgements[0].usage = Usage(total_tokens=40)
    conversation.turns[1].judgements[0].cost_usd = 0.0005
    live = answered(passing_flow(), "gpt-4.1", "live")
    live.nodeid += "[live]"
    replayed = answered(passing_flow(), "gpt-4.1", "replayed")
    replayed.nodeid += "[replayed]"
    failing = failing_flow()
    failing.steps[4].message += "\n\n" + TRANSCRIPT
    return RunResults(tests=[demo, live, replayed, failing])


@pytest.fixture(scope="module")
def sources_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sources") / "report.html"
    path.write_text(render_html(sources_run()), encoding="utf-8")
    return path


@pytest.fixture
def sources_page(browser: Browser, sources_report: Path) -> Iterator[Page]:
    page = open_report(browser, sources_report)
    yield page
    page.context.close()


def test_first_screen_says_where_the_answers_came_from(sources_page: Page) -> None:
    page = sources_page
    assert page.inner_text("#answers") == (
        "Answers: live on gpt-4.1 (1 test); live on gpt-4.1-mini (1 test); "
        "replayed from recordings made on 2026-11-30 with gpt-4.1 (1 test); "
        "scripted demo model (not a real LLM), replayed from recordings made on 2026-11-30 (1 test)"
    )
    assert page.inner_text("#total-cost") == "$0.0060 + $0.0030 hypothetical (scripted model) (partial)"
    assert "scripted demo model (not a real LLM)" in page.inner_text("#t-0 .head .chips")
    page.click("#t-0 .head")
    facts = page.inner_text("#t-0 .facts")
    assert "Answers\nscripted demo model (not a real LLM), replayed from recordings made on 2026-11-30" in facts
    assert "$0.0030 hypothetical (scripted model)" in facts
    assert "$0.0010 hypothetical (scripted model)" in page.inner_text("#t-0 .turn-head >> nth=0")
    page.click("#t-2 .head")
    assert "Answers\nreplayed from recordings made on 2026-11-30 with gpt-4.1" in page.inner_text("#t-2 .facts")


def test_judge_tokens_and_cost_are_told_apart_from_the_agents(sources_page: Page) -> None:
    page = sources_page
    cards = page.inner_text("#overview")
    assert "Tokens\n800\nagent" in cards and "Cost\n" in cards
    assert page.inner_text("#judge-card") == "Judge\n40\ntokens · $0.0005 (partial) · 3 verdicts"
    page.click("#t-0 .head")
    assert "Judge\n1 verdict · 40 tokens · $0.0005" in page.inner_text("#t-0 .facts")
    assert "judge judge-model · 40 tokens · $0.0005" in page.inner_text("#t-0 .judgement")


def test_a_replayed_turn_shows_its_recorded_time(sources_page: Page) -> None:
    page = sources_page
    page.click("#t-0 .head")
    assert "10 ms replayed, 850 ms when recorded live" in page.inner_text("#t-0 .turn-head >> nth=0")
    assert "250 ms replayed, unknown when recorded live" in page.inner_text("#t-0 .turn-head >> nth=1")
    page.click("#t-1 .head")
    assert page.inner_text("#t-1 .turn-head >> nth=0").endswith("$0.0010 · 250 ms")


def test_what_the_agent_was_given_is_folded(sources_page: Page) -> None:
    page = sources_page
    page.click("#t-0 .head")
    given = page.locator("#t-0 details.given")
    assert given.locator("summary").inner_text() == "What the agent was given"
    assert not given.locator("pre.system-prompt").is_visible()
    given.locator("summary").click()
    assert (
        given.locator("pre.system-prompt").inner_text()
        == "You are a careful banking assistant.\nNever guess a balance."
    )
    rows = given.locator("table.tools-offered tr").all_inner_texts()
    assert rows[1:] == [
        "get_balance\tbank\tThe balance of an account, in dollars.",
        "transfer\tbank\tMove money between accounts.",
    ]
    page.click("#t-1 .head")
    assert page.locator("#t-1 details.given").count() == 0


def test_plain_words_in_the_main_view(sources_page: Page) -> None:
    page = sources_page
    page.click("#t-3 .head")
    body = page.locator("#t-3 .body")
    assert "model call 1" not in body.inner_text() and "Test id" not in body.inner_text()
    assert "features/bank.feature::overdraw_is_refused" not in body.inner_text()
    message = page.locator("#t-3 .step.failed pre.message")
    assert message.inner_text() == 'expected the response of turn 2 to contain "umbrella"'
    assert "assistant: It is 18:00." not in body.inner_text()
    page.click("#t-3 .step.failed details.tech summary")
    assert TRANSCRIPT in page.inner_text("#t-3 .step.failed pre.message-full")
    page.click("#t-3 .body > .flow > details.tech summary")
    assert "Test id\nfeatures/bank.feature::overdraw_is_refused" in page.inner_text("#t-3 .body > .flow > details.tech")
    page.click("#t-3 .turn >> nth=1 >> details.tech summary")
    calls = page.inner_text("#t-3 .turn >> nth=1 >> details.tech")
    assert "model call 1 · gpt-4.1-mini · 0 tokens · 0 ms · tool_calls → lookup" in calls


def test_outline_models_side_by_side(page: Page) -> None:
    row = page.locator("#matrix tbody tr", has_text="Every model finds savings")
    stats = row.locator(".cell-stats").all_inner_texts()
    assert stats == ["1 turn · 0 tool calls · 100 tokens · n/a · 900 ms"] * 2
    assert not page.locator("#compare").is_visible()
    row.locator("button.compare").click()
    columns = page.locator("#compare .column")
    assert [column.get_attribute("data-model") for column in columns.all()] == ["gpt-4.1", "gpt-4.1-mini"]
    first, second = columns.nth(0).inner_text(), columns.nth(1).inner_text()
    assert "passed" in first and "Savings: $3,200." in first and "1 turn · 0 tool calls · 100 tokens" in first
    assert "failed" in second and "I do not know." in second
    assert 'expected the response of turn 1 to contain "3,200"' in second
    assert "Side by side: Every model finds savings" in page.inner_text("#compare .compare-head")
    page.click("#compare button.close")
    assert not page.locator("#compare").is_visible()


def test_matrix_rows_follow_the_outline_not_a_models_name_in_text() -> None:
    """A model whose name is also a word of the scenario's name ("4") must not split or merge rows."""
    rows = [outline_row(model, True) for model in ("4", "gpt-4.1")]
    for test in rows:
        test.name = f"Balance for 4 accounts on {test.example['model']}"
    matrix = report_html.build_matrix(rows)
    assert len(matrix.rows) == 1 and sorted(matrix.rows[0].cells) == ["4", "gpt-4.1"]
