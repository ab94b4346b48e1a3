"""Bad input fails one scenario with a message that names the cause; the other scenarios still run."""

from __future__ import annotations

import json

import pytest
from fault_table import HEALTHY

SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {
            "user": "teleport me",
            "replies": [
                {"tool_calls": [{"name": "teleport", "arguments": {"to": "Mars"}}]},
                {"content": "I cannot: {result}"},
            ],
        },
        {
            "user": "bad arguments",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "raw_arguments": '{"account": checking'}]},
                {"content": "The tool said: {result}"},
            ],
        },
        {"user": "garbage", "replies": [{"malformed_body": True}]},
        {"user_regex": "garbled verdict", "replies": [{"malformed_body": True}]},
        {"user": "nothing", "replies": [{"no_choices": True}]},
        {
            "user": "loop forever",
            "replies": [{"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]}],
        },
    ]
}


def run(project, feature: str, *options: str) -> dict[str, dict]:
    project.feature("bad", "Feature: Bad input\n" + feature + HEALTHY)
    result = project.run("--aitest-json", "results.json", *options)
    tests = {t["name"]: t for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]}
    assert tests["healthy"]["status"] == "passed", "a bad scenario must not break the others"
    return tests | {"_output": result.stdout.str()}


@pytest.mark.script(SCRIPT)
def test_unknown_agent(project) -> None:
    tests = run(project, '  Scenario: typo\n    Given the agent "bankng"\n')
    message = tests["typo"]["message"]
    assert "no agent named 'bankng'; the aitest_agents fixture defines: 'banking', 'weather'" in message


@pytest.mark.script(SCRIPT)
def test_unknown_model_prefix_and_missing_key(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    tests = run(
        project,
        """
  Scenario: prefix
    Given the agent "no-endpoint" using model "mistral/large"

  Scenario: key
    Given the agent "no-endpoint"
""",
    )
    assert (
        "unknown model prefix 'mistral' in model 'mistral/large': use one of openai/, azure/, ollama/"
        in (tests["prefix"]["message"])
    )
    assert "model 'gpt-4.1-mini' needs an API key: set OPENAI_API_KEY" in tests["key"]["message"]


@pytest.mark.script(SCRIPT)
def test_server_that_fails_to_start_shows_its_stderr(project) -> None:
    tests = run(
        project,
        """
  Scenario: crashing server
    Given the agent "broken-server"

  Scenario: missing program
    Given the agent "missing-program"
""",
    )
    crash = tests["crashing server"]["message"]
    assert "agent 'broken-server' could not start: MCP server 'broken' exited during start-up" in crash
    assert "--- stderr of MCP server 'broken' (last lines) ---\nboom: DATABASE_URL is not set" in crash
    assert "program 'no-such-mcp-server-xyz' not found" in tests["missing program"]["message"]


@pytest.mark.script(SCRIPT)
def test_invented_tool_and_malformed_arguments_go_back_to_the_model(project) -> None:
    tests = run(
        project,
        """
  Scenario: invented tool
    Given the agent "banking"
    When the user says "teleport me"
    Then the tool call to "teleport" fails
    And the response contains "there is no tool named 'teleport'"

  Scenario: malformed arguments
    Given the agent "banking"
    When the user says "bad arguments"
    Then the tool call to "get_balance" fails
    And the response contains "the arguments are not valid JSON"
""",
    )
    assert tests["invented tool"]["status"] == "passed", tests["invented tool"]["message"]
    assert tests["malformed arguments"]["status"] == "passed", tests["malformed arguments"]["message"]
    call = tests["malformed arguments"]["conversations"][0]["turns"][0]["tool_calls"][0]
    assert call["raw_arguments"] == '{"account": checking' and call["is_error"] is True
    invented = tests["invented tool"]["conversations"][0]["turns"][0]["tool_calls"][0]
    assert "Available tools: list_accounts, get_balance, transfer, get_transactions" in invented["result_text"]


@pytest.mark.script(SCRIPT)
def test_endless_tool_calls_stop_at_max_tool_rounds(project) -> None:
    tests = run(project, '  Scenario: endless\n    Given the agent "banking"\n    When the user says "loop forever"\n')
    message = tests["endless"]["message"]
    assert "the agent was still calling tools (get_balance) after max_tool_rounds=10" in message
    turn = tests["endless"]["conversations"][0]["turns"][0]
    assert len(turn["tool_calls"]) == 10 and turn["error"]


@pytest.mark.script(SCRIPT)
def test_undefined_step_suggests_the_closest(project) -> None:
    tests = run(project, '  Scenario: typo step\n    Given the agent "plain"\n    Then the agent call "get_balance"\n')
    message = tests["typo step"]["message"]
    assert 'no step matches "Then the agent call "get_balance"" (bad.feature:4, scenario "typo step")' in message
    assert 'closest steps:\n    Then the agent calls "<tool>"' in message
    assert tests["typo step"]["steps"][1]["status"] == "undefined"


@pytest.mark.script(SCRIPT)
def test_malformed_feature_file_fails_alone(project) -> None:
    project.feature("good", "Feature: Good\n" + HEALTHY)
    project.feature(
        "broken", 'Feature: Broken\n  Scenario: one\n    Given the agent "plain"\n  Oops this is not Gherkin\n'
    )
    result = project.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*broken.feature:4: the feature file cannot be parsed*", "*Oops this is not Gherkin*"])


@pytest.mark.script(SCRIPT)
def test_async_step_is_refused(project) -> None:
    project.pytester.makeconftest(
        project.pytester.path.joinpath("conftest.py").read_text()
        + "\n\nfrom pytest_bdd import then\n\n@then('nothing is awaited')\nasync def never_awaited():\n"
        + "    raise AssertionError('unreachable')\n"
    )
    tests = run(project, '  Scenario: async\n    Given the agent "plain"\n    Then nothing is awaited\n')
    assert "is bound to async def never_awaited" in tests["async"]["message"]
    assert "pytest-bdd does not await steps" in tests["async"]["message"]


@pytest.mark.script(SCRIPT)
def test_unreadable_model_responses_fail_the_turn(project) -> None:
    tests = run(
        project,
        """
  Scenario: garbage
    Given the agent "plain"
    When the user says "garbage"

  Scenario: no choices
    Given the agent "plain"
    When the user says "nothing"
""",
    )
    assert "model 'scripted-default' sent a response that is not a chat completion" in tests["garbage"]["message"]
    assert "returned a response with no choices" in tests["no choices"]["message"]
    assert tests["garbage"]["conversations"][0]["turns"][0]["error"]


@pytest.mark.script(SCRIPT)
def test_an_unreadable_judge_answer_fails_its_step_while_recording(project) -> None:
    tests = run(
        project,
        """
  Scenario: garbled judge
    Given the agent "plain"
    When the user says "hello"
    Then the response satisfies "garbled verdict"
""",
        "--aitest-record=all",
    )
    assert tests["garbled judge"]["status"] == "failed"
    assert "the judge model 'judge' sent a response that is not a chat completion" in tests["garbled judge"]["message"]


@pytest.mark.script(SCRIPT)
def test_two_servers_offering_one_tool(project) -> None:
    tests = run(project, '  Scenario: twins\n    Given the agent "twin-banks"\n')
    message = tests["twins"]["message"]
    assert "tool 'list_accounts' is offered by both MCP server 'banking' and 'banking'" in message
    assert "Traceback" not in message and "ExceptionGroup" not in message
