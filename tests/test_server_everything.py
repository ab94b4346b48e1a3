"""server-everything, the MCP reference server from npm, over stdio, SSE and streamable HTTP: the agent starts, is
offered the server's tools, calls them, and leaves no server process behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import everything_server
import pytest
from everything_server import Everything, node
from fault_table import HEALTHY, OUTPUTS

everything = everything_server.everything

TRANSPORTS = ["stdio", "sse", "streamable-http"]
TOOLS = [
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    "gzip-file-as-resource",
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    "trigger-long-running-operation",
    "trigger-elicitation-request",
    "trigger-url-elicitation",
    "trigger-sampling-request",
]
"""The tools the agent is offered: all the server lists but `simulate-research-query`, which runs only as a task
(the elicitation and sampling tools are listed because the client declares those capabilities; `get-roots-list`
only to a client that offers roots)."""

SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {
            "user": "echo and add",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "echo", "arguments": {"message": "hello from aitest"}},
                        {"name": "get-sum", "arguments": {"a": 2, "b": 3}},
                    ]
                },
                {"content": "{result:echo} / {result:get-sum}"},
            ],
        },
    ]
}

FEATURE = (
    """Feature: server-everything

  Scenario: echo and sum
    Given the agent "everything"
    When the user says "echo and add"
    Then the agent calls "echo" with "message" "hello from aitest"
    And the agent calls "get-sum" with:
      | a | 2 |
      | b | 3 |
    And every tool call succeeds
    And the response contains "Echo: hello from aitest"
    And the response contains "The sum of 2 and 3 is 5."
    And the programs of the run's MCP server processes are noted

  Scenario: a tool that runs only as a task
    Given the agent "everything-tasks"
"""
    + HEALTHY
)

AGENTS = """

@pytest.fixture
def aitest_agents(base_agents):
    provider = base_agents[0].provider

    def everything(**options):
        return MCPServer(name="everything", **{options!r}, **options)

    return [
        *base_agents,
        Agent(name="everything", provider=provider, mcp_servers=[everything()]),
        Agent(name="everything-tasks", provider=provider,
              mcp_servers=[everything(allowed_tools=["echo", "simulate-research-query"])]),
    ]


@then("the programs of the run's MCP server processes are noted")
def note_server_programs():
    programs = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if MARKER.encode() in environ.read_bytes():
                programs.append(environ.with_name("cmdline").read_bytes().split(b"\\0")[0].decode())
        except OSError:
            continue
    Path("server-programs.json").write_text(json.dumps(programs))
"""


@pytest.fixture
def everything_project(project, everything: Everything):
    """The project, with agents on server-everything over the test's transport, and a step that notes the programs
    of the MCP server processes the run started."""
    options = dict(everything.options)
    if everything.transport == "stdio":
        options["env"] = {"AITEST_TEST_MARKER": project.marker}
    conftest = project.pytester.path.joinpath("conftest.py").read_text()
    project.pytester.makeconftest(
        conftest.replace("def aitest_agents():", "def base_agents():")
        + "\nimport json\nfrom pathlib import Path\nfrom pytest_bdd import then\n"
        + AGENTS.format(options=options)
    )
    yield project
    for pid in project.live_servers():  # only when a test failed: leave no process behind
        os.kill(pid, signal.SIGKILL)


def gone(project) -> list[int]:
    """The project's server processes still running a few seconds from now, if any."""
    deadline = time.monotonic() + 5
    while project.live_servers() and time.monotonic() < deadline:
        time.sleep(0.1)
    return project.live_servers()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.script(SCRIPT)
def test_agent_calls_the_tools_of_server_everything(everything_project, everything: Everything, transport: str) -> None:
    everything_project.feature("everything", FEATURE)
    everything_project.run(*OUTPUTS)
    path = everything_project.pytester.path
    tests = {test["name"]: test for test in json.loads((path / "results.json").read_text())["tests"]}

    called = tests["echo and sum"]
    assert called["status"] == "passed", called["message"]
    conversation = called["conversations"][0]
    assert [tool["name"] for tool in conversation["tools"]] == TOOLS
    assert {tool["server"] for tool in conversation["tools"]} == {"everything"}
    offered = [tool["function"]["name"] for tool in everything_project.server.requests[0]["tools"]]
    assert offered == TOOLS
    calls = {call["name"]: call for call in conversation["turns"][0]["tool_calls"]}
    assert calls["echo"]["result_text"] == "Echo: hello from aitest"
    assert calls["get-sum"]["result_text"] == "The sum of 2 and 3 is 5."
    assert conversation["turns"][0]["final_response"] == "Echo: hello from aitest / The sum of 2 and 3 is 5."
    assert "Echo: hello from aitest" in (path / "report.html").read_text(encoding="utf-8")

    tasks = tests["a tool that runs only as a task"]
    assert tasks["status"] == "failed"
    assert (
        "MCP server 'everything' runs 'simulate-research-query' only as a task (execution.taskSupport 'required'), "
        "and aitest-bdd does not support MCP tasks yet: take it out of MCPServer(allowed_tools=[...])"
    ) in tasks["message"]
    assert tests["healthy"]["status"] == "passed", tests["healthy"]["message"]

    if transport == "stdio":
        programs = json.loads((path / "server-programs.json").read_text())
        assert "node" in [Path(program).name for program in programs], programs
    assert gone(everything_project) == [], "a server-everything process outlived the run"
    if everything.process is not None:
        assert everything.process.poll() is None, "the server the test started stopped during the run"


FAILING_TEST = """
import pytest

from everything_server import everything


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
def test_fails(everything, transport):
    open(transport + ".pid", "w").write(str(everything.process.pid))
    assert False, "this test fails"
"""


def test_the_server_a_test_started_is_stopped_when_the_test_fails(pytester: pytest.Pytester) -> None:
    node()
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_fails=FAILING_TEST)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=2)
    for transport in ("sse", "streamable-http"):
        pid = int((pytester.path / f"{transport}.pid").read_text())
        assert not Path(f"/proc/{pid}").exists(), f"the {transport} server outlived its failed test"
