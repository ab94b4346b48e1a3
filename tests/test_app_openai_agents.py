"""OpenAIAgentsApp: an OpenAI Agents SDK agent with the real banking MCP server, on the scripted model."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agents import Agent as SDKAgent
from agents import add_trace_processor, function_tool
from agents.mcp import MCPServerStdio
from agents.tracing import TracingProcessor
from marked_processes import marked_processes

from aitest_bdd.app import AppError, AppRequest, AppToolCall, ModelEndpoint
from aitest_bdd.apps.openai_agents import OpenAIAgentsApp
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

ROOT = Path(__file__).parent.parent
EXTRA_RULES = [
    {"user_regex": "model breaks", "replies": [{"error": {"status": 400, "message": "the model is down"}}]},
    {"user_regex": "audit", "replies": [{"tool_calls": [{"name": "audit"}]}, {"content": "Audit said: {result}"}]},
]
BALANCE = '{\n  "account": "checking",\n  "balance": 1500.0,\n  "currency": "USD",\n  "formatted": "1,500.00"\n}'


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    script = json.loads((ROOT / "features" / "demo_model.json").read_text(encoding="utf-8"))
    script["rules"] = EXTRA_RULES + script["rules"]
    with ScriptedModelServer(Script.model_validate(script)) as server:
        yield server


class Bank:
    """The banking MCP server for an SDK agent, its processes findable by a marker in their environment."""

    def __init__(self, structured: bool = False) -> None:
        self.marker = uuid.uuid4().hex
        self.server = MCPServerStdio(
            params={
                "command": sys.executable,
                "args": ["-m", "aitest_bdd.testing.servers.banking"],
                "env": {"AITEST_TEST_MARKER": self.marker},
            },
            use_structured_content=structured,
        )

    def processes(self) -> list[int]:
        return marked_processes(self.marker)


@function_tool
def audit() -> str:
    """Audit the accounts."""
    raise RuntimeError("the auditor is out")


def teller(bank: Bank) -> SDKAgent[Any]:
    return SDKAgent(name="teller", instructions="You are a bank teller.", mcp_servers=[bank.server], tools=[audit])


def endpoint(server: ScriptedModelServer, api: str = "chat") -> ModelEndpoint:
    return ModelEndpoint(base_url=server.base_url, api_key="x", model="gpt-4.1-mini", api=api)  # type: ignore[arg-type]


def request(message: str, model: ModelEndpoint, state: Any = None) -> AppRequest:
    return AppRequest(message=message, history=[], state=state, model=model, conversation_id="c1")


@pytest.fixture
def bank() -> Bank:
    return Bank()


@pytest_asyncio.fixture
async def app(bank: Bank, model_server: ScriptedModelServer) -> AsyncIterator[OpenAIAgentsApp]:
    app = OpenAIAgentsApp(teller(bank))
    await app.start(endpoint(model_server))
    yield app
    await app.stop()


@pytest.mark.asyncio
async def test_two_turns_carry_the_items_and_report_the_tool_calls(
    app: OpenAIAgentsApp, model_server: ScriptedModelServer
) -> None:
    first = await app.turn(request("What's my checking balance?", endpoint(model_server)))

    assert "1,500" in first.reply
    assert first.tool_calls == [
        AppToolCall(name="get_balance", arguments={"account": "checking"}, result=BALANCE, id="call_1")
    ]
    assert first.prompt_tokens and first.completion_tokens

    second = await app.turn(request("Move 200 of it to savings", endpoint(model_server), first.state))

    assert [(call.name, call.arguments["amount"], call.is_error) for call in second.tool_calls or []] == [
        ("transfer", 200, False)
    ]
    assert "Checking now holds $1,300.00" in second.reply
    sent = model_server.requests[-1]["messages"]
    assert [message["content"] for message in sent if message["role"] == "user"] == [
        "What's my checking balance?",
        "Move 200 of it to savings",
    ]


@pytest.mark.asyncio
async def test_a_refused_transfer_is_a_failed_call(app: OpenAIAgentsApp, model_server: ScriptedModelServer) -> None:
    turn = await app.turn(request("Transfer 5000 from checking to savings, please", endpoint(model_server)))

    [call] = turn.tool_calls or []
    assert (call.name, call.arguments["amount"], call.is_error) == ("transfer", 5000, True)
    assert call.result.startswith("Error executing tool transfer: Insufficient funds in 'checking'")
    assert "insufficient funds" in turn.reply.lower()


@pytest.mark.asyncio
async def test_a_function_tool_that_raises_is_a_failed_call(
    app: OpenAIAgentsApp, model_server: ScriptedModelServer
) -> None:
    turn = await app.turn(request("Run an audit", endpoint(model_server)))

    assert [(call.name, call.is_error) for call in turn.tool_calls or []] == [("audit", True)]
    assert turn.reply == "Audit said: An error occurred while running the tool. Please try again."


@pytest.mark.asyncio
async def test_stop_ends_the_mcp_server_and_restores_it(bank: Bank, model_server: ScriptedModelServer) -> None:
    app = OpenAIAgentsApp(teller(bank))
    await app.start(endpoint(model_server))
    assert len(bank.processes()) == 1
    assert bank.server.custom_data_extractor is not None

    await app.stop()

    assert bank.processes() == []
    assert bank.server.custom_data_extractor is None
    assert bank.server.session is None


@pytest.mark.asyncio
async def test_the_servers_of_agents_handed_off_to_are_connected_too(
    bank: Bank, model_server: ScriptedModelServer
) -> None:
    app = OpenAIAgentsApp(SDKAgent(name="front desk", handoffs=[teller(bank)]))
    await app.start(endpoint(model_server))
    try:
        assert bank.server.session is not None
    finally:
        await app.stop()

    assert bank.processes() == []


@pytest.mark.asyncio
async def test_a_server_connected_by_the_user_is_left_running(model_server: ScriptedModelServer) -> None:
    bank = Bank()
    await bank.server.connect()
    try:
        app = OpenAIAgentsApp(teller(bank))
        await app.start(endpoint(model_server))
        turn = await app.turn(request("What's my checking balance?", endpoint(model_server)))
        await app.stop()

        assert "1,500" in turn.reply
        assert len(bank.processes()) == 1
    finally:
        await bank.server.cleanup()


@pytest.mark.asyncio
async def test_the_responses_api_and_structured_content(model_server: ScriptedModelServer) -> None:
    bank = Bank(structured=True)
    app = OpenAIAgentsApp(teller(bank))
    await app.start(endpoint(model_server, api="responses"))
    try:
        turn = await app.turn(request("What's my checking balance?", endpoint(model_server, api="responses")))
    finally:
        await app.stop()

    assert "1,500" in turn.reply
    assert [call.result for call in turn.tool_calls or []] == [json.dumps(json.loads(BALANCE))]
    assert model_server.requests[-1]["input"][0]["content"] == "What's my checking balance?"


@pytest.mark.asyncio
async def test_no_traces_are_made(app: OpenAIAgentsApp, model_server: ScriptedModelServer) -> None:
    traces: list[Any] = []

    class Recorder(TracingProcessor):
        def on_trace_start(self, trace: Any) -> None:
            traces.append(trace)

        def on_trace_end(self, trace: Any) -> None: ...
        def on_span_start(self, span: Any) -> None: ...
        def on_span_end(self, span: Any) -> None: ...
        def shutdown(self) -> None: ...
        def force_flush(self) -> None: ...

    add_trace_processor(Recorder())
    await app.turn(request("What's my checking balance?", endpoint(model_server)))

    assert traces == []


@pytest.mark.asyncio
async def test_a_failed_model_call_is_an_app_error(app: OpenAIAgentsApp, model_server: ScriptedModelServer) -> None:
    with pytest.raises(AppError, match=r"^the OpenAI Agents SDK run failed: BadRequestError: .*the model is down"):
        await app.turn(request("The model breaks", endpoint(model_server)))


@pytest.mark.asyncio
async def test_a_turn_before_start_is_an_app_error(bank: Bank, model_server: ScriptedModelServer) -> None:
    with pytest.raises(AppError, match="was not started"):
        await OpenAIAgentsApp(teller(bank)).turn(request("hi", endpoint(model_server)))


@pytest.mark.asyncio
async def test_a_server_that_cannot_start_is_an_app_error(model_server: ScriptedModelServer) -> None:
    broken = MCPServerStdio(params={"command": sys.executable, "args": ["-c", "raise SystemExit(3)"]}, name="broken")
    app = OpenAIAgentsApp(SDKAgent(name="teller", mcp_servers=[broken]))

    with pytest.raises(AppError, match=r"^the MCP server 'broken' did not connect: MCPError: "):
        await app.start(endpoint(model_server))
