"""LangGraphApp: a LangGraph ReAct agent with the real banking MCP server, on the scripted model."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp
import pytest
from langchain_core.tools import StructuredTool, ToolException
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent
from marked_processes import marked_processes
from mcp.client.stdio import StdioServerParameters

from aitest_bdd.app import AppError, AppRequest, AppToolCall, ModelEndpoint
from aitest_bdd.apps.langgraph import LangGraphApp
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

pytestmark = pytest.mark.filterwarnings("ignore:create_react_agent has been moved")

ROOT = Path(__file__).parent.parent
EXTRA_RULES = [{"user_regex": "model breaks", "replies": [{"error": {"status": 400, "message": "the model is down"}}]}]


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedModelServer]:
    script = json.loads((ROOT / "features" / "demo_model.json").read_text(encoding="utf-8"))
    script["rules"] = EXTRA_RULES + script["rules"]
    with ScriptedModelServer(Script.model_validate(script)) as server:
        yield server


def endpoint(server: ScriptedModelServer) -> ModelEndpoint:
    return ModelEndpoint(base_url=server.base_url, api_key="x", model="gpt-4.1-mini")


def request(message: str, model: ModelEndpoint, state: Any = None) -> AppRequest:
    return AppRequest(message=message, history=[], state=state, model=model, conversation_id="c1")


def chat(model: ModelEndpoint) -> ChatOpenAI:
    return ChatOpenAI(model=model.model, base_url=model.base_url, api_key=model.api_key, max_retries=0)


class Bank:
    """A builder of a ReAct agent whose tools call the banking MCP server, held open for the conversation.

    The tools are made as langchain-mcp-adapters makes them (it does not run with mcp 2): a failed result raises
    `ToolException`, which the tool turns into an error `ToolMessage` carrying the result's text.
    """

    def __init__(self) -> None:
        self.marker = uuid.uuid4().hex

    @asynccontextmanager
    async def build(self, model: ModelEndpoint) -> AsyncIterator[Any]:
        env = {**os.environ, "AITEST_TEST_MARKER": self.marker}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "aitest_bdd.testing.servers.banking"], env=env
        )
        async with mcp.Client(params) as client:
            listed = await client.list_tools()
            yield create_react_agent(chat(model), [self._tool(client, tool) for tool in listed.tools])

    @staticmethod
    def _tool(client: mcp.Client, tool: Any) -> StructuredTool:
        async def call(**arguments: Any) -> str:
            result = await client.call_tool(tool.name, arguments)
            text = "".join(block.text for block in result.content if block.type == "text")
            if result.is_error:
                raise ToolException(text)
            return text

        return StructuredTool(
            name=tool.name,
            description=tool.description or "",
            args_schema=tool.input_schema,
            coroutine=call,
            handle_tool_error=True,
        )

    def processes(self) -> list[int]:
        return marked_processes(self.marker)


@pytest.mark.asyncio(loop_scope="module")  # ChatOpenAI keeps one HTTP client per base URL, bound to its first loop
async def test_a_balance_then_a_transfer_carries_the_conversation(model_server: ScriptedModelServer) -> None:
    bank, model = Bank(), endpoint(model_server)
    app = LangGraphApp(bank.build)
    await app.start(model)
    try:
        first = await app.turn(request("What's my checking balance?", model))
        assert bank.processes(), "the MCP server runs while the conversation is open"
        second = await app.turn(request("Move 200 of it to savings", model, first.state))
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


@pytest.mark.asyncio(loop_scope="module")  # ChatOpenAI keeps one HTTP client per base URL, bound to its first loop
async def test_a_failed_tool_call_is_marked_and_the_model_still_answers(model_server: ScriptedModelServer) -> None:
    bank, model = Bank(), endpoint(model_server)
    app = LangGraphApp(bank.build)
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
    assert sent["role"] == "tool" and "Insufficient funds" in json.dumps(sent["content"])


@pytest.mark.asyncio(loop_scope="module")  # ChatOpenAI keeps one HTTP client per base URL, bound to its first loop
async def test_a_turn_without_tools_reports_none(model_server: ScriptedModelServer) -> None:
    async def build(model: ModelEndpoint) -> Any:
        return create_react_agent(chat(model), [])

    model = endpoint(model_server)
    app = LangGraphApp(build)
    await app.start(model)
    turn = await app.turn(request("Move some money for me", model))
    await app.stop()
    assert turn.tool_calls == []
    assert turn.reply.startswith("Happy to help.")


@pytest.mark.asyncio(loop_scope="module")  # ChatOpenAI keeps one HTTP client per base URL, bound to its first loop
async def test_a_failing_model_call_is_an_app_error_in_one_line(model_server: ScriptedModelServer) -> None:
    model = endpoint(model_server)
    app = LangGraphApp(lambda model: create_react_agent(chat(model), []))
    await app.start(model)
    failed = r"^the LangGraph graph failed: \w+Error: Error code: 400 - the model is down$"
    with pytest.raises(AppError, match=failed) as raised:
        await app.turn(request("the model breaks", model))
    await app.stop()
    assert "\n" not in str(raised.value)


@pytest.mark.asyncio(loop_scope="module")  # ChatOpenAI keeps one HTTP client per base URL, bound to its first loop
async def test_a_builder_that_gives_no_graph_is_an_app_error(model_server: ScriptedModelServer) -> None:
    app = LangGraphApp(lambda model: chat(model))
    with pytest.raises(AppError, match="the LangGraph builder gave a ChatOpenAI, not a compiled graph"):
        await app.start(endpoint(model_server))
    with pytest.raises(AppError, match="was not started"):
        await app.turn(request("hello", endpoint(model_server)))


def test_tool_calls_are_paired_with_their_results_by_id() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from aitest_bdd.apps.langgraph import _turn

    calls = [{"name": "get_balance", "args": {"account": "a"}, "id": "1"}, {"name": "fees", "args": {}, "id": "2"}]
    messages = [
        HumanMessage("before"),
        AIMessage("old"),
        HumanMessage("now"),
        AIMessage("", tool_calls=calls),
        ToolMessage("no fees", tool_call_id="2"),
        ToolMessage("boom", tool_call_id="1", status="error"),
        AIMessage("done"),
    ]
    turn = _turn(messages)
    assert turn.reply == "done"
    assert turn.tool_calls == [
        AppToolCall("get_balance", {"account": "a"}, "boom", True, "1"),
        AppToolCall("fees", {}, "no fees", False, "2"),
    ]
    assert turn.prompt_tokens is None
