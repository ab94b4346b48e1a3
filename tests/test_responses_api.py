"""The agent's tool loop on the Responses API (`Provider(api="responses")`) beside Chat Completions: the banking
feature on both, recorded and replayed, with reasoning tokens counted and reasoning items carried."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openai.types.responses import Response
from playwright.sync_api import sync_playwright
from test_report_html import CHROMIUM, CHROMIUM_ARGS

from aitest_bdd.conversation.pricing import Price, PriceTable
from aitest_bdd.conversation.turns import Usage

ROOT = Path(__file__).parent.parent
BANKING_FEATURE = (ROOT / "features" / "banking.feature").read_text(encoding="utf-8")
BANKING_STEPS = (ROOT / "step_defs" / "banking_steps.py").read_text(encoding="utf-8")
REASONING = "The user wants a balance: look it up with get_balance first."
REASONING_TOKENS = 64


def banking_script() -> dict:
    """The demo script of the banking feature, whose first balance lookup comes with reasoning."""
    script = json.loads((ROOT / "features" / "demo_model.json").read_text(encoding="utf-8"))
    rule = next(rule for rule in script["rules"] if rule.get("user_regex") == "checking balance")
    rule["replies"][0] |= {"reasoning": REASONING, "reasoning_tokens": REASONING_TOKENS}
    return script


def use_api(project, api: str, stream: bool = False) -> None:
    """Give the project's agents `api`, with a reasoning effort (and `stream`), and the banking feature with its
    domain step; the judge stays on Chat Completions."""
    project.feature("banking", BANKING_FEATURE)
    (project.pytester.path / "banking_steps.py").write_text(BANKING_STEPS, encoding="utf-8")
    conftest = project.pytester.path / "conftest.py"
    text = conftest.read_text()
    if "banking_steps" not in text:  # models with a price, for the cost steps
        text = text.replace('model="scripted-default"', 'model="gpt-5-mini"').replace('"judge"', '"gpt-4.1-nano"')
        text += '\npytest_plugins = ["banking_steps"]\n'
    agents = f'max_retries=0, timeout=10, api="{api}", reasoning_effort="low", stream={stream})'
    text = re.sub(r"max_retries=0, timeout=10, api=[^)]*\)", "max_retries=0, timeout=10)", text, count=1)
    conftest.write_text(text.replace("max_retries=0, timeout=10)", agents, 1))  # the agents' provider comes first


def results(project) -> dict[str, dict]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["nodeid"].split("::")[-1]: test for test in data["tests"]}


def agent_requests(project) -> list[dict]:
    """The bodies the scripted model received from the agents (not from the judge)."""
    return [body for body in project.server.requests if "CRITERION:" not in json.dumps(body)]


def model_calls_shown(report: Path, scenario: str) -> str:
    """The text of the first turn's folded model calls in the HTML report's flow of `scenario`, in Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(report.as_uri())
            page.wait_for_selector("body[data-ready=true]")
            entry = page.locator("#list > .entry", has_text=scenario)
            entry.locator(".head").click()
            return entry.locator(".turn details.tech").first.text_content() or ""
        finally:
            browser.close()


@pytest.mark.script(banking_script())
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_banking_feature_on_each_api_records_and_replays(project, api: str) -> None:
    use_api(project, api)

    recorded = project.run("--aitest-record=once", "--aitest-json", "results.json", "--aitest-report", "report.html")
    recorded.assert_outcomes(passed=5)
    recorded.stdout.fnmatch_lines([f"reasoning: {REASONING_TOKENS} tokens of the agent's output"])

    bodies = agent_requests(project)
    if api == "responses":
        assert all("input" in body and "messages" not in body for body in bodies)
        assert all(body["store"] is False for body in bodies)
        assert {body["reasoning"]["effort"] for body in bodies} == {"low"}
        assert all(tool.get("name") and tool["strict"] is False for body in bodies for tool in body.get("tools", []))
        after_lookup = next(
            body for body in bodies if any(item.get("type") == "function_call_output" for item in body["input"])
        )
        kinds = [item.get("type", "message") for item in after_lookup["input"]]
        assert kinds[kinds.index("reasoning") + 1] == "function_call"  # the reasoning item went back with its call
    else:
        assert all("messages" in body and "input" not in body for body in bodies)
        assert {body["reasoning_effort"] for body in bodies} == {"low"}

    tests = results(project)
    turn = tests["test_balance_then_a_transfer"]["conversations"][0]["turns"][0]
    first_call = turn["model_calls"][0]
    assert first_call["usage"]["reasoning_tokens"] == REASONING_TOKENS
    assert turn["usage"]["reasoning_tokens"] == REASONING_TOKENS
    assert first_call["reasoning_summary"] == (REASONING if api == "responses" else None)

    shown = model_calls_shown(project.pytester.path / "report.html", "Balance, then a transfer")
    assert f"({REASONING_TOKENS} reasoning)" in shown
    assert (f"Reasoning summary{REASONING}" in shown) == (api == "responses")

    recording = json.loads(next((project.pytester.path / "recordings").rglob("*balance_then*.json")).read_text())
    assert recording["sessions"]["banking"]["api"] == api

    project.server.stop()  # the replay needs no model
    replayed = project.run("--aitest-record=none", "--aitest-json", "results.json")
    replayed.assert_outcomes(passed=5)
    turn = results(project)["test_balance_then_a_transfer"]["conversations"][0]["turns"][0]
    assert turn["source"] == "replayed"
    assert turn["model_calls"][0]["usage"]["reasoning_tokens"] == REASONING_TOKENS


@pytest.mark.script(banking_script())
def test_a_chat_recording_does_not_replay_on_the_responses_api(project) -> None:
    use_api(project, "chat")
    project.run("--aitest-record=once", "-k", "vague").assert_outcomes(passed=1)

    use_api(project, "responses")
    result = project.run("--aitest-record=none", "-k", "vague")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*was made with Provider(api='chat'), and this run asks for Provider(api='responses'): a recording "
            "replays only on the API that made it*"
        ]
    )


@pytest.mark.script(banking_script())
def test_the_scripted_models_responses_are_what_the_sdk_reads(project) -> None:
    import openai

    client = openai.OpenAI(base_url=project.server.base_url, api_key="unused", max_retries=0)
    body = {
        "model": "gpt-5-mini",
        "input": [{"role": "user", "content": "What's my checking balance?"}],
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    raw = client.post("/responses", body=body, cast_to=object)

    response = Response.model_validate(raw)
    reasoning, call = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == REASONING
    assert reasoning.encrypted_content
    assert call.type == "function_call" and call.name == "get_balance"
    assert response.usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS

    without_content = reasoning.model_dump(exclude={"encrypted_content"}, exclude_none=True)
    answer = {"type": "function_call_output", "call_id": call.call_id, "output": '{"formatted": "1.00"}'}
    with pytest.raises(openai.BadRequestError, match="Items are not persisted when `store` is set to false"):
        client.post("/responses", body=body | {"input": [*body["input"], without_content, answer]}, cast_to=object)

    with client.responses.stream(**body) as stream:  # the SDK's own accumulation of the streamed events
        streamed = stream.get_final_response()
    assert [item.type for item in streamed.output] == ["reasoning", "function_call"]
    assert streamed.output[1].arguments == '{"account": "checking"}'


def test_reasoning_tokens_are_priced_as_output_and_cached_tokens_at_their_price() -> None:
    prices = PriceTable(prices={"reasoner": Price(input=1.0, output=4.0, cached_input=0.25)})
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000, reasoning_tokens=600_000, cached_tokens=400_000)

    assert prices.cost("reasoner", usage) == pytest.approx(0.6 + 0.1 + 4.0)
    assert PriceTable(prices={"plain": Price(input=1.0, output=4.0)}).cost("plain", usage) == pytest.approx(5.0)


@pytest.mark.script(banking_script())
def test_azure_openai_takes_the_responses_api_at_its_own_path(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    use_api(project, "responses")
    conftest = project.pytester.path / "conftest.py"
    endpoint = project.server.base_url.removesuffix("/v1")  # the client adds /openai/responses?api-version=...
    azure = f'provider.model_copy(update={{"model": "azure/bank-deployment", "base_url": {endpoint!r}}})'
    conftest.write_text(
        conftest.read_text().replace(
            'Agent(name="banking", provider=provider,', f"Agent(name='banking', provider={azure},"
        )
    )
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")

    project.run("-k", "overdraw").assert_outcomes(passed=1)

    bodies = agent_requests(project)
    assert bodies and {body["model"] for body in bodies} == {"bank-deployment"}
    assert all("input" in body for body in bodies)


STREAMING_SCRIPT = {
    "rules": [
        {
            "user_regex": "quick balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is ${result:get_balance.formatted}."},
            ],
        },
        {"user_regex": "slow hello", "replies": [{"content": "Hello there, at last.", "latency_ms": 1200}]},
    ]
}

STREAMING_FEATURE = """
Feature: Streaming
  Scenario: A quick answer
    Given the agent "banking"
    When the user says "quick balance please"
    Then the agent calls "get_balance"
    And the response contains "Your checking balance is $1,500.00."
    And the first reply token arrives within 1 second

  Scenario: A slow first token
    Given the agent "banking"
    When the user says "slow hello"
    Then the response contains "Hello there, at last."
    And the first reply token arrives within 1 second
"""


@pytest.mark.script(STREAMING_SCRIPT)
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_streamed_calls_keep_the_time_to_first_token_and_the_budget_judges_it(project, api: str) -> None:
    use_api(project, api, stream=True)
    project.feature("streaming", STREAMING_FEATURE)

    recorded = project.run(
        "streaming.feature", "--aitest-record=once", "--aitest-json", "results.json", "--aitest-report", "report.html"
    )

    recorded.assert_outcomes(passed=1, failed=1)
    recorded.stdout.fnmatch_lines(
        ["*expected the first reply token within 1 s in each model call of turn 1, but model call 1 waited * s*"]
    )
    assert all(body["stream"] is True for body in project.server.requests)
    tests = results(project)
    quick = tests["test_a_quick_answer"]["conversations"][0]["turns"][0]
    assert quick["final_response"] == "Your checking balance is $1,500.00."
    assert [call["tool_calls"] for call in quick["model_calls"]] == [["get_balance"], []]
    assert quick["usage"]["total_tokens"] > 0
    first_tokens = [call["first_token_ms"] for call in quick["model_calls"]]
    assert all(0 < ms < 1000 for ms in first_tokens)
    slow = tests["test_a_slow_first_token"]["conversations"][0]["turns"][0]["model_calls"][0]["first_token_ms"]
    assert 1200 <= slow < 5000
    assert f"(first token {slow / 1000:.1f} s)" in model_calls_shown(
        project.pytester.path / "report.html", "slow first"
    )

    project.server.stop()
    replayed = project.run("streaming.feature", "--aitest-record=none", "--aitest-json", "results.json")
    replayed.assert_outcomes(passed=1, failed=1)
    replayed.stdout.fnmatch_lines([f"*but model call 1 waited {slow / 1000:.2f} s for it when recorded live*"])
    tests = results(project)
    assert [
        call["first_token_ms"] for call in tests["test_a_quick_answer"]["conversations"][0]["turns"][0]["model_calls"]
    ] == first_tokens


@pytest.mark.script(STREAMING_SCRIPT)
def test_the_first_token_budget_needs_streamed_calls(project) -> None:
    use_api(project, "chat")
    project.feature("streaming", STREAMING_FEATURE)

    result = project.run("streaming.feature", "-k", "quick")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*model call(s) 1, 2 of turn 1 had none (not streamed, or no reply token): set Provider(stream=True)*"]
    )


@pytest.mark.script(
    {
        "rules": [
            {"user_regex": "garbled", "replies": [{"malformed_body": True}]},
            {"user_regex": "cut short", "replies": [{"content": "Half an ans", "finish_reason": "length"}]},
            {"user_regex": "fine", "replies": [{"content": "All fine."}]},
        ]
    }
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_broken_responses_answer_fails_only_its_scenario(project, stream: bool) -> None:
    use_api(project, "responses", stream=stream)
    project.feature(
        "faults",
        """
        Feature: Faults
          Scenario: Garbled
            Given the agent "plain"
            When the user says "garbled"

          Scenario: Cut short
            Given the agent "plain"
            When the user says "cut short"

          Scenario: Fine
            Given the agent "plain"
            When the user says "fine"
            Then the response contains "All fine."
        """,
    )

    result = project.run("faults.feature")

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*model 'gpt-5-mini' sent a response that is not a Responses API response*",
            "*model 'gpt-5-mini' stopped at its output limit (finish_reason 'length')*",
        ]
    )
