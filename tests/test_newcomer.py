"""What a new user meets first: budgets under replay, judge costs, a changed model, and configuration mistakes."""

from __future__ import annotations

import json

import pytest

SCRIPT = {
    "rules": [
        {"user_regex": "CRITERION:\\s+polite", "replies": [{"content": '{"pass": true, "reasoning": "Polite."}'}]},
        {"user_regex": "slow", "replies": [{"content": "Done, slowly.", "latency_ms": 400}]},
        {"user_regex": "hello", "replies": [{"content": "Hello there."}]},
    ]
}

SLOW = """
Feature: Timed
  Scenario: Slow answer
    Given the agent "plain"
    When the user says "be slow"
    Then the turn takes less than {limit} seconds
    And the conversation takes less than {limit} seconds
"""


def recording(project, feature: str, test: str) -> dict:
    return json.loads((project.pytester.path / "recordings" / feature / f"{test}.json").read_text())


@pytest.mark.script(SCRIPT)
def test_time_budgets_judge_the_recorded_live_duration_on_replay(project) -> None:
    project.feature("timed", SLOW.format(limit=30))
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    durations = recording(project, "timed", "test_slow_answer")["sessions"]["plain"]["turn_durations_ms"]
    assert durations["1"] >= 400

    project.feature("timed", SLOW.format(limit=0.3))
    result = project.run("--aitest-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*expected turn 1 to take less than 0.3 s, but it took 0.4* s when recorded live (replayed now in 0.0*"]
    )


@pytest.mark.script(SCRIPT)
def test_a_recording_without_durations_loads_but_cannot_judge_time(project) -> None:
    project.feature("timed", SLOW.format(limit=30))
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    path = project.pytester.path / "recordings/timed/test_slow_answer.json"
    data = json.loads(path.read_text())
    del data["sessions"]["plain"]["turn_durations_ms"]
    path.write_text(json.dumps(data))
    result = project.run("--aitest-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*keeps no duration for turn(s) 1 (it was made by an older aitest-bdd)*",
            "*timed.feature:5: Then the turn takes less than 30 seconds",
        ]
    )


JUDGED = """
Feature: Judged
  Scenario: Polite hello
    Given the agent "plain"
    When the user says "hello"
    Then the response satisfies "polite"
    And the conversation costs less than ${limit}
"""


def priced(project, prices: dict) -> None:
    (project.pytester.path / "prices.json").write_text(json.dumps(prices))
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_pricing = prices.json\n")


@pytest.mark.script(SCRIPT)
def test_the_judge_counts_in_the_cost_budget_and_the_summary(project) -> None:
    priced(project, {"scripted-default": {"input": 1000, "output": 1000}, "judge": {"input": 500, "output": 500}})
    project.feature("judged", JUDGED.format(limit="0.000001"))
    result = project.run("--aitest-json", "results.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*expected the conversation to cost less than $0.000001, but it cost $0.* (agent $0.* for * tokens "
            "(* in, * out), judge $0.* for * tokens (* in, * out))",
            "*1 agent test, 1 turn (1 live), 0 tool calls, * tokens (agent *, judge *)",
            "cost: $0.* (agent $0.*, judge $0.*), hypothetical: the scripted test model answered*",
        ]
    )
    test = json.loads((project.pytester.path / "results.json").read_text())["tests"][0]
    verdict = test["conversations"][0]["turns"][0]["judgements"][0]
    assert verdict["usage"]["total_tokens"] > 0
    assert verdict["cost_usd"] == pytest.approx(
        (verdict["usage"]["prompt_tokens"] + verdict["usage"]["completion_tokens"]) * 500 / 1_000_000
    )


@pytest.mark.script(SCRIPT)
def test_the_summary_leaves_out_a_cost_with_an_unknown_price(project) -> None:
    priced(project, {"scripted-default": {"input": 1000, "output": 1000}})
    project.feature("judged", JUDGED.format(limit="100"))
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*price unknown for aitest-scripted:judge (the judge)*"])
    assert "cost: $" not in result.stdout.str()


HELLO = """
Feature: Greeting
  Scenario: Hello
    Given the agent "plain"
    When the user says "hello"
    Then the response contains "hello there"
"""


@pytest.mark.script(SCRIPT)
def test_another_model_runs_live_and_leaves_the_recording(project) -> None:
    project.feature("greeting", HELLO)
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    path = project.pytester.path / "recordings/greeting/test_hello.json"
    before = path.read_text()

    result = project.run("--aitest-model", "other-model")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 turn (1 live)*",
            "answered by: aitest-scripted:other-model",
            "1 conversation ran live on other-model: recorded with scripted-default, so not replayed*",
        ]
    )
    assert path.read_text() == before


@pytest.mark.script(SCRIPT)
def test_another_model_under_replay_only_fails_without_advising_to_overwrite(project) -> None:
    project.feature("greeting", HELLO)
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    result = project.run("--aitest-model", "other-model", "--aitest-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*was made with model 'scripted-default', this run asks for model 'other-model', and --aitest-record=none*"]
    )
    assert "--aitest-record=all" not in result.stdout.str()
    assert len([line for line in result.stdout.lines if "this run asks for model" in line]) == 1


TWO_SCENARIOS = """
Feature: Misconfigured
  Scenario: First
    Given the agent "plain"
    When the user says "hello"

  Scenario: Second
    Given the agent "plain"
    When the user says "hello"
"""


@pytest.mark.script(SCRIPT)
def test_a_misspelt_agent_field_is_one_short_message_once_per_run(project) -> None:
    conftest = project.pytester.path / "conftest.py"
    text = conftest.read_text().replace(
        'Agent(name="plain", provider=provider, max_tool_rounds=2)',
        'Agent(name="plain", provider=provider, sytem_prompt="Be brief.")',
    )
    conftest.write_text(text)
    line = next(number for number, row in enumerate(text.splitlines(), 1) if "sytem_prompt" in row)
    project.feature("misconfigured", TWO_SCENARIOS)
    result = project.run()
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*_ test_first _*",
            "the aitest_agents fixture could not make its agents: "
            f"conftest.py:{line}: Agent has no field 'sytem_prompt'; did you mean 'system_prompt'?",
            "Agent's fields: name, provider, mcp_servers, system_prompt, *",
            "*_ test_second _*",
            "the aitest_agents fixture failed, as shown for misconfigured.feature::test_first: "
            f"conftest.py:{line}: Agent has no field 'sytem_prompt'; did you mean 'system_prompt'?",
        ]
    )
    assert "Traceback" not in output and "pydantic" not in output and "validation error" not in output
    assert output.count("Agent's fields") == 1


@pytest.mark.script(SCRIPT)
def test_no_agents_fixture_says_it_is_missing_and_how_to_add_it(project) -> None:
    project.pytester.makeconftest("")
    project.feature("greeting", HELLO)
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "there is no aitest_agents fixture, so no agent named 'plain': add these three lines to conftest.py*",
            "@pytest.fixture",
            "def aitest_agents():",
            '    return [Agent(name="plain", provider=Provider(model="openai/gpt-4.1-mini"))]',
        ]
    )
    assert "defines: none" not in result.stdout.str()


BACKGROUND = """
Feature: A Background's agent, a scenario's model
  Background:
    Given the agent "plain"

  Scenario: Hello on another model
    Given the agent "plain" using model "other-model"
    When the user says "hello"
    Then the response contains "hello there"
"""


@pytest.mark.script(SCRIPT)
def test_a_backgrounds_agent_replaced_by_the_scenarios_model_replays(project) -> None:
    project.feature("background", BACKGROUND)
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    project.server.stop()  # replay needs no model: nothing may go live
    result = project.run("--aitest-record=none")
    result.assert_outcomes(passed=1)
    assert "ran live" not in result.stdout.str()


@pytest.mark.script(SCRIPT)
def test_a_mask_for_timestamps_leaves_the_recording_readable(project) -> None:
    """The mask docs/recording.md suggests for tools whose results change must not mask the file's own metadata."""
    project.pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "aitest_record_mask =\n"
        "    \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})?\n"
        "    \\d+\n"
    )
    project.feature("greeting", BACKGROUND)
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    project.run("--aitest-record=none").assert_outcomes(passed=1)
