"""A Pydantic AI `Agent`, with its MCP servers as toolsets, as the agent under test.

The app gives each run a model that points at aitest-bdd's model proxy, so the agent needs no model of its own::

    from pydantic_ai import Agent as PydanticAgent
    from pydantic_ai.mcp import MCPToolset

    from aitest_bdd import Agent
    from aitest_bdd.apps.pydantic_ai import PydanticAIApp

    bank = PydanticAgent(instructions="You are a careful bank assistant.", toolsets=[MCPToolset("bank_server.py")])

    Agent(name="banking", provider=provider, app=PydanticAIApp(bank))

The agent's context is entered when a conversation starts and left when it ends, and its MCP clients are closed then,
so each conversation gets fresh MCP servers. A tool call that did not succeed (an MCP `isError` result, a `ModelRetry`,
arguments that did not validate) is reported failed.

The model sees an MCP result's structured content as compact JSON (its content blocks when it has none or has more
than text), and a failed call as `{"error": "<the result's text>"}`. With `MCPToolset`'s default
`tool_error_behavior="retry"`, a failed call counts against the tool's retries: a model that repeats it past
`max_retries` fails the run; `tool_error_behavior="failed"` only reports it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from aitest_bdd.app import AgentApp, AppError, AppRequest, AppToolCall, AppTurn, ModelEndpoint
from aitest_bdd.errors import cause

try:
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import (
        ModelMessage,
        ModelRequest,
        ModelResponse,
        RetryPromptPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models import Model
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError('PydanticAIApp needs Pydantic AI: pip install "aitest-bdd[pydantic-ai]"') from error


class PydanticAIApp(AgentApp):
    """Runs each turn as `agent.run(message, message_history=...)`; the state between turns is all its messages."""

    label = "Pydantic AI agent"

    def __init__(self, agent: Agent[Any, Any]) -> None:
        self.agent = agent
        self._model: Model | None = None
        self._exits = AsyncExitStack()

    async def start(self, model: ModelEndpoint) -> None:
        """Make the model for this conversation and enter the agent's context, which starts its MCP servers."""
        provider = OpenAIProvider(base_url=model.base_url, api_key=model.api_key)
        made: Model = (
            OpenAIResponsesModel(model.model, provider=provider)
            if model.api == "responses"
            else OpenAIChatModel(model.model, provider=provider)
        )
        try:
            await self._exits.enter_async_context(made)
            self._exits.push_async_callback(_close_mcp_clients, self.agent)
            await self._exits.enter_async_context(self.agent)
        except Exception as error:
            await self.stop()
            raise AppError(f"the Pydantic AI agent could not start: {cause(error)}") from error
        self._model = made

    async def turn(self, request: AppRequest) -> AppTurn:
        """Run the agent on the user's message after the messages so far."""
        if self._model is None:
            raise AppError("the Pydantic AI app was not started")
        try:
            result = await self.agent.run(request.message, message_history=request.state, model=self._model)
        except Exception as error:
            raise AppError(f"the Pydantic AI agent failed: {cause(error)}") from error
        usage = result.usage
        return AppTurn(
            reply=result.output if isinstance(result.output, str) else str(result.output),
            state=result.all_messages(),
            tool_calls=_tool_calls(result.new_messages()),
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
        )

    async def stop(self) -> None:
        """Leave the agent's context and close its MCP clients, which stops their servers."""
        self._model = None
        exits, self._exits = self._exits, AsyncExitStack()
        await exits.aclose()


async def _close_mcp_clients(agent: Agent[Any, Any]) -> None:
    """Close the agent's MCP clients: a stdio server outlives its connection otherwise (FastMCP's `keep_alive`), and
    the next conversation would find it as this one left it."""
    found: list[MCPToolset[Any]] = []
    for toolset in agent.toolsets:
        toolset.apply(lambda leaf: found.append(leaf) if isinstance(leaf, MCPToolset) else None)
    for toolset in found:
        await toolset.client.transport.close()


def _tool_calls(messages: list[ModelMessage]) -> list[AppToolCall]:
    """The run's tool calls in order, each with what answered it."""
    answers: dict[str, ToolReturnPart | RetryPromptPart] = {
        part.tool_call_id: part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart | RetryPromptPart)
    }
    return [
        _call(part, answers.get(part.tool_call_id))
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    ]


def _call(call: ToolCallPart, answer: ToolReturnPart | RetryPromptPart | None) -> AppToolCall:
    if isinstance(answer, ToolReturnPart):
        result, failed = answer.model_response_str(wrap_if_error=False), answer.outcome != "success"
    elif isinstance(answer, RetryPromptPart):
        result, failed = answer.model_response(), True
    else:
        result, failed = "", False
    return AppToolCall(call.tool_name, call.args_as_dict(), result, failed, call.tool_call_id)
