"""JUnit XML carries per-test agent figures; pytest-bdd's Cucumber JSON keeps working alongside."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

SCRIPT = {
    "rules": [
        {
            "user": "balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Checking: ${result:get_balance.formatted}"},
            ],
        }
    ]
}

FEATURE = """
Feature: CI outputs
  Scenario: Balance
    Given the agent "banking" using model "gpt-4.1-mini"
    When the user says "balance"
    Then the agent calls "get_balance"
"""


@pytest.mark.script(SCRIPT)
def test_junit_properties_and_cucumber_json(project) -> None:
    project.feature("ci", FEATURE)
    project.run("--junitxml", "junit.xml", "--cucumberjson", "cucumber.json").assert_outcomes(passed=1)
    case = ET.parse(project.pytester.path / "junit.xml").getroot().find(".//testcase")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["aitest_model"] == "gpt-4.1-mini"
    assert properties["aitest_turns"] == "1" and properties["aitest_tool_calls"] == "1"
    assert int(properties["aitest_tokens"]) > 0 and float(properties["aitest_cost_usd"]) > 0
    cucumber = json.loads((project.pytester.path / "cucumber.json").read_text())
    steps = cucumber[0]["elements"][0]["steps"]
    assert [step["result"]["status"] for step in steps] == ["passed", "passed", "passed"]


LATE_OUTPUT = """
import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.option.aitest_json = "late.json"
"""


@pytest.mark.script(SCRIPT)
def test_an_output_set_after_configure_is_still_written(project) -> None:
    project.feature("ci", FEATURE)
    project.pytester.makepyfile(late_output=LATE_OUTPUT)
    project.pytester.syspathinsert()
    result = project.run("-p", "late_output")
    result.assert_outcomes(passed=1)
    data = json.loads((project.pytester.path / "late.json").read_text())
    assert [test["name"] for test in data["tests"]] == ["Balance"]
