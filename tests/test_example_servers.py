"""The example MCP servers, run for real as subprocesses and driven with the `mcp` client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from marked_processes import marked_processes
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from aitest_bdd.testing.servers._cli import parse_args

PACKAGE = "aitest_bdd.testing.servers"
MARKER_VAR = "AITEST_EXAMPLE_SERVER_MARKER"


def run(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn)


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique value put into each server's environment; no process may carry it once the test ends."""
    value = uuid.uuid4().hex
    yield value
    deadline = time.monotonic() + 5
    while marked_processes(value) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked_processes(value) == [], "an example server process outlived its test"


@pytest.fixture
def connect(tmp_path: Path, marker: str) -> Callable[[str], Any]:
    """`async with connect("banking") as client:` starts that server over stdio and connects to it."""

    @asynccontextmanager
    async def _connect(name: str) -> AsyncIterator[Client]:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", f"{PACKAGE}.{name}"], env={MARKER_VAR: marker}
        )
        with (tmp_path / f"{name}-{uuid.uuid4().hex[:8]}.stderr").open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                yield client

    return _connect


def text(result: CallToolResult) -> str:
    assert result.content, "the result has no content"
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call_ok(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) should have failed, got {result.structured_content}"
    assert result.structured_content is None
    return text(result)


async def tool_schemas(client: Client) -> dict[str, dict[str, Any]]:
    tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description and len(tool.description) > 30, f"{tool.name} needs a useful description"
    return {tool.name: tool.input_schema for tool in tools}


# --- banking ---------------------------------------------------------------------------------------------


def test_banking_tools_and_state(connect: Any, marker: str) -> None:
    async def scenario() -> None:
        async with connect("banking") as client:
            schemas = await tool_schemas(client)
            assert set(schemas) == {"list_accounts", "get_balance", "transfer", "get_transactions"}
            assert len(marked_processes(marker)) == 1  # so the `marker` fixture's leftover check can see servers
            assert schemas["transfer"]["required"] == ["from_account", "to_account", "amount"]
            assert schemas["transfer"]["properties"]["amount"]["type"] == "number"
            assert schemas["get_transactions"]["properties"]["limit"]["default"] == 10

            assert await call_ok(client, "get_balance", account="checking") == {
                "account": "checking",
                "balance": 1500.0,
                "currency": "USD",
                "formatted": "1,500.00",
            }
            accounts = (await call_ok(client, "list_accounts"))["result"]
            assert {a["account"]: a["balance"] for a in accounts} == {"checking": 1500.0, "savings": 3200.0}

            moved = await call_ok(client, "transfer", from_account="checking", to_account="savings", amount=250.5)
            assert moved["amount"] == 250.5
            assert moved["new_balances"]["checking"]["balance"] == 1249.5
            assert moved["new_balances"]["savings"]["formatted"] == "3,450.50"

            # state is kept across calls within one server process
            assert (await call_ok(client, "get_balance", account="savings"))["balance"] == 3450.5
            history = (await call_ok(client, "get_transactions", account="checking", limit=3))["result"]
            assert len(history) == 3
            assert history[0]["type"] == "transfer_out"
            assert history[0]["amount"] == -250.5
            assert history[0]["balance_after"] == 1249.5
            assert [t["id"] for t in history] == sorted((t["id"] for t in history), reverse=True)

            error = await call_error(client, "transfer", from_account="checking", to_account="savings", amount=5000)
            assert "Insufficient funds" in error
            assert "checking" in error and "1,249.50" in error
            # a failed transfer changes nothing
            assert (await call_ok(client, "get_balance", account="checking"))["balance"] == 1249.5

            error = await call_error(client, "get_balance", account="brokerage")
            assert "'brokerage'" in error and "checking" in error and "savings" in error
            assert "greater than 0" in await call_error(
                client, "transfer", from_account="savings", to_account="checking", amount=-1
            )

    run(scenario)


def test_banking_state_resets_in_a_new_process(connect: Any) -> None:
    async def scenario() -> None:
        async with connect("banking") as client:
            await call_ok(client, "transfer", from_account="savings", to_account="checking", amount=100)
            assert (await call_ok(client, "get_balance", account="checking"))["balance"] == 1600.0
        async with connect("banking") as client:
            assert (await call_ok(client, "get_balance", account="checking"))["balance"] == 1500.0
            history = (await call_ok(client, "get_transactions", account="checking"))["result"]
            assert all(t["type"] != "transfer_in" for t in history)

    run(scenario)


# --- weather ---------------------------------------------------------------------------------------------


def test_weather(connect: Any) -> None:
    async def scenario() -> None:
        async with connect("weather") as client:
            schemas = await tool_schemas(client)
            assert set(schemas) == {"get_weather", "get_forecast", "get_weather_icon", "get_weather_report"}
            assert schemas["get_weather"]["required"] == ["city"]
            assert schemas["get_forecast"]["properties"]["days"]["default"] == 1

            now = await call_ok(client, "get_weather", city="paris")
            assert now["city"] == "Paris"
            assert now["temperature_c"] == 18
            assert now["conditions"] == "partly cloudy"
            assert {"humidity", "wind_kph"} <= set(now)

            tomorrow = (await call_ok(client, "get_forecast", city="Paris"))["days"]
            assert len(tomorrow) == 1
            assert tomorrow[0]["day"] == "tomorrow"
            assert tomorrow[0]["conditions"] == "rain"
            assert tomorrow[0]["chance_of_rain"] == 80
            assert tomorrow[0]["low_c"] < tomorrow[0]["high_c"]

            week = (await call_ok(client, "get_forecast", city="New York", days=5))["days"]
            assert len(week) == 5
            assert len({day["day"] for day in week}) == 5

            error = await call_error(client, "get_weather", city="Atlantis")
            assert "'Atlantis'" in error and "Paris" in error and "Tokyo" in error
            assert "1 to 5" in await call_error(client, "get_forecast", city="Paris", days=9)

    run(scenario)


# --- todo ------------------------------------------------------------------------------------------------


def test_todo(connect: Any) -> None:
    async def scenario() -> None:
        async with connect("todo") as client:
            schemas = await tool_schemas(client)
            asking = {"plan_task", "summarise_tasks", "export_targets", "review_tasks"}  # see test_server_requests
            assert set(schemas) == {"add_task", "list_tasks", "complete_task", *asking}
            assert schemas["complete_task"]["properties"]["task_id"]["type"] == "integer"
            assert schemas["add_task"]["properties"]["priority"]["default"] == "normal"

            assert (await call_ok(client, "list_tasks"))["tasks"] == []
            milk = await call_ok(client, "add_task", title="Buy milk")
            assert milk == {"id": 1, "title": "Buy milk", "priority": "normal", "status": "open"}
            rent = await call_ok(client, "add_task", title="Pay rent", priority="high")
            assert rent["id"] == 2 and rent["priority"] == "high"
            assert "'urgent'" in await call_error(client, "add_task", title="Panic", priority="urgent")

            done = await call_ok(client, "complete_task", task_id=milk["id"])
            assert done["status"] == "done"

            listing = await call_ok(client, "list_tasks")
            assert listing["count"] == 2
            assert {t["title"]: t["status"] for t in listing["tasks"]} == {"Buy milk": "done", "Pay rent": "open"}
            assert [t["id"] for t in (await call_ok(client, "list_tasks", status="open"))["tasks"]] == [2]
            assert [t["id"] for t in (await call_ok(client, "list_tasks", status="done"))["tasks"]] == [1]

            error = await call_error(client, "complete_task", task_id=42)
            assert "42" in error and "1, 2" in error

    run(scenario)


# --- command line and HTTP transport ---------------------------------------------------------------------


def test_cli_defaults_to_stdio_on_localhost() -> None:
    args = parse_args("prog", "desc", [])
    assert (args.transport, args.host, args.port) == ("stdio", "127.0.0.1", 8000)
    args = parse_args("prog", "desc", ["--transport", "streamable-http", "--port", "9123"])
    assert (args.transport, args.port) == ("streamable-http", 9123)


@pytest.mark.parametrize("name", ["banking", "weather", "todo", "faulty"])
def test_stdio_server_answers_then_exits_cleanly_once_stdin_closes(name: str) -> None:
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    command = [sys.executable, "-m", f"{PACKAGE}.{name}"]
    result = subprocess.run(command, input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["result"]["serverInfo"]["name"] == name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(proc: subprocess.Popen[bytes], port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early with code {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"server did not listen on port {port} within {timeout}s")


def test_weather_over_streamable_http(tmp_path: Path, marker: str) -> None:
    port = free_port()
    log_path = tmp_path / "weather-http.log"
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", f"{PACKAGE}.weather", "--transport", "streamable-http"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, MARKER_VAR: marker},
        )
        try:
            wait_for_port(proc, port)

            async def scenario() -> None:
                async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp")) as client:
                    assert "get_forecast" in await tool_schemas(client)
                    now = await call_ok(client, "get_weather", city="Tokyo")
                    assert now["city"] == "Tokyo" and now["conditions"] == "sunny"

            run(scenario)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    assert proc.returncode is not None
