"""Simulated users: the scripted model plays the agent, the user and the judge, with the real banking MCP server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aitest_bdd.conversation.turns import Conversation, SimulatedUser, Turn
from aitest_bdd.report.commands import main as aitest_bdd
from aitest_bdd.report.freeze import frozen_scenario
from aitest_bdd.results.schema import StepResult, TestResult

USER = "You play a user"
"""Where the user model's prompt starts: its rules match it."""

SCRIPT = {
    "name": "simulated users",
    "rules": [
        {
            "system_regex": USER,
            "turn": 1,
            "user_regex": "not started",
            "replies": [{"content": "I want to move money."}],
        },
        {"system_regex": USER, "user_regex": "which accounts", "replies": [{"content": "From checking to savings."}]},
        {"system_regex": USER, "user_regex": "how much", "replies": [{"content": "200 dollars."}]},
        {"system_regex": USER, "user_regex": "^Transferred", "replies": [{"content": "Great, thanks! [GOAL REACHED]"}]},
        {"system_regex": USER, "user_regex": "weather", "replies": [{"content": "[GIVE UP] it only talks weather"}]},
        {"system_regex": USER, "user_regex": ".", "replies": [{"content": "Please, just do it."}]},
        {"user_regex": "goal was reached", "replies": [{"content": '{"pass": true, "reasoning": "200 USD moved."}'}]},
        {"user": "I want to move money.", "replies": [{"content": "Sure: which accounts, from and to?"}]},
        {"user": "From checking to savings.", "replies": [{"content": "How much should I move?"}]},
        {
            "user": "200 dollars.",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 200},
                        }
                    ]
                },
                {"content": "Transferred {result:transfer.formatted_amount} USD from checking to savings."},
            ],
        },
        {"user": "Please, just do it.", "replies": [{"content": "Sorry, which accounts?"}]},
    ],
}

FEATURE = """
Feature: Moving money
  Scenario: A customer moves money
    Given the agent "banking"
    When a simulated user who is "a customer" and wants "to move 200 USD" talks to the agent for at most 6 turns
    Then the user's goal is reached
    And the conversation takes at most 3 turns
    And the agent calls "transfer" in turn 3
"""


def _turns(results: Path) -> list[dict[str, Any]]:
    [test] = json.loads(results.read_text())["tests"]
    return test["conversations"][0]["turns"]


@pytest.mark.script(SCRIPT)
def test_a_simulated_user_reaches_its_goal_replays_and_freezes(project) -> None:
    project.feature("money", FEATURE)
    recorded = project.run(
        "--aitest-record=once", "--aitest-json=recorded.json", "--aitest-report=r.html", "--aitest-md=r.md"
    )
    recorded.assert_outcomes(passed=1)
    turns = _turns(project.pytester.path / "recorded.json")
    said = [turn["user_message"] for turn in turns]
    assert said == ["I want to move money.", "From checking to savings.", "200 dollars."]
    assert all(turn["simulated"] for turn in turns)
    recorded.stdout.fnmatch_lines(["*tokens (agent *, judge * in 1 call, user model * in 4 calls)*"])
    assert "User model tokens" in (project.pytester.path / "r.md").read_text()
    assert 'id="user-model-card"' in (project.pytester.path / "r.html").read_text()
    results = json.loads((project.pytester.path / "recorded.json").read_text())
    [user] = results["tests"][0]["conversations"][0]["simulated_users"]
    assert (user["outcome"], user["turns"], len(user["calls"])) == ("goal reached", 3, 4)
    assert user["calls"][0]["usage"]["total_tokens"] > 0
    recording = json.loads(next((project.pytester.path / "recordings").rglob("*.json")).read_text())
    kinds = [interaction["kind"] for interaction in recording["sessions"]["banking"]["interactions"]]
    assert kinds.count("user_model") == 4

    assert aitest_bdd(["freeze", "recorded.json", "-o", "frozen.feature"]) == 0
    frozen = (project.pytester.path / "frozen.feature").read_text()
    assert 'When the user says "200 dollars."' in frozen
    assert 'Then the agent calls "transfer"' in frozen
    assert frozen.count("Then the agent calls no tools") == 2
    (project.pytester.path / "money.feature").unlink()
    alone = project.run("--aitest-record=live", "--aitest-json=frozen.json", "frozen.feature")
    alone.assert_outcomes(passed=1)
    assert [turn["user_message"] for turn in _turns(project.pytester.path / "frozen.json")] == said

    project.feature("money", FEATURE)
    asked = len(project.server.requests)
    project.server.stop()
    replayed = project.run("--aitest-record=none", "--aitest-json=replayed.json", "money.feature")
    replayed.assert_outcomes(passed=1)
    assert len(project.server.requests) == asked
    again = _turns(project.pytester.path / "replayed.json")
    assert [turn["source"] for turn in again] == ["replayed"] * 3
    keys = ("user_message", "final_response", "simulated")
    assert [{key: turn[key] for key in keys} for turn in again] == [{key: turn[key] for key in keys} for turn in turns]


@pytest.mark.script(SCRIPT)
def test_the_turn_limit_ends_the_conversation_and_a_brief_needs_a_goal(project) -> None:
    project.feature(
        "limits",
        '''
        Feature: Limits
          Scenario: Out of turns
            Given the agent "banking"
            When a simulated user talks to the agent for at most 2 turns:
              """
              Persona: a customer
              Goal: to move 200 USD
                from checking to savings
              """
            Then the conversation takes at most 1 turn

          Scenario: No goal
            Given the agent "banking"
            When a simulated user talks to the agent for at most 2 turns:
              """
              Persona: a customer
              """
        ''',
    )
    result = project.run("--aitest-json=limits.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*expected the conversation to take at most 1 turn(s), but it took 2*",
            "*the simulated user's docstring needs a 'Goal:' line*",
        ]
    )
    tests = json.loads((project.pytester.path / "limits.json").read_text())["tests"]
    [user] = tests[0]["conversations"][0]["simulated_users"]
    assert (user["goal"], user["outcome"], user["note"]) == (
        "to move 200 USD from checking to savings",
        "turn limit",
        "200 dollars.",
    )
    assert [turn["user_message"] for turn in tests[0]["conversations"][0]["turns"]] == [
        "I want to move money.",
        "From checking to savings.",
    ]


def test_a_frozen_scenario_keeps_the_turns_typed_between_simulated_users() -> None:
    user = SimulatedUser(persona="a saver", goal="save", model="m", max_turns=2, first_turn=1, turns=1)
    turns = [
        Turn(number=1, user_message="How much do I have?", model="m", simulated=True),
        Turn(number=2, user_message="Typed by the spec", model="m"),
        Turn(number=3, user_message="Move 200, please", model="m", simulated=True),
    ]
    conversation = Conversation(agent="banking", model="m", turns=turns, simulated_users=[user, user])
    steps = [StepResult(keyword="Given", text='the agent "banking"', line=3)]
    test = TestResult(nodeid="x", kind="scenario", name="Saving", file="f.feature", steps=steps)
    test.conversations = [conversation]
    said = [line.strip() for line in (frozen_scenario(test) or "").splitlines() if "the user says" in line]
    assert said == [f'When the user says "{turn.user_message}"' for turn in turns]
