"""A scenario is one conversation: turns share history, assertions are about the last turn."""

from __future__ import annotations

import json
import textwrap

import pytest

BANKING_SCRIPT = {
    "rules": [
        {
            "user_regex": "checking balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is $1,500.00."},
            ],
        },
        {
            "user_regex": "move 200",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 200},
                        }
                    ]
                },
                {"content": "Done: moved $200 to savings."},
            ],
        },
        {"user_regex": "thanks", "replies": [{"content": "You're welcome!"}]},
    ]
}

THREE_TURNS = """
Feature: Banking
  Scenario: Balance, transfer, thanks
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"
    And the response contains "1,500"
    When the user says "Move 200 of it to savings"
    Then the agent calls "transfer"
    And the agent does not call "get_balance"
    When the user says "Thanks!"
    Then the response contains "welcome"
"""


@pytest.mark.script(BANKING_SCRIPT)
def test_history_is_carried_across_three_turns(project) -> None:
    project.feature("banking", THREE_TURNS)
    result = project.run()
    result.assert_outcomes(passed=1)
    last = project.server.requests[-1]["messages"]
    users = [m["content"] for m in last if m["role"] == "user"]
    assert users == ["What's my checking balance?", "Move 200 of it to savings", "Thanks!"]
    assistant_texts = [m.get("content") for m in last if m["role"] == "assistant"]
    assert "Your checking balance is $1,500.00." in assistant_texts
    tool_results = [m["content"] for m in last if m["role"] == "tool"]
    assert any('"savings": {' in text and "3400" in text for text in tool_results), tool_results


@pytest.mark.script(BANKING_SCRIPT)
def test_then_steps_see_only_the_last_turn(project) -> None:
    project.feature(
        "leak",
        """
        Feature: Leak
          Scenario: An earlier turn's call is not this turn's
            Given the agent "banking"
            When the user says "What's my checking balance?"
            Then the agent calls "get_balance"
            When the user says "Thanks!"
            Then the agent calls "get_balance"
        """,
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*expected the agent to call "get_balance" in turn 2, but it called no tools*',
            "*Turn 2*",
            "*user: Thanks!*",
            "*assistant: You're welcome!*",
        ]
    )


@pytest.mark.script(BANKING_SCRIPT)
def test_failing_step_prints_the_turn_transcript(project) -> None:
    project.feature(
        "transcript",
        """
        Feature: Transcript
          Scenario: Wrong expectation
            Given the agent "banking"
            When the user says "What's my checking balance?"
            Then the response contains "2,000"
        """,
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*expected the response of turn 1 to contain "2,000" (ignoring case)*',
            "*user: What's my checking balance?*",
            '*tool call: get_balance({"account": "checking"})*',
            "*result: *1,500.00*",
            "*assistant: Your checking balance is $1,500.00.*",
        ]
    )


@pytest.mark.script(BANKING_SCRIPT)
def test_a_failing_step_still_closes_the_servers(project) -> None:
    project.feature(
        "closes",
        """
        Feature: Servers close
          Scenario: Fails in the middle
            Given the agent "banking"
            When the user says "What's my checking balance?"
            Then the agent calls "transfer"
            When the user says "Thanks!"
        """,
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    assert project.live_servers() == []
    assert len(project.server.requests) == 2, "the steps after the failing one must not run"


@pytest.mark.script(BANKING_SCRIPT)
def test_outline_runs_one_test_per_model(project) -> None:
    project.feature(
        "outline",
        """
        Feature: Models
          Scenario Outline: Balance on <model>
            Given the agent "banking" using model "<model>"
            When the user says "What's my checking balance?"
            Then the agent calls "get_balance"

            Examples:
              | model       |
              | small-model |
              | large-model |
        """,
    )
    result = project.run("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_balance_on_model[[]small-model[]] PASSED*", "*[[]large-model[]] PASSED*"])
    assert {request["model"] for request in project.server.requests} == {"small-model", "large-model"}


@pytest.mark.script(BANKING_SCRIPT)
def test_model_option_overrides_every_agent(project) -> None:
    project.feature("override", THREE_TURNS)
    result = project.run("--aitest-model", "other-model")
    result.assert_outcomes(passed=1)
    assert {request["model"] for request in project.server.requests} == {"other-model"}


@pytest.mark.script(BANKING_SCRIPT)
def test_docstring_message(project) -> None:
    project.feature(
        "docstring",
        '''
        Feature: Long messages
          Scenario: A message in a docstring
            Given the agent "banking"
            When the user says:
              """
              Hello there.
              What's my checking balance?
              """
            Then the agent calls "get_balance"
        ''',
    )
    project.run().assert_outcomes(passed=1)
    assert project.server.requests[0]["messages"][-1]["content"] == "Hello there.\nWhat's my checking balance?"


@pytest.mark.script(BANKING_SCRIPT)
def test_a_scenario_picks_the_model_after_its_background(project) -> None:
    project.feature(
        "background",
        """
        Feature: Background agent
          Background:
            Given the agent "banking"

          Scenario: The large model
            Given the agent "banking" using model "large-model"
            When the user says "What's my checking balance?"
            Then the agent calls "get_balance"
        """,
    )
    result = project.run("--aitest-json", "results.json")
    result.assert_outcomes(passed=1)
    assert {request["model"] for request in project.server.requests} == {"large-model"}
    data = json.loads((project.pytester.path / "results.json").read_text())
    assert [c["model"] for c in data["tests"][0]["conversations"]] == ["large-model"]
    assert project.live_servers() == []


@pytest.mark.script(BANKING_SCRIPT)
def test_another_agent_in_a_started_conversation_fails_clearly(project) -> None:
    project.feature(
        "switch",
        """
        Feature: Switch
          Scenario: Two agents
            Given the agent "banking"
            When the user says "What's my checking balance?"
            Given the agent "plain"
            When the user says "Thanks!"
        """,
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*conversation with agent 'banking' has started*talk to agent 'plain' in a scenario of its own*",
            "*- failed step -*",
            'switch.feature:5: Given the agent "plain"',
        ]
    )
    assert len(project.server.requests) == 2


SESSION_WATCH = """
import gc
import weakref

import json
import textwrap

import pytest

from aitest_bdd.run.test_state import SESSIONS_KEY

watched = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item, call):
    if call.when == "call":
        watched.extend(weakref.ref(session) for session in item.stash.get(SESSIONS_KEY, []))


def pytest_unconfigure(config):
    gc.collect()
    print(f"sessions {len(watched)}, still alive {sum(ref() is not None for ref in watched)}")
"""


@pytest.mark.script(BANKING_SCRIPT)
def test_each_scenario_lets_go_of_its_session(project) -> None:
    project.pytester.makepyfile(session_watch=SESSION_WATCH)
    scenarios = "".join(
        f"""
          Scenario: Thanks {index}
            Given the agent "plain"
            When the user says "Thanks!"
            Then the response contains "welcome"
        """
        for index in range(3)
    )
    project.feature("many", "Feature: Many\n" + textwrap.dedent(scenarios))
    # In a subprocess: an in-process run's hook recorder keeps every step's arguments alive.
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "session_watch", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["sessions 3, still alive 0"])
