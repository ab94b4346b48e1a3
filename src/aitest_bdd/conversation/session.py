"""A conversation with an agent: the history, and the tool-calling loop that runs each turn."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio
import openai
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from ..config import Agent, ConfigError, MCPServer, Provider
from ..errors import ToolServerError, TurnError, first_leaf, problem
from ..models.providers import (
    counting_requests,
    describe_api_error,
    describe_transport_error,
    make_client,
    resolve,
    shared_http_client,
)
from ..recording.cassette import Cassette, Player, RecordingMismatch, Writer, diff
from ..runtime import Runtime
from ..tools.answers import ToolAnswer
from ..tools.toolbox import Toolbox, open_toolbox
from ..unicode import valid_data, valid_text
from .judge import JudgeError, ask_judge, judge_messages, judgement_from
from .pricing import PriceTable
from .replies import TRUNCATED_FROM, UNFINISHED, cut_replies
from .turns import Conversation, Judgement, ModelCall, OfferedTool, ToolCall, Turn, Usage

if TYPE_CHECKING:
    from ..tools.servers import ToolServer

Message = dict[str, Any]
Kind = Literal["model", "tool", "judge"]


@dataclass(frozen=True)
class Checkpoint:
    """Where a conversation stood: its history, its number of turns, and how many interactions it had recorded
    or replayed."""

    history: list[Message]
    turns: int
    interactions: int


class AgentSession:
    """One conversation with one agent: its MCP servers stay open across all turns.

    Every turn sees the history of the earlier ones. A failed turn keeps its error in its `Turn`,
    and the history stays as it was before that turn. With a cassette, the model's and the tools'
    answers are recorded, or replayed without network, key or MCP server.
    """

    def __init__(
        self,
        agent: Agent,
        runtime: Runtime,
        prices: PriceTable | None = None,
        cassette: Cassette | None = None,
        real_tools: bool = False,
        shared: Callable[[MCPServer], ToolServer] | None = None,
    ) -> None:
        self.agent = agent
        self.runtime = runtime
        self.prices = prices
        self.conversation = Conversation(agent=agent.name, model=agent.provider.model)
        self.history: list[Message] = []
        if agent.system_prompt:
            self.history.append({"role": "system", "content": agent.system_prompt})
        self._cassette = cassette
        self._real_tools = real_tools
        self._shared = shared
        self._player: Player | None = None
        self._writer: Writer | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._model = resolve(agent.provider).model
        self._toolbox_cm: AbstractContextManager[Toolbox] | None = None
        self._toolbox: Toolbox | None = None
        self._tools: list[dict[str, Any]] = []
        self._owners: dict[str, str] = {}
        self._open = False

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
        return self._open

    def replays_another_model(self) -> bool:
        """Whether the recording of this agent was made with another model, so that the session would run live."""
        try:
            recorded = self._cassette.session(self.agent.name) if self._cassette else None
        except RecordingMismatch:
            return False  # `open` says what is wrong with the recording
        return recorded is not None and recorded.model != self.agent.provider.model

    def open(self) -> None:
        """Connect to the model and start the MCP servers (or load what a recording replays)."""
        if self._open:
            return
        recorded = self._cassette.session(self.agent.name) if self._cassette else None
        if recorded is not None and recorded.model != self.agent.provider.model:
            self._cassette.refuse_other_model(recorded.model, self.agent.provider.model)  # type: ignore[union-attr]
            self.conversation.live_instead_of = recorded.model
            recorded = None
        if recorded is not None:
            self._player = Player(self._cassette, recorded)  # type: ignore[arg-type]
            self._tools, self._owners = recorded.tools, recorded.tool_servers
        else:
            self._client, self._model = make_client(self.agent.provider, shared_http_client(self.runtime))
        if recorded is None or self._real_tools:
            self._start_servers()
        if self._cassette is not None and self._cassette.recording:
            recording = self._cassette.start_recording(self.agent.name, self.agent.provider.model)
            recording.tools, recording.tool_servers = self._tools, self._owners
            self._writer = Writer(self._cassette, recording)
        self._note_what_the_agent_was_given()
        self._open = True

    def _note_what_the_agent_was_given(self) -> None:
        """Put the system prompt, the tools offered and, when replaying, the recording's origin on the conversation."""
        conversation = self.conversation
        conversation.system_prompt = self.agent.system_prompt
        conversation.tools = [
            OfferedTool(
                name=tool["function"]["name"],
                description=tool["function"].get("description") or "",
                server=self._owners.get(tool["function"]["name"]),
            )
            for tool in self._tools
        ]
        if self._player is not None and self._player.cassette.existing is not None:
            conversation.recorded_at = self._player.cassette.existing.recorded_at
            conversation.recorded_models = self._player.cassette.existing.models

    def _start_servers(self) -> None:
        configs = self.agent.mcp_servers
        own = [config for config in configs if config.scope == "scenario" or self._shared is None]
        try:
            shared = [self._shared(config) for config in configs if config not in own] if self._shared else []
            toolbox_cm = self.runtime.hold(open_toolbox(own, shared))
            self._toolbox = toolbox_cm.__enter__()
        except BaseException as error:
            self.close()
            leaf = first_leaf(error)
            if isinstance(leaf, ToolServerError | ConfigError) and leaf is not error:
                raise leaf from None
            raise
        self._toolbox_cm = toolbox_cm
        tools = self._toolbox.openai_tools()
        if self._player is not None:
            masked = self._player.cassette.redactor.data(tools)
            if masked != self._tools:
                self.close()
                raise RecordingMismatch(
                    f"the MCP servers' tools differ from the recording ({self._player.cassette.path}):\n"
                    f"{diff(self._tools, masked)}\nRe-record it with: {self._player.cassette.rerecord_command()}"
                )
        self._tools, self._owners = tools, self._toolbox.owners()

    def close(self) -> None:
        """Stop the MCP servers, on the loop that started them. The run's HTTP pool outlives the session."""
        toolbox_cm, self._toolbox_cm, self._toolbox = self._toolbox_cm, None, None
        self._client = None
        self._open = False
        if toolbox_cm is not None:
            toolbox_cm.__exit__(None, None, None)

    def checkpoint(self) -> Checkpoint:
        """Where the conversation stands now, to go back to with `rewind`."""
        if self._player is not None:
            interactions = self._player.position
        else:
            interactions = len(self._writer.recording.interactions) if self._writer else 0
        return Checkpoint(list(self.history), len(self.turns), interactions)

    def rewind(self, checkpoint: Checkpoint) -> None:
        """Forget what came after `checkpoint`: its turns leave the history, the conversation and the recording.

        The MCP servers keep their state: what the forgotten turns' tool calls changed stays changed.
        """
        self.history = list(checkpoint.history)
        del self.turns[checkpoint.turns :]
        if self._player is not None:
            self._player.position = checkpoint.interactions
        if self._writer is not None:
            recording = self._writer.recording
            del recording.interactions[checkpoint.interactions :]
            for number in [number for number in recording.turn_durations_ms if number > checkpoint.turns]:
                del recording.turn_durations_ms[number]

    def say(self, message: str) -> Turn:
        """Run one turn and return it (check `turn.error`)."""
        self.open()
        return self.runtime.call(self.run_turn, message)

    async def run_turn(self, message: str) -> Turn:
        """Send `message`, run the tool-calling loop until a text answer, and return the turn."""
        message = valid_text(message)
        turn = Turn(number=len(self.turns) + 1, user_message=message, model=self.agent.provider.model)
        turn.source = "replayed" if self._player else ("recorded" if self._writer else "live")
        self.turns.append(turn)
        messages = [*self.history, {"role": "user", "content": message}]
        started = time.perf_counter()
        limit = self.agent.turn_timeout
        try:
            with anyio.move_on_after(limit) as bound:
                await self._loop(turn, messages)
        except (TurnError, ToolServerError, ConfigError, RecordingMismatch) as error:
            turn.error = valid_text(str(error))
        else:
            if bound.cancelled_caught:
                turn.error = (
                    f"the turn was stopped after Agent(turn_timeout={limit:g}) seconds, before the agent answered "
                    "(raise turn_timeout for a longer task, or check what the model and tools wait on)"
                )
            else:
                self.history = messages
        finally:
            turn.duration_ms = (time.perf_counter() - started) * 1000
            if self._writer is not None:
                self._writer.add_duration(turn.number, turn.duration_ms)
            if self._player is not None:
                turn.recorded_duration_ms = self._player.recording.turn_durations_ms.get(turn.number)
            turn.cost_usd = self.prices.cost(turn.model, turn.usage) if self.prices else None
        return turn

    async def judge(self, provider: Provider, criterion: str) -> Judgement:
        """Ask a judge model about the last turn; the call is recorded and replayed like the agent's."""
        turn = self.last_turn
        request = {"model": provider.model, "messages": judge_messages(criterion, self.turns)}
        started = time.perf_counter()
        try:
            data = await self._exchange(
                "judge",
                turn.number,
                request,
                lambda: ask_judge(provider, request["messages"], shared_http_client(self.runtime)),
            )
            completion = ChatCompletion.model_validate(data)
        except ValueError as error:  # not JSON, or not a chat completion (also when it is being recorded)
            if self._player is not None and isinstance(error, ValidationError):
                raise self._unreadable_replay("judge response", error) from None
            raise JudgeError(
                f"the judge model {provider.model!r} sent a response that is not a chat completion ({error})"
            ) from None
        verdict = judgement_from(criterion, provider.model, completion, (time.perf_counter() - started) * 1000)
        verdict.cost_usd = self.prices.cost(provider.model, verdict.usage) if self.prices else None
        turn.judgements.append(verdict)
        return verdict

    def _unreadable_replay(self, what: str, error: ValidationError) -> RecordingMismatch:
        """A replayed response that cannot be read: the recording was edited since it was made."""
        assert self._player is not None
        where = f"interaction {self._player.position}: {problem(error)}"
        return RecordingMismatch(self._player.cassette.problem(f"has a {what} that cannot be read ({where})"))

    async def _exchange(
        self, kind: Kind, turn: int, request: dict[str, Any], live: Callable[[], Awaitable[Any]]
    ) -> Any:
        """The response to `request`: replayed from the recording, or live (and recorded when recording)."""
        if self._player is not None and (kind != "tool" or not self._real_tools):
            return self._player.next(kind, turn, request).response
        response = valid_data(await live())
        if self._player is not None:
            recorded = self._player.next(kind, turn, request).response
            now = self._player.cassette.redactor.data(response)
            if {**recorded, "duration_ms": 0} != {**now, "duration_ms": 0}:
                raise TurnError(
                    f"the result of tool {request['name']!r} differs from the recording (did the server change?):\n"
                    f"{diff(recorded, now)}\nRe-record it with: {self._player.cassette.rerecord_command()}"
                )
        if self._writer is not None:
            self._writer.add(kind, turn, request, response)
        return response

    async def _complete(self, turn: Turn, messages: list[Message]) -> ChatCompletion:
        provider = self.agent.provider
        tool_names = [tool["function"]["name"] for tool in self._tools]
        request: dict[str, Any] = {"model": self._model, "messages": list(messages), "tools": tool_names}
        if provider.temperature is not None:
            request["temperature"] = provider.temperature
        if provider.max_tokens is not None:
            request["max_tokens"] = provider.max_tokens

        body = {key: value for key, value in request.items() if key != "tools"}
        if self._tools:
            body.update(tools=self._tools, tool_choice="auto")

        async def live() -> Any:
            assert self._client is not None
            with counting_requests() as sent:
                try:
                    completion = await self._client.post("/chat/completions", body=body, cast_to=object)
                except openai.APIError as error:
                    raise TurnError(describe_api_error(error, provider, sent.sent)) from None
            return cut_replies(completion, self.agent.max_response_chars)

        try:
            return ChatCompletion.model_validate(await self._exchange("model", turn.number, request, live))
        except TurnError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            if self._player is not None and isinstance(error, ValidationError):
                raise self._unreadable_replay("model response", error) from None
            raise TurnError(
                f"model {provider.model!r} sent a response that is not a chat completion "
                f"({type(error).__name__}: {error})"
            ) from None
        except Exception as error:
            transport = describe_transport_error(error, provider)
            if transport is None:
                raise
            raise TurnError(transport) from None

    async def _loop(self, turn: Turn, messages: list[Message]) -> None:
        provider = self.agent.provider
        for _round in range(self.agent.max_tool_rounds + 1):
            started = time.perf_counter()
            response = await self._complete(turn, messages)
            if not response.choices:
                raise TurnError(f"model {provider.model!r} returned a response with no choices")
            choice = response.choices[0]
            reply = choice.message
            usage = Usage.reported(response.usage)
            turn.usage = turn.usage + usage
            turn.model_calls.append(
                ModelCall(
                    model=response.model or self._model,
                    content=reply.content,
                    tool_calls=[call.function.name for call in reply.tool_calls or []],
                    finish_reason=choice.finish_reason,
                    refusal=reply.refusal,
                    usage=usage,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    truncated_from=(choice.model_extra or {}).get(TRUNCATED_FROM),
                )
            )
            unfinished = UNFINISHED.get(choice.finish_reason or "")
            if unfinished:
                raise TurnError(f"model {provider.model!r} {unfinished}")
            if not reply.tool_calls:
                turn.final_response = reply.content or reply.refusal or ""
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
                tool_call = await self._call_tool(turn, call.id, call.function.name, call.function.arguments)
                turn.tool_calls.append(tool_call)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": tool_call.result_text})

    async def _call_tool(self, turn: Turn, call_id: str, name: str, arguments: str | dict | None) -> ToolCall:
        """Run one tool call. Bad arguments and unknown tools go back to the model as tool errors."""
        call = ToolCall(id=call_id, name=name, raw_arguments=_raw(arguments))
        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            call.is_error, call.result_text = True, parsed
            return call
        call.arguments = parsed
        if name not in self._owners:
            available = ", ".join(self._owners) or "none"
            call.is_error = True
            call.result_text = f"Error: there is no tool named {name!r}. Available tools: {available}."
            return call

        async def live() -> dict[str, Any]:
            assert self._toolbox is not None
            answer = await self._toolbox.call(name, parsed)
            return answer.truncated(self.agent.max_tool_result_chars).model_dump(mode="json")

        request = {"name": name, "arguments": parsed}
        response = await self._exchange("tool", turn.number, request, live)
        try:
            answer = ToolAnswer.model_validate(response)
        except ValidationError as error:  # a live answer is a ToolAnswer: only a replayed one can fail
            raise self._unreadable_replay("tool result", error) from None
        call.server, call.duration_ms, call.truncated_from = (
            answer.server,
            answer.duration_ms,
            answer.truncated_from,
        )
        call.result_text, call.structured_content, call.is_error = (
            answer.text,
            answer.structured_content,
            answer.is_error,
        )
        return call


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
    return valid_data(parsed)
