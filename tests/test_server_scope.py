"""MCP servers shared by the scenarios of a feature file, or by the whole run."""

from __future__ import annotations

import pytest

SCRIPT = {
    "rules": [
        {
            "user": "move 200",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 200},
                        }
                    ]
                },
                {"content": "Moved."},
            ],
        },
        {
            "user": "balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Checking: ${result:get_balance.formatted}"},
            ],
        },
    ]
}


def feature(agent: str, title: str) -> str:
    return f"""
Feature: {title}
  Scenario: First a transfer
    Given the agent "{agent}"
    When the user says "move 200"
    Then the agent calls "transfer"

  Scenario: Then the balance
    Given the agent "{agent}"
    When the user says "balance"
    Then the response contains "$1,300.00"
"""


@pytest.mark.script(SCRIPT)
def test_feature_scope_shares_one_server_per_feature_file(project) -> None:
    project.feature("shared_a", feature("feature-bank", "A"))
    project.feature("shared_b", feature("feature-bank", "B"))
    project.feature("fresh", feature("banking", "Fresh").replace("$1,300.00", "$1,500.00"))
    result = project.run("-v")
    result.assert_outcomes(passed=6)
    assert project.live_servers() == []


@pytest.mark.script(SCRIPT)
def test_run_scope_shares_one_server_across_files(project) -> None:
    project.feature("run_a", feature("run-bank", "A"))
    second = feature("run-bank", "B").replace("$1,300.00", "$1,100.00")
    project.feature("run_b", second)
    project.run("-p", "no:randomly").assert_outcomes(passed=4)
    assert project.live_servers() == []
