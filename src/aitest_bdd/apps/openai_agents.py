"""An agent of the OpenAI Agents SDK (`openai-agents`), as the agent under test.

Build the agent as usual and hand it over; the app points its model calls at aitest-bdd's model proxy::

    import sys

    from agents import Agent as SDKAgent
    from agents.mcp import MCPServerStdio

    from aitest_bdd import Agent
    from aitest_bdd.apps.openai_agents import OpenAIAgentsApp

    bank = MCPServerStdio(params={"command": sys.executable, "args": ["bank.py"]}, use_structured_content=True)
    teller = SDKAgent(name="teller", instructions="You are a bank teller.", mcp_servers=[bank])

    Agent(name="banking", provider=provider, app=OpenAIAgentsApp(teller))

Every run uses the proxy's model (`RunConfig.model`, which also covers handoffs) with tracing off, so nothing is
sent to OpenAI's trace endpoint. The MCP servers of the agent and of the agents it hands off to are connected when a
conversation starts and cleaned up when it ends (a fresh server process each conversation); servers already
connected are left as they are. A tool call is reported failed when its MCP result has `isError` or the tool raised.

The model sees an MCP tool's text content (for JSON tools, the server's JSON text); with
`use_structured_content=True` it sees the result's `structuredContent` as JSON instead. A failed call always shows its
text, e.g. "Error executing tool transfer: Insufficient funds ...".
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from aitest_bdd.app import AgentApp, AppError, AppRequest, AppToolCall, AppTurn, ModelEndpoint
from aitest_bdd.errors import cause

try:
    from agents import (
        Agent,
        Model,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        RunConfig,
        Runner,
        RunResult,
        ToolCallItem,
        ToolCallOutputItem,
    )
    from agents.mcp import MCPServer, MCPServerManager
    from agents.mcp.util import MCPToolCustomDataContext, MCPToolCustomDataExtractor
    from agents.run_config import DEFAULT_MAX_TURNS, ToolErrorFormatterArgs
    from openai import AsyncOpenAI
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError('OpenAIAgentsApp needs the OpenAI Agents SDK: pip install "aitest-bdd[openai-agents]"') from error

FAILED = "aitest_bdd_is_error"
"""The key the app adds to an MCP tool output's `custom_data` when the result has `isError`."""
FAILURES = ("tool_exception", "tool_not_found")
"""The kinds of `RunConfig.tool_error_formatter` calls that mean a tool call failed."""


class OpenAIAgentsApp(AgentApp):
    """Runs each turn as `Runner.run(agent, input=...)`; the state between turns is `result.to_input_list()`.

    `run_config` is the base of every run's configuration (its model and tracing are replaced); `max_turns` is
    passed to `Runner.run`.
    """

    label = "OpenAI Agents SDK agent"

    def __init__(
        self, agent: Agent[Any], *, run_config: RunConfig | None = None, max_turns: int = DEFAULT_MAX_TURNS
    ) -> None:
        self._agent = agent
        self._run_config = run_config or RunConfig()
        self._max_turns = max_turns
        self._client: AsyncOpenAI | None = None
        self._model: Model | None = None
        self._manager: MCPServerManager | None = None
        self._extractors: dict[MCPServer, MCPToolCustomDataExtractor | None] = {}

    async def start(self, model: ModelEndpoint) -> None:
        """Point the runs at `model`, and connect the MCP servers that are not connected yet."""
        self._client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key)
        kind = OpenAIResponsesModel if model.api == "responses" else OpenAIChatCompletionsModel
        self._model = kind(model=model.model, openai_client=self._client)
        servers = list(_mcp_servers(self._agent))
        for server in servers:
            self._extractors[server] = server.custom_data_extractor
            server.custom_data_extractor = _marking_failures(server.custom_data_extractor)
        unconnected = [server for server in servers if getattr(server, "session", None) is None]
        if unconnected:
            self._manager = MCPServerManager(unconnected, strict=True, connect_in_parallel=True)
            try:
                await self._manager.connect_all()
            except Exception as error:
                names = ", ".join(repr(server.name) for server in self._manager.failed_servers)
                await self.stop()
                raise AppError(f"the MCP server {names} did not connect: {cause(error)}") from error

    async def turn(self, request: AppRequest) -> AppTurn:
        """Run the agent on the items so far and the user's message."""
        if self._model is None:
            raise AppError("the OpenAI Agents SDK app was not started")
        failed: set[str] = set()
        items = [*(request.state or []), {"role": "user", "content": request.message}]
        try:
            result = await Runner.run(
                self._agent, input=items, run_config=self._config(failed), max_turns=self._max_turns
            )
        except Exception as error:
            raise AppError(f"the OpenAI Agents SDK run failed: {cause(error)}") from error
        return _turn(result, failed)

    async def stop(self) -> None:
        """Clean up the MCP servers that `start` connected, and close the model client."""
        manager, self._manager = self._manager, None
        if manager is not None:
            await manager.cleanup_all()
        for server, extractor in self._extractors.items():
            server.custom_data_extractor = extractor
        self._extractors.clear()
        client, self._client, self._model = self._client, None, None
        if client is not None:
            await client.close()

    def _config(self, failed: set[str]) -> RunConfig:
        """This run's configuration: the proxy's model, no tracing, and the ids of failed tool calls noted."""
        formatter = self._run_config.tool_error_formatter

        async def note_failure(args: ToolErrorFormatterArgs[Any]) -> str | None:
            if args.kind in FAILURES:
                failed.add(args.call_id)
            message = formatter(args) if formatter is not None else None
            return await message if inspect.isawaitable(message) else message

        return dataclasses.replace(
            self._run_config, model=self._model, tracing_disabled=True, tool_error_formatter=note_failure
        )


def _mcp_servers(agent: Agent[Any]) -> Iterator[MCPServer]:
    """The MCP servers of `agent` and of the agents it hands off to, each once."""
    seen_agents: set[int] = set()
    seen_servers: set[int] = set()
    pending = [agent]
    while pending:
        current = pending.pop()
        if id(current) in seen_agents:
            continue
        seen_agents.add(id(current))
        for server in current.mcp_servers:
            if id(server) not in seen_servers:
                seen_servers.add(id(server))
                yield server
        pending.extend(handoff for handoff in current.handoffs if isinstance(handoff, Agent))


def _marking_failures(extractor: MCPToolCustomDataExtractor | None) -> MCPToolCustomDataExtractor:
    """A custom data extractor that adds `FAILED` for an `isError` result to what `extractor` gives."""

    async def extract(context: MCPToolCustomDataContext) -> Mapping[str, Any] | None:
        data = extractor(context) if extractor is not None else None
        if inspect.isawaitable(data):
            data = await data
        return {**(data or {}), FAILED: True} if context.is_error else data

    return extract


def _turn(result: RunResult, failed: set[str]) -> AppTurn:
    usage = result.context_wrapper.usage
    reported = usage.requests > 0
    return AppTurn(
        reply=_text(result.final_output),
        state=result.to_input_list(),
        tool_calls=_tool_calls(result, failed),
        prompt_tokens=usage.input_tokens if reported else None,
        completion_tokens=usage.output_tokens if reported else None,
    )


def _tool_calls(result: RunResult, failed: set[str]) -> list[AppToolCall]:
    """The run's function tool calls in order, each with its output."""
    outputs = {item.call_id: item for item in result.new_items if isinstance(item, ToolCallOutputItem)}
    calls = []
    for item in result.new_items:
        if not isinstance(item, ToolCallItem) or _field(item.raw_item, "type") != "function_call":
            continue
        call_id = item.call_id or ""
        output = outputs.get(call_id)
        calls.append(
            AppToolCall(
                name=item.tool_name or "",
                arguments=_arguments(_field(item.raw_item, "arguments")),
                result=_output_text(output.output) if output is not None else "",
                is_error=call_id in failed or bool(output is not None and (output.custom_data or {}).get(FAILED)),
                id=call_id,
            )
        )
    return calls


def _field(raw: Any, name: str) -> Any:
    return raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)


def _arguments(text: Any) -> dict[str, Any]:
    try:
        arguments = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return arguments if isinstance(arguments, dict) else {}


def _output_text(output: Any) -> str:
    """A tool's output as text: a string, or the text of its text content (MCP content blocks)."""
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and output.get("type") == "text":
        return str(output.get("text", ""))
    if isinstance(output, list):
        return "\n".join(_output_text(part) for part in output if isinstance(part, dict) and part.get("type") == "text")
    return _text(output)


def _text(value: Any) -> str:
    """A final output as text: a string as it is, anything else (a structured output) as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value.model_dump(mode="json") if isinstance(value, BaseModel) else value, default=str)
