"""A compiled LangGraph graph whose state holds `messages` (a ReAct agent), as the agent under test.

The graph's model must send its calls to aitest-bdd's model proxy, so the app is given a builder that makes the graph
for a `ModelEndpoint` when a conversation starts::

    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    from aitest_bdd import Agent
    from aitest_bdd.apps.langgraph import LangGraphApp

    def build(model):
        chat = ChatOpenAI(model=model.model, base_url=model.base_url, api_key=model.api_key)
        return create_react_agent(chat, tools)

    Agent(name="banking", provider=provider, app=LangGraphApp(build))

The builder may be async, or an async context manager that yields the graph and holds what the graph needs for the
whole conversation (an MCP session, say); the app leaves it when the conversation ends. langchain-mcp-adapters 0.3
needs `mcp<2` and aitest-bdd `mcp>=2.2`, so until it supports mcp 2 a graph's MCP tools are `StructuredTool`s that
call an `mcp.Client` (a failed result raising `ToolException`), as in the project's `tests/test_any_agent.py`.
A tool call is reported failed when its `ToolMessage` has `status="error"`: what a tool's handled error becomes
(the model sees the error text).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from aitest_bdd.app import AgentApp, AppError, AppRequest, AppToolCall, AppTurn, ModelEndpoint
from aitest_bdd.errors import cause

try:
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
    from langgraph.pregel.protocol import PregelProtocol
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError('LangGraphApp needs LangGraph: pip install "aitest-bdd[langgraph]"') from error

GraphBuilder = Callable[[ModelEndpoint], Any | Awaitable[Any] | AbstractAsyncContextManager[Any]]
"""Makes the compiled graph for a model endpoint: returns it, awaits to it, or is an async context manager of it."""


class LangGraphApp(AgentApp):
    """Runs each turn as `graph.ainvoke({"messages": [...]})`; the state between turns is the graph's messages."""

    label = "LangGraph graph"

    def __init__(self, build: GraphBuilder) -> None:
        self._build = build
        self._graph: Any = None
        self._exits = AsyncExitStack()

    async def start(self, model: ModelEndpoint) -> None:
        """Build the graph for this conversation."""
        try:
            built = self._build(model)
            if inspect.isawaitable(built):
                built = await built
            if isinstance(built, AbstractAsyncContextManager):
                built = await self._exits.enter_async_context(built)
        except Exception as error:
            await self.stop()
            raise AppError(f"the LangGraph builder failed: {cause(error)}") from error
        if not isinstance(built, PregelProtocol):
            await self.stop()
            raise AppError(f"the LangGraph builder gave a {type(built).__name__}, not a compiled graph")
        self._graph = built

    async def turn(self, request: AppRequest) -> AppTurn:
        """Invoke the graph on the messages so far and the user's message."""
        if self._graph is None:
            raise AppError("the LangGraph app was not started")
        sent: list[BaseMessage] = [*(request.state or []), HumanMessage(request.message)]
        try:
            result = await self._graph.ainvoke({"messages": sent})
        except Exception as error:
            raise AppError(f"the LangGraph graph failed: {cause(error)}") from error
        messages = result.get("messages") if isinstance(result, dict) else None
        if not isinstance(messages, list):
            raise AppError("the LangGraph graph returned no `messages`: its state must hold the conversation")
        return _turn(messages)

    async def stop(self) -> None:
        """Leave the builder's context, if it gave one."""
        self._graph = None
        exits, self._exits = self._exits, AsyncExitStack()
        await exits.aclose()


def _turn(messages: list[BaseMessage]) -> AppTurn:
    """What the graph did after the last user message."""
    starts = [i for i, message in enumerate(messages) if isinstance(message, HumanMessage)]
    new = messages[starts[-1] + 1 :] if starts else messages
    answers = [message for message in new if isinstance(message, AIMessage)]
    results = {message.tool_call_id: message for message in new if isinstance(message, ToolMessage)}
    calls = [_call(call, results.get(call["id"] or "")) for answer in answers for call in answer.tool_calls]
    usages = [answer.usage_metadata for answer in answers if answer.usage_metadata]
    return AppTurn(
        reply=str(answers[-1].text) if answers else "",
        state=messages,
        tool_calls=calls,
        prompt_tokens=sum(usage["input_tokens"] for usage in usages) if usages else None,
        completion_tokens=sum(usage["output_tokens"] for usage in usages) if usages else None,
    )


def _call(call: ToolCall, result: ToolMessage | None) -> AppToolCall:
    return AppToolCall(
        name=call["name"],
        arguments=dict(call["args"]),
        result=str(result.text) if result is not None else "",
        is_error=result is not None and result.status == "error",
        id=call["id"] or "",
    )
