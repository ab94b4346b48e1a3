"""Tool stubs and faults from the feature, with the banking server on the scripted model."""

from __future__ import annotations

import json

import pytest

BALANCE = {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]}
SCRIPT = {
    "rules": [
        {
            "user": "move 5000",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 5000},
                        }
                    ]
                },
                {"content": "Sorry, the transfer did not go through: {result:transfer}"},
            ],
        },
        {"user": "balance", "replies": [BALANCE, {"content": "Checking: ${result:get_balance.formatted}"}]},
        {"user": "balance three times", "replies": [BALANCE, BALANCE, BALANCE, {"content": "Last: {result}"}]},
        {
            "user": "balance of nothing",
            "replies": [{"tool_calls": [{"name": "get_balance", "arguments": {}}]}, {"content": "It said: {result}"}],
        },
        {
            "user": "find customer 42",
            "replies": [
                {"tool_calls": [{"name": "lookup", "arguments": {"id": "42"}}]},
                {"content": "Customer 42 is {result:lookup.name}."},
            ],
        },
        {"user": "is the bank there", "replies": [BALANCE, {"content": "Sorry, I cannot reach the bank: {result}"}]},
        {"user": "echo slowly", "replies": [{"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}]},
    ]
}
BALANCE_JSON = '{"account": "checking", "balance": 12.5, "currency": "USD", "formatted": "12.50"}'


def results(project) -> dict[str, dict]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


def calls(test: dict) -> list[dict]:
    return [call for turn in test["conversations"][0]["turns"] for call in turn["tool_calls"]]


@pytest.mark.script(SCRIPT)
def test_a_stubbed_failure_makes_the_agent_apologise_and_the_call_is_marked_stubbed(project) -> None:
    project.feature(
        "stubs",
        """
        Feature: Stubs
          Scenario: The transfer fails
            Given the agent "banking"
            And the tool "transfer" fails with "insufficient funds"
            When the user says "move 5000"
            Then the agent calls "transfer"
            And the tool call to "transfer" fails
            And the response contains "Sorry"
            And the response contains "insufficient funds"
        """,
    )
    project.run("--aitest-json", "results.json").assert_outcomes(passed=1)
    [call] = calls(results(project)["The transfer fails"])
    assert (call["stubbed"], call["is_error"], call["server"]) == (True, True, "banking")
    assert call["result_text"] == "insufficient funds"
    assert project.live_servers() == []


@pytest.mark.script(SCRIPT)
def test_a_stubbed_result_from_json_or_a_table_and_a_sequence(project) -> None:
    project.feature(
        "stubs",
        f'''
        Feature: Stubs
          Scenario: JSON
            Given the agent "banking"
            And the tool "get_balance" returns:
              """
              {BALANCE_JSON}
              """
            When the user says "balance"
            Then the response contains "Checking: $12.50"

          Scenario: A table
            Given the agent "banking"
            And the tool "get_balance" returns:
              | field     | value |
              | formatted | 7.00  |
              | balance   | 7     |
            When the user says "balance"
            Then the response contains "Checking: $7.00"

          Scenario: A sequence
            Given the agent "banking"
            And the tool "get_balance" returns "A" the first time, and "B" after that
            When the user says "balance three times"
            Then the agent calls "get_balance" 3 times
            And the response contains "Last: B"
        ''',
    )
    project.run("--aitest-json", "results.json").assert_outcomes(passed=3)
    found = results(project)
    [json_call] = calls(found["JSON"])
    assert json_call["structured_content"] == json.loads(BALANCE_JSON)
    assert json.loads(json_call["result_text"]) == json.loads(BALANCE_JSON)
    [table_call] = calls(found["A table"])
    assert table_call["structured_content"] == {"formatted": "7.00", "balance": 7}
    assert [call["result_text"] for call in calls(found["A sequence"])] == ["A", "B", "B"]
    assert all(call["stubbed"] for call in calls(found["A sequence"]))


@pytest.mark.script(SCRIPT)
def test_a_delay_counts_in_the_calls_duration_and_call_timeout_bounds_it(project) -> None:
    project.feature(
        "slow",
        """
        Feature: Slow tools
          Scenario: A slow real tool
            Given the agent "banking"
            And the tool "get_balance" takes 0.3 seconds
            When the user says "balance"
            Then the response contains "Checking: $1,500.00"

          Scenario: Slower than call_timeout
            Given the agent "faulty-impatient"
            And the tool "echo" takes 1.5 seconds
            When the user says "echo slowly"
        """,
    )
    result = project.run("--aitest-json", "results.json")
    result.assert_outcomes(passed=1, failed=1)
    [call] = calls(results(project)["A slow real tool"])
    assert not call["stubbed"] and call["duration_ms"] >= 300
    result.stdout.fnmatch_lines(["*tool 'echo' on MCP server 'faulty' did not answer within call_timeout=1s*"])


@pytest.mark.script(SCRIPT)
def test_arguments_that_break_the_tools_schema_go_back_to_the_model(project) -> None:
    project.feature(
        "bad",
        f'''
        Feature: Bad arguments
          Scenario: No account
            Given the agent "banking"
            And the tool "get_balance" returns:
              """
              {BALANCE_JSON}
              """
            When the user says "balance of nothing"
            Then the tool call to "get_balance" fails
            And the response contains "Input validation error: 'account' is a required property"
        ''',
    )
    project.run().assert_outcomes(passed=1)


@pytest.mark.script(SCRIPT)
def test_a_tool_no_server_has_is_declared_with_its_schema(project) -> None:
    project.feature(
        "declared",
        """
        Feature: A declared tool
          Scenario: Lookup
            Given the agent "plain"
            And the tool "lookup" described as "Finds a customer by id" with the schema:
              \"\"\"
              {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
              \"\"\"
            And the tool "lookup" returns:
              \"\"\"
              {"name": "Ada"}
              \"\"\"
            When the user says "find customer 42"
            Then the agent calls "lookup" with id 42
            And the response contains "Customer 42 is Ada."
        """,
    )
    project.run().assert_outcomes(passed=1)
    [offered] = project.server.requests[-1]["tools"]
    assert offered["function"]["name"] == "lookup"
    assert offered["function"]["description"] == "Finds a customer by id"


@pytest.mark.script(SCRIPT)
def test_a_server_that_is_down_offers_no_tools_and_the_agent_copes(project) -> None:
    project.feature(
        "down",
        """
        Feature: The bank is down
          Scenario: Down
            Given the agent "banking"
            And the MCP server "banking" is down
            When the user says "is the bank there"
            Then the tool call to "get_balance" fails
            And the response contains "Sorry, I cannot reach the bank"
            And the response contains "there is no tool named 'get_balance'"

          Scenario: A server the agent does not have
            Given the agent "banking"
            And the MCP server "bank" is down
        """,
    )
    result = project.run("--aitest-json", "results.json")
    result.assert_outcomes(passed=1, failed=1)
    assert "tools" not in project.server.requests[-1]
    down = results(project)["Down"]["conversations"][0]
    assert down["down_servers"] == ["banking"]
    assert down["tools"] == []  # not offered, so not in the tools the report lists, nor in the coverage
    result.stdout.fnmatch_lines(["*agent 'banking' has no MCP server \"bank\" (its servers: banking)*"])


NO_LEAK = """
Feature: Stubs stay in their scenario
  Scenario: Stubbed
    Given the agent "feature-bank"
    And the tool "get_balance" returns:
      \"\"\"
      {"formatted": "1.00"}
      \"\"\"
    When the user says "balance"
    Then the response contains "Checking: $1.00"

  Scenario: Real
    Given the agent "feature-bank"
    When the user says "balance"
    Then the response contains "Checking: $1,500.00"
"""


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_stubs_do_not_leak_into_the_next_scenario(project, outside_xdist, workers) -> None:
    project.feature("no_leak", NO_LEAK)
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", *workers, "--aitest-json", "results.json", timeout=120
    )
    result.assert_outcomes(passed=2)
    [real] = calls(results(project)["Real"])
    assert not real["stubbed"]
    assert project.live_servers() == []


@pytest.mark.script(SCRIPT)
def test_stubbed_calls_are_recorded_and_replayed_without_model_or_server(project) -> None:
    project.feature(
        "recorded",
        """
        Feature: Recorded stubs
          Scenario: Failure and a declared tool
            Given the agent "banking"
            And the tool "transfer" fails with "insufficient funds"
            And the tool "lookup" with the schema:
              \"\"\"
              {"type": "object", "properties": {"id": {"type": "string"}}}
              \"\"\"
            And the tool "lookup" returns:
              \"\"\"
              {"name": "Ada"}
              \"\"\"
            When the user says "move 5000"
            Then the tool call to "transfer" fails
            When the user says "find customer 42"
            Then the response contains "Customer 42 is Ada."
        """,
    )
    project.run("--aitest-record=once", "--aitest-json", "results.json").assert_outcomes(passed=1)
    recorded = calls(results(project)["Failure and a declared tool"])
    project.server.stop()
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace('command=[sys.executable, "-m"', 'command=["no-such-program"'))
    project.run("--aitest-record=none", "--aitest-json", "results.json").assert_outcomes(passed=1)
    replayed = calls(results(project)["Failure and a declared tool"])
    assert [(call["name"], call["stubbed"], call["result_text"]) for call in replayed] == [
        ("transfer", True, "insufficient funds"),
        ("lookup", True, '{"name": "Ada"}'),
    ]
    assert [call["result_text"] for call in recorded] == [call["result_text"] for call in replayed]
    assert [call["duration_ms"] for call in recorded] == [call["duration_ms"] for call in replayed]

    feature = project.pytester.path / "recorded.feature"
    feature.write_text(feature.read_text().replace("insufficient funds", "the bank is closed"))
    changed = project.run("--aitest-record=none")
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*the result of tool 'transfer' differs from the recording*", "*Re-record it with*"])

    feature.write_text(feature.read_text().replace('And the tool "transfer" fails with "the bank is closed"\n', ""))
    removed = project.run("--aitest-record=none")
    removed.assert_outcomes(failed=1)
    removed.stdout.fnmatch_lines(["*the recording answers tool 'transfer' from a stub that the scenario no longer*"])
