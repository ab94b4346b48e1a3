"""A conversation with an agent: the history, and the tool-calling loop that runs each turn."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import Any

import mcp_types
import openai

from .config import Agent, ConfigError
from .pricing import PriceTable
from .providers import make_client
from .records import Conversation, ModelCall, ToolCall, Turn, Usage
from .runtime import Runtime
from .toolbox import Toolbox, ToolServerError, first_leaf, open_toolbox

Message = dict[str, Any]


class TurnError(RuntimeError):
    """A turn that could not finish; the message says why."""


class AgentSession:
    """One conversation with one agent: its MCP servers stay open across all turns.

    Every turn sees the history of the earlier ones. A failed turn is recorded with its error,
    and the history stays as it was before that turn.
    """

    def __init__(self, agent: Agent, runtime: Runtime, prices: PriceTable | None = None) -> None:
        self.agent = agent
        self.runtime = runtime
        self.prices = prices
        self.conversation = Conversation(agent=agent.name, model=agent.provider.model)
        self.history: list[Message] = []
        if agent.system_prompt:
            self.history.append({"role": "system", "content": agent.system_prompt})
        self._client: openai.AsyncOpenAI | None = None
        self._model = ""
        self._toolbox_cm: AbstractContextManager[Toolbox] | None = None
        self._toolbox: Toolbox | None = None

    @property
    def turns(self) -> list[Turn]:
        return self.conversation.turns

    @property
    def last_turn(self) -> Turn:
        """The latest turn; an error when the user has said nothing yet."""
        if not self.turns:
            raise TurnError(f"agent {self.agent.name!r} has had no turn yet: add a 'When the user says' step first")
        return self.turns[-1]

    def turn(self, number: int) -> Turn:
        """Turn `number`, counting from 1."""
        if not 1 <= number <= len(self.turns):
            raise TurnError(f"there is no turn {number}: the conversation has {len(self.turns)} turn(s)")
        return self.turns[number - 1]

    @property
    def is_open(self) -> bool:
        return self._toolbox is not None

    def open(self) -> None:
        """Create the model client and start the MCP servers."""
        if self.is_open:
            return
        self._client, self._model = make_client(self.agent.provider)
        toolbox_cm = self.runtime.hold(open_toolbox(self.agent.mcp_servers))
        try:
            self._toolbox = toolbox_cm.__enter__()
        except BaseException as error:
            self.close()
            leaf = first_leaf(error)
            if isinstance(leaf, ToolServerError | ConfigError) and leaf is not error:
                raise leaf from None
            raise
        self._toolbox_cm = toolbox_cm

    def close(self) -> None:
        """Stop the MCP servers and close the model client, on the loop that used them."""
        toolbox_cm, self._toolbox_cm, self._toolbox = self._toolbox_cm, None, None
        client, self._client = self._client, None
        try:
            if toolbox_cm is not None:
                toolbox_cm.__exit__(None, None, None)
        finally:
            if client is not None:
                self.runtime.call(client.close)

    def say(self, message: str) -> Turn:
        """Run one turn and return its record (check `turn.error`)."""
        self.open()
        return self.runtime.call(self.run_turn, message)

    async def run_turn(self, message: str) -> Turn:
        """Send `message`, run the tool-calling loop until a text answer, and record the turn."""
        turn = Turn(number=len(self.turns) + 1, user_message=message, model=self.agent.provider.model)
        self.turns.append(turn)
        messages = [*self.history, {"role": "user", "content": message}]
        started = time.perf_counter()
        try:
            await self._loop(turn, messages)
        except (TurnError, ToolServerError, ConfigError) as error:
            turn.error = str(error)
        except openai.APIError as error:
            turn.error = describe_api_error(error, self.agent.provider.model)
        else:
            self.history = messages
        finally:
            turn.duration_ms = (time.perf_counter() - started) * 1000
            turn.cost_usd = self.prices.cost(turn.model, turn.usage) if self.prices else None
        return turn

    async def _loop(self, turn: Turn, messages: list[Message]) -> None:
        assert self._client is not None and self._toolbox is not None, "open() the session first"
        tools = self._toolbox.openai_tools()
        provider = self.agent.provider
        for _round in range(self.agent.max_tool_rounds + 1):
            started = time.perf_counter()
            try:
                response = await self._client.chat.completions.create(
                    model=self._model,
                    messages=messages,
                    tools=tools or openai.omit,
                    tool_choice="auto" if tools else openai.omit,
                    temperature=provider.temperature if provider.temperature is not None else openai.omit,
                    max_tokens=provider.max_tokens if provider.max_tokens is not None else openai.omit,
                )
            except openai.APIError:
                raise
            except (ValueError, TypeError, KeyError) as error:
                raise TurnError(
                    f"model {provider.model!r} sent a response that is not a chat completion "
                    f"({type(error).__name__}: {error})"
                ) from None
            if not response.choices:
                raise TurnError(f"model {provider.model!r} returned a response with no choices")
            reply = response.choices[0].message
            usage = usage_of(response.usage)
            turn.usage = turn.usage + usage
            turn.model_calls.append(
                ModelCall(
                    model=response.model or self._model,
                    content=reply.content,
                    tool_calls=[call.function.name for call in reply.tool_calls or []],
                    finish_reason=response.choices[0].finish_reason,
                    usage=usage,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
            )
            if not reply.tool_calls:
                turn.final_response = reply.content or ""
                messages.append({"role": "assistant", "content": turn.final_response})
                return
            if _round == self.agent.max_tool_rounds:
                names = ", ".join(call.function.name for call in reply.tool_calls)
                raise TurnError(
                    f"the agent was still calling tools ({names}) after max_tool_rounds="
                    f"{self.agent.max_tool_rounds}: raise Agent(max_tool_rounds=...) or check the system prompt"
                )
            messages.append(
                {
                    "role": "assistant",
                    "content": reply.content or "",
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.function.name, "arguments": _raw(call.function.arguments)},
                        }
                        for call in reply.tool_calls
                    ],
                }
            )
            for call in reply.tool_calls:
                record = await self._call_tool(call.id, call.function.name, call.function.arguments)
                turn.tool_calls.append(record)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": record.result_text})

    async def _call_tool(self, call_id: str, name: str, arguments: str | dict | None) -> ToolCall:
        """Run one tool call. Bad arguments and unknown tools go back to the model as tool errors."""
        assert self._toolbox is not None
        record = ToolCall(id=call_id, name=name, raw_arguments=_raw(arguments))
        parsed = _parse_arguments(arguments)
        server = self._toolbox.owner(name)
        if isinstance(parsed, str):
            record.is_error, record.result_text = True, parsed
        elif server is None:
            record.arguments = parsed
            available = ", ".join(self._toolbox.tool_names) or "none"
            record.is_error = True
            record.result_text = f"Error: there is no tool named {name!r}. Available tools: {available}."
        else:
            record.arguments, record.server = parsed, server.label
            result, record.duration_ms = await server.call(name, parsed)
            record.result_text = result_text(result)
            record.structured_content = result.structured_content
            record.is_error = bool(result.is_error)
        return record


def describe_api_error(error: openai.APIError, model: str) -> str:
    """A one-line account of a failed model request, without headers or keys."""
    if isinstance(error, openai.APITimeoutError):
        return f"model {model!r} did not answer in time (Provider(timeout=...)): {error.message}"
    if isinstance(error, openai.APIConnectionError):
        return f"could not reach model {model!r} at {error.request.url}: {error.message}"
    if isinstance(error, openai.APIStatusError):
        return f"model {model!r} request failed with HTTP {error.status_code}: {error.message}"
    return f"model {model!r} request failed: {error.message}"


def result_text(result: mcp_types.CallToolResult) -> str:
    """The text a tool result gives the model: its text blocks, other blocks described."""
    parts = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{block.type} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


def usage_of(usage: Any) -> Usage:
    """Our Usage from the SDK's usage object (None gives zeros)."""
    if usage is None:
        return Usage()
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        total_tokens=usage.total_tokens or 0,
    )


def _raw(arguments: str | dict | None) -> str:
    if isinstance(arguments, dict):
        return json.dumps(arguments)
    return arguments or ""


def _parse_arguments(arguments: str | dict | None) -> dict[str, Any] | str:
    """The arguments as a dict, or an error text for the model when they are not a JSON object."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments or not arguments.strip():
        return {}
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        return f"Error: the arguments are not valid JSON ({error.msg} at position {error.pos}); send a JSON object."
    if not isinstance(parsed, dict):
        return f"Error: the arguments must be a JSON object, not {type(parsed).__name__}."
    return parsed
