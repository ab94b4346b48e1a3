"""PydanticAIApp: a Pydantic AI agent with the real banking MCP server, on the scripted model."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from fastmcp.client.transports import StdioTransport
from marked_processes import marked_processes
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.mcp import MCPToolset

from aitest_bdd.app import AppError, AppRequest, ModelEndpoint
from aitest_bdd.apps.pydantic_ai import PydanticAIApp
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).parent.parent
EXTRA_RULES = [
    {"user_regex": "model breaks", "replies": [{"error": {"status": 400, "message": "the model is down"}}]},
    {"user_regex": "audit", "replies": [{"tool_calls": [{"name": "audit"}]}, {"content": "Audit said: {result}"}]},
]


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedModelServer]:
    script = json.loads((ROOT / "features" / "demo_model.json").read_text(encoding="utf-8"))
    script["rules"] = EXTRA_RULES + script["rules"]
    with ScriptedModelServer(Script.model_validate(script)) as server:
        yield server


def endpoint(server: ScriptedModelServer, api: str = "chat") -> ModelEndpoint:
    return ModelEndpoint(base_url=server.base_url, api_key="x", model="gpt-4.1-mini", api=api)  # type: ignore[arg-type]


def request(message: str, model: ModelEndpoint, state: Any = None) -> AppRequest:
    return AppRequest(message=message, history=[], state=state, model=model, conversation_id="c1")


class Bank:
    """A Pydantic AI agent with the banking MCP server, its processes findable by a marker in their environment."""

    def __init__(self, tool_error_behavior: Literal["retry", "failed"] = "retry") -> None:
        self.marker = uuid.uuid4().hex
        env = {**os.environ, "AITEST_TEST_MARKER": self.marker}
        server = StdioTransport(command=sys.executable, args=["-m", "aitest_bdd.testing.servers.banking"], env=env)
        self.agent = Agent(
            instructions="You are a bank teller.",
            toolsets=[MCPToolset(server, tool_error_behavior=tool_error_behavior)],
        )

    def processes(self) -> list[int]:
        return marked_processes(self.marker)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_balance_then_a_transfer_carries_the_conversation(model_server: ScriptedModelServer, api: str) -> None:
    bank, model = Bank(), endpoint(model_server, api)
    app = PydanticAIApp(bank.agent)
    await app.start(model)
    try:
        first = await app.turn(request("What's my checking balance?", model))
        second = await app.turn(request("Move 200 of it to savings", model, first.state))
        assert len(bank.processes()) == 1, "one MCP server serves the whole conversation"
    finally:
        await app.stop()
    assert "1,500" in first.reply
    assert first.tool_calls is not None and len(first.tool_calls) == 1
    balance = first.tool_calls[0]
    assert (balance.name, balance.arguments, balance.is_error) == ("get_balance", {"account": "checking"}, False)
    assert json.loads(balance.result)["formatted"] == "1,500.00"
    assert balance.id
    assert first.prompt_tokens and first.completion_tokens
    assert second.tool_calls is not None and [call.name for call in second.tool_calls] == ["transfer"]
    assert second.tool_calls[0].arguments["amount"] == 200
    assert "1,300" in second.reply and "3,400" in second.reply
    assert len(second.state) > len(first.state)
    assert bank.processes() == [], "stop() ends the MCP server"


@pytest.mark.parametrize("behavior", ["retry", "failed"])
async def test_a_failed_mcp_call_is_marked_and_the_model_still_answers(
    model_server: ScriptedModelServer, behavior: Literal["retry", "failed"]
) -> None:
    bank, model = Bank(behavior), endpoint(model_server)
    app = PydanticAIApp(bank.agent)
    await app.start(model)
    try:
        turn = await app.turn(request("Transfer 5000 from checking to savings, please", model))
    finally:
        await app.stop()
    assert turn.tool_calls is not None and len(turn.tool_calls) == 1
    transfer = turn.tool_calls[0]
    assert (transfer.name, transfer.arguments["amount"], transfer.is_error) == ("transfer", 5000, True)
    assert "Insufficient funds" in transfer.result
    assert "insufficient funds" in turn.reply.lower()
    sent = model_server.requests[-1]["messages"][-1]
    assert sent["role"] == "tool" and json.loads(sent["content"])["error"].startswith("Error executing tool transfer")


async def test_a_tool_that_asks_for_a_retry_is_a_failed_call(model_server: ScriptedModelServer) -> None:
    agent = Agent()

    @agent.tool_plain
    def audit() -> str:
        """Audit the accounts."""
        raise ModelRetry("the auditor is out")

    model = endpoint(model_server)
    app = PydanticAIApp(agent)
    await app.start(model)
    turn = await app.turn(request("Run an audit", model))
    await app.stop()
    assert turn.tool_calls is not None and [(call.name, call.is_error) for call in turn.tool_calls] == [("audit", True)]
    assert turn.tool_calls[0].result == "the auditor is out"
    assert "the auditor is out" in turn.reply


async def test_a_failing_model_call_is_an_app_error_in_one_line(model_server: ScriptedModelServer) -> None:
    model = endpoint(model_server)
    app = PydanticAIApp(Agent())
    await app.start(model)
    with pytest.raises(AppError, match=r"^the Pydantic AI agent failed: \w+: .*the model is down") as raised:
        await app.turn(request("the model breaks", model))
    await app.stop()
    assert "\n" not in str(raised.value)


async def test_an_mcp_server_that_cannot_start_is_an_app_error(model_server: ScriptedModelServer) -> None:
    broken = StdioTransport(command=sys.executable, args=["-c", "import sys; sys.exit(3)"])
    app = PydanticAIApp(Agent(toolsets=[MCPToolset(broken)]))
    with pytest.raises(AppError, match=r"^the Pydantic AI agent could not start: \w+: ") as raised:
        await app.start(endpoint(model_server))
    assert "\n" not in str(raised.value)
    with pytest.raises(AppError, match="was not started"):
        await app.turn(request("hello", endpoint(model_server)))
