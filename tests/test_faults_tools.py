"""Faults on the tool side: broken text, servers that break the protocol or never answer, processes that
outlive their server or their run, Ctrl-C during a start, and shared servers that crash or cannot restart.
Each fails only its scenario."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from fault_table import HEALTHY, OUTPUTS

from aitest_bdd import MCPServer
from aitest_bdd.errors import ToolServerError
from aitest_bdd.tools.answers import ToolAnswer
from aitest_bdd.tools.servers import open_server
from aitest_bdd.version import package_version

HOSTILE = Path(__file__).parent / "hostile_mcp.py"


def tool_call(name: str, **arguments) -> dict:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {"user": "surrogate", "replies": [tool_call("lone_surrogate"), {"content": "Got {result}"}]},
        {"user": "not utf-8", "replies": [tool_call("invalid_utf8"), {"content": "Got {result}"}]},
        {"user": "malformed", "replies": [tool_call("malformed_content"), {"content": "never"}]},
        {"user": "wrong structure", "replies": [tool_call("wrong_structure"), {"content": "never"}]},
        {"user": "huge structured", "replies": [tool_call("huge_structured"), {"content": "Got {result}"}]},
        {"user": "echo", "replies": [tool_call("echo", text="still here"), {"content": "Echo: {result}"}]},
        {"user": "crash it", "replies": [tool_call("crash"), {"content": "never"}]},
        {"user": "spawn", "replies": [tool_call("spawn_child"), {"content": "Spawned: {result}"}]},
    ]
}

AGENTS = """

@pytest.fixture
def aitest_agents(base_agents):
    provider = base_agents[0].provider

    def hostile(*args, **options):
        command = [sys.executable, {hostile!r}, *args]
        return MCPServer(name="hostile", command=command, env={{"AITEST_TEST_MARKER": MARKER}}, **options)

    return [
        *base_agents,
        Agent(name="hostile", provider=provider, mcp_servers=[hostile()]),
        Agent(name="hostile-schema", provider=provider, mcp_servers=[hostile("--string-schema")]),
        Agent(name="hostile-schema-left-out", provider=provider,
              mcp_servers=[hostile("--string-schema", allowed_tools=["echo"])]),
        Agent(name="silent-url", provider=provider,
              mcp_servers=[MCPServer(name="silent", url={silent_url!r}, startup_timeout=2)]),
        Agent(name="slow-start", provider=provider, mcp_servers=[server("faulty", "--slow-start", "3")]),
        Agent(name="shared-faulty", provider=provider, mcp_servers=[server("faulty", scope="feature")]),
        Agent(name="shared-start-once", provider=provider,
              mcp_servers=[hostile("--start-once", {started_once!r}, scope="feature")]),
    ]


@given("Ctrl-C comes in a second")
def ctrl_c_soon():
    main = threading.main_thread().ident
    threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT)).start()


@given("the run waits to be killed")
def wait_to_be_killed():
    open({servers_up!r}, "w").close()  # the agent's servers are up
    time.sleep(60)
"""


@pytest.fixture
def silent_url() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
    listener.close()
    for connection in accepted:
        connection.close()


@pytest.fixture
def tools_project(project, silent_url: str):
    """The project, with agents on the hostile server, a silent URL, a slow server, a shared faulty one and a shared
    one that starts only once; and steps that send Ctrl-C, or wait for the run to be killed."""
    conftest = project.pytester.path.joinpath("conftest.py").read_text()
    extra = AGENTS.format(
        hostile=str(HOSTILE),
        silent_url=silent_url,
        started_once=str(project.pytester.path / "started-once"),
        servers_up=str(project.pytester.path / "servers-up"),
    )
    project.pytester.makeconftest(
        conftest.replace("def aitest_agents():", "def base_agents():")
        + "\nimport threading, signal, time\nfrom pytest_bdd import given\n"
        + extra
    )
    yield project
    for pid in project.live_servers():  # only when a test failed: leave no process behind
        os.kill(pid, signal.SIGKILL)


def run(project, feature: str, *options: str) -> dict[str, dict]:
    """Run `feature` (its scenarios), check every output was written, and return the results by scenario name."""
    project.feature("tools", "Feature: Tool faults\n" + feature + HEALTHY)
    project.run(*OUTPUTS, *options)
    for output in ("report.html", "summary.md"):
        assert (project.pytester.path / output).read_text(encoding="utf-8"), f"{output} is empty"
    tests = {t["name"]: t for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]}
    assert tests["healthy"]["status"] == "passed"
    return tests


def first_call(test: dict) -> dict:
    return test["conversations"][0]["turns"][0]["tool_calls"][0]


def gone(project) -> list[int]:
    """The project's server processes still running a few seconds from now, if any."""
    deadline = time.monotonic() + 5
    while project.live_servers() and time.monotonic() < deadline:
        time.sleep(0.1)
    return project.live_servers()


@pytest.mark.script(SCRIPT)
def test_text_that_is_not_unicode_arrives_repaired(tools_project) -> None:
    tests = run(
        tools_project,
        """
  Scenario: lone surrogate
    Given the agent "faulty"
    When the user says "surrogate"
    Then the response contains "cut at"

  Scenario: not utf-8
    Given the agent "faulty"
    When the user says "not utf-8"
    Then the response contains "bytes"
""",
    )
    surrogate = first_call(tests["lone surrogate"])
    assert tests["lone surrogate"]["status"] == "passed", tests["lone surrogate"]["message"]
    assert surrogate["structured_content"] == {"text": "cut at \ufffd"}
    assert "cut at \ufffd" in surrogate["result_text"]
    assert tests["not utf-8"]["status"] == "passed", tests["not utf-8"]["message"]
    assert first_call(tests["not utf-8"])["result_text"] == "bytes \ufffd\ufffd here"


@pytest.mark.script(SCRIPT)
def test_servers_that_break_the_protocol_are_named_with_the_tool(tools_project) -> None:
    tests = run(
        tools_project,
        """
  Scenario: schema that is not an object
    Given the agent "hostile-schema"
    When the user says "echo"

  Scenario: that tool left out
    Given the agent "hostile-schema-left-out"
    When the user says "echo"
    Then the response contains "still here"

  Scenario: malformed content
    Given the agent "hostile"
    When the user says "malformed"

  Scenario: structure that breaks its schema
    Given the agent "hostile"
    When the user says "wrong structure"

  Scenario: huge structured content
    Given the agent "faulty"
    When the user says "huge structured"
    Then the response contains "rows sent"
""",
    )
    schema = tests["schema that is not an object"]
    assert schema["status"] == "failed"
    assert (
        "MCP server 'hostile' offers tools whose definitions are not valid MCP ('takes_a_string': "
        "inputSchema.type: Input should be 'object'"
    ) in schema["message"]
    assert "leave them out with MCPServer(allowed_tools=[...])" in schema["message"]
    assert tests["that tool left out"]["status"] == "passed", tests["that tool left out"]["message"]

    malformed = tests["malformed content"]
    expected = "MCP server 'hostile' sent a result for tool 'malformed_content' that is not a valid MCP tool result"
    assert malformed["status"] == "failed" and expected in malformed["message"]
    assert expected in malformed["conversations"][0]["turns"][0]["error"]

    wrong = tests["structure that breaks its schema"]
    expected = "MCP server 'hostile' sent an invalid result for tool 'wrong_structure' (Invalid structured content"
    assert wrong["status"] == "failed" and expected in wrong["message"]

    huge = tests["huge structured content"]
    assert huge["status"] == "passed", huge["message"]
    assert first_call(huge)["structured_content"] is None
    assert "characters of JSON]" in first_call(huge)["result_text"]
    assert (tools_project.pytester.path / "results.json").stat().st_size < 1_000_000


@pytest.mark.script(SCRIPT)
def test_start_up_over_http_is_bounded_by_startup_timeout(tools_project) -> None:
    tests = run(tools_project, '\n  Scenario: silent\n    Given the agent "silent-url"\n')
    silent = tests["silent"]
    waited = max(step["duration_ms"] for step in silent["steps"])
    assert waited < 3500, f"start-up took {waited:.0f} ms, not about startup_timeout=2s"
    assert "MCP server 'silent' did not start within startup_timeout=2s" in silent["message"]
    assert "raise MCPServer(startup_timeout=...)" in silent["message"]


@pytest.mark.script(SCRIPT)
def test_no_server_process_outlives_the_run(tools_project) -> None:
    tests = run(
        tools_project,
        """
  Scenario: server that leaves a child running
    Given the agent "faulty"
    When the user says "spawn"
    Then the response contains "started helper process"

  Scenario: stubborn server
    Given the agent "stubborn"
    When the user says "hello"
""",
    )
    assert tests["server that leaves a child running"]["status"] == "passed"
    assert tests["stubborn server"]["status"] == "passed", tests["stubborn server"]["message"]
    assert gone(tools_project) == [], "a server's child process outlived the run"


@pytest.mark.script(SCRIPT)
def test_no_server_process_outlives_a_killed_run(tools_project) -> None:
    path = tools_project.pytester.path
    killed = '\n  Scenario: killed\n    Given the agent "stubborn"\n    And the run waits to be killed\n'
    tools_project.feature("killed", "Feature: Killed\n" + killed)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "killed.feature"]
    with (path / "run.log").open("wb") as log:
        run = subprocess.Popen(command, cwd=path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (path / "servers-up").exists():
            assert run.poll() is None and time.monotonic() < deadline, (path / "run.log").read_text()
            time.sleep(0.1)
        assert tools_project.live_servers(), "the stubborn server is not running"
    finally:
        run.kill()  # SIGKILL: the run cannot close anything
        run.wait()
    assert gone(tools_project) == [], "a server outlived the run that was killed"


@pytest.mark.script(SCRIPT)
def test_ctrl_c_while_a_server_starts_ends_the_run(tools_project) -> None:
    slow = '\n  Scenario: slow start\n    Given Ctrl-C comes in a second\n    And the agent "slow-start"\n'
    tools_project.feature("interrupted", "Feature: Interrupted\n" + HEALTHY + slow)
    started = time.monotonic()
    result = tools_project.pytester.runpytest_subprocess("-p", "no:cacheprovider", *OUTPUTS, timeout=30)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert time.monotonic() - started < 25  # well before the run's 30 s timeout, however busy the machine
    tests = json.loads((tools_project.pytester.path / "results.json").read_text())["tests"]
    assert [test["name"] for test in tests] == ["healthy"]
    assert gone(tools_project) == [], "the server outlived the interrupted run"


@pytest.mark.script(SCRIPT)
def test_shared_server_that_crashed_is_restarted_once(tools_project) -> None:
    tests = run(
        tools_project,
        """
  Scenario: crash
    Given the agent "shared-faulty"
    When the user says "crash it"

  Scenario: after the crash
    Given the agent "shared-faulty"
    When the user says "echo"
    Then the response contains "still here"

  Scenario: crash again
    Given the agent "shared-faulty"
    When the user says "crash it"

  Scenario: after the second crash
    Given the agent "shared-faulty"
    When the user says "echo"

  Scenario: later still
    Given the agent "shared-faulty"
    When the user says "echo"
""",
        "-p",
        "no:randomly",
    )
    assert "MCP server 'faulty' failed during a call to 'crash'" in tests["crash"]["message"]
    assert tests["after the crash"]["status"] == "passed", tests["after the crash"]["message"]
    restarted = "MCP server 'faulty' had crashed in an earlier scenario, and was restarted"
    assert restarted in tests["crash again"]["message"]
    given_up = (
        "MCP server 'faulty' (scope='feature') crashed again after its restart, and a shared server is restarted "
        "only once"
    )
    assert given_up in tests["after the second crash"]["message"]
    assert tests["later still"]["status"] == "failed" and given_up in tests["later still"]["message"]
    assert gone(tools_project) == []


@pytest.mark.script(SCRIPT)
def test_shared_server_whose_restart_failed_is_not_started_again(tools_project) -> None:
    tests = run(
        tools_project,
        """
  Scenario: crash
    Given the agent "shared-start-once"
    When the user says "crash it"

  Scenario: restart
    Given the agent "shared-start-once"
    When the user says "echo"

  Scenario: after the failed restart
    Given the agent "shared-start-once"
    When the user says "echo"
""",
        "-p",
        "no:randomly",
    )
    assert "MCP server 'hostile' failed during a call to 'crash'" in tests["crash"]["message"]
    restart = tests["restart"]["message"]
    assert "MCP server 'hostile' exited during start-up" in restart
    assert "(it was being restarted: it had crashed in an earlier scenario)" in restart
    after = tests["after the failed restart"]
    assert after["status"] == "failed"
    assert (
        "MCP server 'hostile' (scope='feature') crashed, and its restart failed; a shared server is restarted only "
        "once: fix the server, or give it scope='scenario'. The restart failed with:\nMCP server 'hostile' exited "
        "during start-up"
    ) in after["message"]
    assert "hostile_mcp: started once already" in after["message"]
    assert gone(tools_project) == []


def test_a_failure_that_is_not_the_servers_is_not_blamed_on_it() -> None:
    """Only the SDK's refusal of a result is the server's invalid result; a RuntimeError of the client's own (here:
    a call on a connection already closed) comes out as it is."""
    config = MCPServer(name="hostile", command=[sys.executable, str(HOSTILE)])

    async def call_after_close() -> None:
        async with open_server(config) as server:
            assert (await server.call("echo", {"text": "open"})).text == "open"
        await server.call("echo", {"text": "closed"})

    with pytest.raises(RuntimeError) as raised:
        anyio.run(call_after_close)
    assert type(raised.value) is RuntimeError, raised.value
    assert "Client must be used within an async context manager" in str(raised.value)


def test_structured_content_is_measured_in_characters() -> None:
    """Text that is not ASCII counts one character a character, not as the escapes of ASCII-only JSON."""
    answer = ToolAnswer(text="ok", structured_content={"text": "é" * 400})
    assert answer.truncated(1000).structured_content == {"text": "é" * 400}
    assert answer.truncated(1000) is answer
    assert answer.truncated(300).structured_content is None


def test_the_client_says_who_it_is_and_refuses_allowed_tools_the_server_lacks() -> None:
    """The server sees `aitest-bdd` and its version; an `allowed_tools` name no tool has fails the start with
    the names that exist (a typo would leave the agent without the tool)."""

    async def client_info() -> str:
        async with open_server(MCPServer(name="hostile", command=[sys.executable, str(HOSTILE)])) as server:
            return (await server.call("client_info", {})).text

    assert anyio.run(client_info) == f"aitest-bdd {package_version()}"

    async def start_with_a_typo() -> None:
        config = MCPServer(name="hostile", command=[sys.executable, str(HOSTILE)], allowed_tools=["ecoh", "echo"])
        async with open_server(config):
            pass

    with pytest.raises(ToolServerError) as raised:
        anyio.run(start_with_a_typo)
    assert "MCP server 'hostile' offers no tool named 'ecoh' that MCPServer(allowed_tools=[...]) names" in str(
        raised.value
    )
    assert "it offers: echo, malformed_content, crash, client_info" in str(raised.value)


def test_the_stderr_tail_holds_whole_lines_only() -> None:
    """The tail starts at a line: a secret cut in half by the 2,000-character tail would not be redacted."""
    secret = "cut-secret-value-0123456789"
    code = f"import sys; print({secret!r}, file=sys.stderr); print('y' * 1988, file=sys.stderr); sys.exit(3)"

    async def start() -> None:
        async with open_server(MCPServer(name="noisy", command=[sys.executable, "-c", code])):
            pass

    with pytest.raises(ToolServerError) as raised:
        anyio.run(start)
    tail = str(raised.value).split("(last lines) ---\n", 1)[1]
    assert tail.startswith("yyyy"), tail[:40]
