"""Every library step, passing and failing, in each scope, against the scripted model and a real MCP server."""

from __future__ import annotations

import json
import textwrap

import pytest

STEPS_SCRIPT = {
    "rules": [
        {
            "user": "check then move",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 200},
                        }
                    ]
                },
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "savings"}}]},
                {"content": "Moved $200. Savings now holds ${result:get_balance.formatted}."},
            ],
        },
        {
            "user": "move then check",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 100},
                        }
                    ]
                },
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "savings"}}]},
                {"content": "Done."},
            ],
        },
        {"user": "hello", "replies": [{"content": "Hello! How can I help you today?"}]},
        {
            "user": "overdraw",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 5000},
                        }
                    ]
                },
                {"content": "Sorry, that did not work."},
            ],
        },
        {"user": "move money", "replies": [{"content": "Which account should I move it from?"}]},
        {"user_regex": "CRITERION:\\s+polite", "replies": [{"content": '{"pass": true, "reasoning": "It greets."}'}]},
        {
            "user_regex": "CRITERION:\\s+mentions a number",
            "replies": [{"content": '```json\n{"pass": false, "reasoning": "No number."}\n```'}],
        },
        {"user_regex": "CRITERION:\\s+broken judge", "replies": [{"content": "I think it is fine."}]},
        {
            "user_regex": "Which account should I[\\s\\S]*CRITERION:\\s+The assistant's last reply asks",
            "replies": [{"content": '{"pass": true, "reasoning": "It asks which account."}'}],
        },
        {
            "user_regex": "CRITERION:\\s+The assistant's last reply asks",
            "replies": [{"content": '{"pass": false, "reasoning": "It answers."}'}],
        },
    ]
}

BACKGROUND = """
Feature: Steps
  Background:
    Given the agent "banking" using model "gpt-4.1-mini"
    When the user says "check then move"
"""

PASSING_AFTER_FIRST_TURN = """
    Then the agent calls "transfer"
    And the agent calls "get_balance" twice
    And the agent calls "get_balance" at least 2 times
    And the agent calls "transfer" exactly once
    And the agent calls "transfer" at most 1 time
    And the agent calls "transfer" with amount 200
    And the agent calls "transfer" with "to_account" "savings"
    And the agent calls "get_balance" with account "savings"
    And the agent calls "transfer" with:
      | argument     | value   |
      | amount       | 200.0   |
      | from_account | /^chec/ |
    And the agent calls "get_balance" before "transfer"
    And the agent calls these tools in order:
      | get_balance |
      | get_balance |
    And the agent calls exactly these tools in order:
      | get_balance |
      | transfer    |
      | get_balance |
    And the agent makes at most 3 tool calls
    And every tool call succeeds
    And the agent does not call "list_accounts"
    And the response contains "3,400.00"
"""

PASSING_AFTER_SECOND_TURN = """
    When the user says "hello"
    Then the agent calls no tools
    And the agent does not call "transfer"
    And the agent calls "transfer" in the conversation
    And the agent calls "transfer" in turn 1
    And the agent calls "get_balance" twice in the conversation
    And the agent calls "transfer" with amount 200 so far
    And the agent makes at most 3 tool calls so far
    And every tool call succeeds in the conversation
    And the response contains "HELLO"
    And the response does not contain "goodbye"
    And the response matches "how can i \\w+"
    And the response contains all of:
      | hello |
      | help  |
    And the response contains none of:
      | error |
    And the response is not empty
    And the turn takes less than 30 seconds
    And the conversation takes less than 60 seconds
    And the turn uses fewer than 100000 tokens
    And the conversation uses fewer than 100000 tokens
    And the conversation costs less than $1
    And the response satisfies "polite and friendly"
    And the agent does not ask for clarification
"""

# (steps after the background, a fragment of the failure message)
FAILING = {
    "calls": ('Then the agent calls "list_accounts"', 'expected the agent to call "list_accounts" in turn 1'),
    "calls in turn": (
        'When the user says "hello"\nThen the agent calls "transfer"',
        'expected the agent to call "transfer" in turn 2, but it called no tools',
    ),
    "calls in turn N": (
        'When the user says "hello"\nThen the agent calls "transfer" in turn 2',
        'call "transfer" in turn 2, but it called no tools',
    ),
    "does not call": (
        'Then the agent does not call "transfer"',
        'not to call "transfer" in turn 1, but it called it 1',
    ),
    "does not call so far": (
        'When the user says "hello"\nThen the agent does not call "transfer" in the conversation',
        'not to call "transfer" in the conversation, but it called it 1 time(s)',
    ),
    "no tools": ("Then the agent calls no tools", "expected no tool calls in turn 1, but the agent called get_balance"),
    "with argument": (
        'Then the agent calls "transfer" with amount 300',
        "amount: expected 300, got 200",
    ),
    "with missing argument": (
        'Then the agent calls "transfer" with "currency" "USD"',
        "currency: missing (expected USD)",
    ),
    "with table": (
        'Then the agent calls "transfer" with:\n  | to_account | /^check/ |\n  | amount | 200 |',
        'to_account: expected /^check/, got "savings"',
    ),
    "with table bad shape": (
        'Then the agent calls "transfer" with:\n  | amount |',
        "needs a table of argument and value rows",
    ),
    "count": (
        'Then the agent calls "get_balance" once',
        'expected "get_balance" to be called exactly 1 time(s) in turn 1',
    ),
    "count at least": (
        'Then the agent calls "transfer" at least 2 times',
        "called at least 2 time(s) in turn 1, but it was called 1 time(s)",
    ),
    "count at most": ('Then the agent calls "get_balance" at most 1 time', "called at most 1 time(s)"),
    "before": ('Then the agent calls "transfer" before "list_accounts"', '"list_accounts" was not called'),
    "before wrong order": (
        'When the user says "move then check"\nThen the agent calls "get_balance" before "transfer"',
        'expected "get_balance" before "transfer" in turn 2, but the order was: transfer, get_balance',
    ),
    "in order": (
        "Then the agent calls these tools in order:\n  | transfer |\n  | transfer |",
        "expected these tools in this order (others may come between) in turn 1: transfer, transfer",
    ),
    "exactly in order": (
        "Then the agent calls exactly these tools in order:\n  | get_balance |\n  | transfer |",
        "but the agent called: get_balance, transfer, get_balance",
    ),
    "at most calls": ("Then the agent makes at most 2 tool calls", "expected at most 2 tool call(s) in turn 1"),
    "every call succeeds": (
        'When the user says "overdraw"\nThen every tool call succeeds',
        "Insufficient funds in 'checking'",
    ),
    "tool call fails": ('Then the tool call to "transfer" fails', 'the call to "transfer" in turn 1 to fail'),
    "contains": ('Then the response contains "5,000"', 'to contain "5,000" (ignoring case)'),
    "does not contain": ('Then the response does not contain "moved"', 'not to contain "moved"'),
    "matches": ('Then the response matches "^savings"', 'to match "^savings"'),
    "bad regex": ('Then the response matches "(unclosed"', "is not a valid regular expression"),
    "contains all": ("Then the response contains all of:\n  | moved |\n  | euro |", "missing: euro"),
    "contains none": ("Then the response contains none of:\n  | moved |\n  | euro |", "found: moved"),
    "not empty": ('When the user says "empty"\nThen the response is not empty', "no script rule matches"),
    "turn time": ("Then the turn takes less than 0.0001 seconds", "expected turn 1 to take less than 0.0001 s"),
    "conversation time": ("Then the conversation takes less than 0.0001 seconds", "conversation to take less"),
    "turn tokens": ("Then the turn uses fewer than 10 tokens", "expected turn 1 to use fewer than 10 tokens"),
    "conversation tokens": ("Then the conversation uses fewer than 10 tokens", "conversation to use fewer than 10"),
    "cost": ("Then the conversation costs less than $0.0000001", "expected the conversation to cost less than"),
    "judge no": (
        'Then the response satisfies "mentions a number"',
        "the judge (aitest-scripted:judge) said no: No number.",
    ),
    "judge rubric": ('Then the response satisfies:\n  """\n  mentions a number\n  """', "said no: No number."),
    "judge invalid json": (
        'Then the response satisfies "broken judge"',
        "did not answer with JSON like",
    ),
    "clarification": (
        'When the user says "move money"\nThen the agent does not ask for clarification',
        "expected the agent to answer without asking for clarification",
    ),
}


def scenario(name: str, steps: str) -> str:
    return f"\n  Scenario: {name}\n" + textwrap.indent(textwrap.dedent(steps).strip("\n"), "    ") + "\n"


def run_steps(project, feature_text: str) -> dict[str, dict]:
    project.feature("steps", feature_text)
    project.run("--aitest-json", "results.json")
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


@pytest.mark.script(STEPS_SCRIPT)
def test_every_step_passes_when_it_should(project) -> None:
    feature = BACKGROUND + scenario("passing", PASSING_AFTER_FIRST_TURN + PASSING_AFTER_SECOND_TURN)
    tests = run_steps(project, feature)
    assert tests["passing"]["status"] == "passed", tests["passing"]["message"]
    steps = tests["passing"]["steps"]
    assert len(steps) == 40 and all(step["status"] == "passed" for step in steps)
    judged = tests["passing"]["conversations"][0]["turns"][1]["judgements"]
    assert (judged[0]["criterion"], judged[0]["passed"], judged[0]["reasoning"]) == (
        "polite and friendly",
        True,
        "It greets.",
    )


@pytest.mark.script(STEPS_SCRIPT)
def test_every_step_fails_with_a_message_that_explains(project) -> None:
    feature = BACKGROUND + "".join(scenario(name, steps) for name, (steps, _) in FAILING.items())
    tests = run_steps(project, feature)
    problems = []
    for name, (_, expected) in FAILING.items():
        test = tests[name]
        if test["status"] != "failed" or expected not in (test["message"] or ""):
            problems.append(f"{name}: {test['status']}: {test['message']}")
    assert not problems, "\n\n".join(problems)
    message = tests["with argument"]["message"]
    assert "Turn 1" in message and '  tool call: transfer({"amount": 200' in message, "failures show the transcript"


@pytest.mark.script(STEPS_SCRIPT)
def test_then_without_a_turn_or_agent_says_what_to_do(project) -> None:
    feature = """
Feature: Order of steps
  Scenario: no turn yet
    Given the agent "banking"
    Then the agent calls "transfer"

  Scenario: no agent
    When the user says "hello"
"""
    tests = run_steps(project, feature)
    assert "has had no turn yet: add a 'When the user says' step first" in tests["no turn yet"]["message"]
    assert 'start the scenario (or its Background) with Given the agent "NAME"' in tests["no agent"]["message"]


@pytest.mark.script(STEPS_SCRIPT)
def test_price_unknown_and_no_judge_are_clear_errors(project) -> None:
    project.pytester.makeconftest(
        project.pytester.path.joinpath("conftest.py").read_text()
        + "\n\n@pytest.fixture\ndef aitest_judge():\n    return None\n"
    )
    feature = """
Feature: Missing configuration
  Background:
    Given the agent "banking"
    When the user says "hello"

  Scenario: unpriced
    Then the conversation costs less than $1

  Scenario: unjudged
    Then the response satisfies "polite"
"""
    tests = run_steps(project, feature)
    assert "price unknown for scripted-default" in tests["unpriced"]["message"]
    assert "this step needs a judge model: pass --aitest-judge-model" in tests["unjudged"]["message"]


@pytest.mark.script(STEPS_SCRIPT)
def test_the_one_line_reason_of_a_tool_step_leads_with_the_mismatch(project) -> None:
    leads = {
        "one call": (
            'Then the agent calls "transfer" with amount 300',
            'amount: expected 300, got 200 (the call to "transfer" in turn 1)',
        ),
        "closest call": (
            'Then the agent calls "get_balance" with:\n  | account | savings |\n  | currency | USD |',
            'currency: missing (expected USD) (the closest of 2 calls to "get_balance" in turn 1)',
        ),
        "order": (
            "Then the agent calls these tools in order:\n  | transfer |\n  | transfer |",
            "transfer, transfer; but the agent called: get_balance, transfer, get_balance",
        ),
        "failed calls": (
            'When the user says "overdraw"\nThen every tool call succeeds',
            "to succeed, but transfer failed: Error executing tool transfer: Insufficient funds in 'checking'",
        ),
    }
    project.feature("steps", BACKGROUND + "".join(scenario(name, steps) for name, (steps, _) in leads.items()))
    project.run("--aitest-md", "summary.md")
    summary = (project.pytester.path / "summary.md").read_text().replace("\\", "").splitlines()
    rows = {name: next(line for line in summary if f"› {name} " in line) for name in leads}
    problems = [f"{name}: {rows[name]}" for name, (_, lead) in leads.items() if lead not in rows[name]]
    assert not problems, "\n".join(problems)
