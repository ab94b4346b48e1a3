"""Warm spares of scenario-scoped stdio MCP servers: the next scenario's server starts while this one runs, each
server still serves one scenario only, and none outlives the run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from fault_table import HEALTHY, OUTPUTS

CLOCK = Path(__file__).parent / "clock_mcp.py"
HOSTILE = Path(__file__).parent / "hostile_mcp.py"


def tool_call(name: str, **arguments) -> dict:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {"user": "when", "replies": [{**tool_call("started"), "latency_ms": 300}, {"content": "Started {result}"}]},
        {
            "user": "move 200",
            "replies": [
                tool_call("transfer", from_account="checking", to_account="savings", amount=200),
                {"content": "Moved."},
            ],
        },
        {
            "user": "balance",
            "replies": [
                tool_call("get_balance", account="checking"),
                {"content": "Checking: ${result:get_balance.formatted}"},
            ],
        },
        {"user": "echo", "replies": [tool_call("echo", text="here"), {"content": "Echo: {result}"}]},
    ]
}

AGENTS = """

@pytest.fixture
def aitest_agents(base_agents):
    provider = base_agents[0].provider
    marked = {{"AITEST_TEST_MARKER": MARKER}}
    return [
        *base_agents,
        Agent(name="clock", provider=provider,
              mcp_servers=[MCPServer(name="clock", command=[sys.executable, {clock!r}], env=marked)]),
        Agent(name="start-once", provider=provider,
              mcp_servers=[MCPServer(name="hostile", command=[sys.executable, {hostile!r}, "--start-once",
                                                              {started_once!r}], env=marked)]),
        Agent(name="slow-start", provider=provider, mcp_servers=[server("faulty", "--slow-start", "2")]),
    ]


@given(parsers.parse('the time is noted as "{{name}}"'))
def note_time(name):
    open(name, "w").write(repr(time.time()))
"""


@pytest.fixture
def spares_project(project):
    """The project, with an agent on a server that tells when it started, one on a server that starts only once,
    one on a server slow to start, and a step that notes the time in a file."""
    conftest = project.pytester.path.joinpath("conftest.py").read_text()
    extra = AGENTS.format(clock=str(CLOCK), hostile=str(HOSTILE), started_once=str(project.pytester.path / "once"))
    project.pytester.makeconftest(
        conftest.replace("def aitest_agents():", "def base_agents():")
        + "\nimport time\nfrom pytest_bdd import given, parsers\n"
        + extra
    )
    yield project
    for pid in project.live_servers():  # only when a test failed: leave no process behind
        os.kill(pid, signal.SIGKILL)


def results(project, *options: str) -> dict[str, dict]:
    project.run(*OUTPUTS, "-p", "no:randomly", *options)
    return {t["name"]: t for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]}


BANKING = """
Feature: Banking
  Scenario: First a transfer
    Given the agent "banking"
    When the user says "move 200"
    Then the agent calls "transfer"

  Scenario: Then the balance
    Given the agent "banking"
    When the user says "balance"
    Then the response contains "$1,500.00"

  Scenario: Another transfer
    Given the agent "banking"
    When the user says "move 200"
    When the user says "balance"
    Then the response contains "$1,300.00"

  Scenario: The balance again
    Given the agent "banking"
    When the user says "balance"
    Then the response contains "$1,500.00"
"""


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize("spares", ["1", "2"])
def test_each_scenario_has_a_server_of_its_own_with_spares(spares_project, spares: str) -> None:
    spares_project.feature("banking", BANKING)
    result = spares_project.run("-p", "no:randomly", "--aitest-mcp-spares", spares)
    result.assert_outcomes(passed=4)
    assert spares_project.live_servers() == [], "a spare outlived the run"


CLOCKS = """
Feature: Clocks
  Scenario: first
    Given the time is noted as "first"
    And the agent "clock"
    When the user says "when"

  Scenario: second
    Given the time is noted as "second"
    And the agent "clock"
    When the user says "when"
"""


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize("spares", ["1", "0"])
def test_the_next_scenario_takes_a_server_started_before_it(spares_project, spares: str) -> None:
    spares_project.feature("clocks", CLOCKS)
    tests = results(spares_project, "--aitest-mcp-spares", spares)
    path = spares_project.pytester.path
    started = {}
    for name in ("first", "second"):
        assert tests[name]["status"] == "passed", tests[name]["message"]
        call = tests[name]["conversations"][0]["turns"][0]["tool_calls"][0]
        started[name] = float(call["result_text"]) - float((path / name).read_text())
    assert started["first"] > 0, "the first scenario's server started before the scenario"
    if spares == "0":
        assert started["second"] > 0, "without spares, a server started before its scenario"
    else:
        assert started["second"] < 0, "the second scenario did not get the spare started during the first"
    assert spares_project.live_servers() == [], "a server outlived the run"


@pytest.mark.script(SCRIPT)
def test_a_spare_that_fails_to_start_fails_its_scenario_as_without_spares(spares_project) -> None:
    feature = """
Feature: Starts once
  Scenario: started
    Given the agent "start-once"
    When the user says "echo"
    Then the response contains "here"

  Scenario: not started again
    Given the agent "start-once"
    When the user says "echo"
""" + HEALTHY
    spares_project.feature("once", feature)
    messages = {}
    for spares in ("1", "0"):
        (spares_project.pytester.path / "once").unlink(missing_ok=True)
        tests = results(spares_project, "--aitest-mcp-spares", spares)
        assert tests["started"]["status"] == "passed", tests["started"]["message"]
        assert tests["healthy"]["status"] == "passed"
        assert tests["not started again"]["status"] == "failed"
        messages[spares] = tests["not started again"]["message"]
        assert spares_project.live_servers() == [], "a server outlived the run"
    assert "MCP server 'hostile' exited during start-up" in messages["0"]
    assert messages["1"] == messages["0"]


@pytest.mark.script(SCRIPT)
def test_a_spare_still_starting_at_the_end_of_the_run_is_stopped(spares_project) -> None:
    spares_project.feature("slow", '\nFeature: Slow\n  Scenario: slow\n    Given the agent "slow-start"\n')
    result = spares_project.run("-p", "no:randomly", "--aitest-mcp-spares", "1")
    result.assert_outcomes(passed=1)
    assert spares_project.live_servers() == [], "the spare that was starting outlived the run"


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize(("option", "shown"), [("--aitest-mcp-spares=-1", "--aitest-mcp-spares '-1'"),
                                                ("-oaitest_mcp_spares=some", "aitest_mcp_spares = 'some'")])
def test_the_number_of_spares_is_checked(spares_project, option: str, shown: str) -> None:
    result = spares_project.run(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{shown} is not a number of spare MCP servers: give 0 (none), 1 or more*"])
