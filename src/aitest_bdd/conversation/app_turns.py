"""Turns of an agent that an app runs: its model calls go through the model proxy, which records and replays them
and attributes each to the turn that made it."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from ..app import AgentApp, AppError, AppRequest, AppToolCall, AppTurn, ModelEndpoint
from ..config import Agent
from ..errors import TurnError, cause
from ..models.proxy import ModelProxy, ProxyReply
from ..recording.cassette import RecordingMismatch
from ..recording.files import InteractionKind
from ..runtime import Runtime
from ..unicode import valid_data, valid_text
from .model_calls import model_call
from .responses_api import chat_completion
from .tool_messages import recorded_messages
from .trace_context import new_span_id, started_ms
from .traffic import ObservedTools, offered_tools
from .turns import Conversation, ToolCall, Turn, Usage

Api = Literal["chat", "responses"]
Exchange = Callable[[InteractionKind, int, dict[str, Any], Callable[[], Awaitable[Any]]], Awaitable[Any]]
Forward = Callable[[Api, dict[str, Any]], Awaitable[Any]]
PROXY = "model_proxy"
_RUNNING: set[int] = set()
"""The apps (by id) that run a conversation now: an app holds one conversation's state at a time."""
HIDDEN = (
    "agent {agent!r} does not expose its tool calls: its app reports none, and its model calls do not go through "
    "aitest-bdd's model proxy (point the agent at the ModelEndpoint its app is given, or report AppTurn.tool_calls)"
)
"""What a tool-call step says about a turn whose tool calls cannot be seen."""


class AppConversation:
    """One conversation with an app's agent: its proxy registration, the app's state, and the turn being run."""

    def __init__(
        self, agent: Agent, runtime: Runtime, exchange: Exchange, forward: Forward, conversation: Conversation
    ) -> None:
        assert agent.app is not None
        self.app: AgentApp = agent.app
        self.agent = agent
        self._runtime = runtime
        self._exchange = exchange
        self._forward = forward
        self._conversation = conversation
        self.state: Any = None
        self.conversation_id = uuid.uuid4().hex
        self.endpoint: ModelEndpoint | None = None
        self._turn: Turn | None = None
        self._observed = ObservedTools()
        self._failure: str | None = None

    @property
    def name(self) -> str:
        """How messages name the app: "LangGraph graph of agent 'banking'"."""
        return f"{self.app.label} of agent {self.agent.name!r}"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Register with the run's model proxy and start the app; stop it and leave the proxy on exit. Start and
        stop run in one task, as the MCP clients that apps hold require; an AppError says what failed to start."""
        if id(self.app) in _RUNNING:
            raise AppError(
                f"its {self.app.label} already runs another conversation (two agents with one app, open at once?): "
                "an app runs one conversation at a time, so give each Agent an app of its own"
            )
        proxy = self._runtime.shared(PROXY, ModelProxy)
        base_url, token = await proxy.open(self._proxied)
        _RUNNING.add(id(self.app))
        try:
            provider = self.agent.provider
            self.endpoint = ModelEndpoint(base_url=base_url, api_key=token, model=provider.model, api=provider.api)
            try:
                try:
                    await self.app.start(self.endpoint)
                except AppError:
                    raise
                except Exception as error:
                    raise AppError(f"its {self.app.label} failed: {cause(error)}") from None
                yield
            finally:  # also after a start that failed part-way; in the task that started it (its MCP clients' scopes)
                await self._stop()
        finally:
            _RUNNING.discard(id(self.app))
            proxy.close(token)

    async def _stop(self) -> None:
        """Stop the app; one that fails to stop is warned about, and the run goes on."""
        try:
            await self.app.stop()
        except Exception as error:
            warnings.warn(f"the {self.name} did not stop cleanly: {cause(error)}", RuntimeWarning, stacklevel=1)

    async def run(self, turn: Turn, history: list[dict[str, Any]]) -> None:
        """Run `turn` through the app: its reply, its model calls (from the proxy) and its tool calls."""
        assert self.endpoint is not None
        request = AppRequest(
            message=turn.user_message,
            history=[{"role": message["role"], "content": message["content"]} for message in history],
            state=self.state,
            model=self.endpoint,
            conversation_id=self.conversation_id,
        )
        self._turn, self._failure = turn, None
        observed = self._observed.start_turn()
        try:
            result = await self.app.turn(request)
        except AppError as error:
            raise TurnError(self._failure or str(error)) from None
        except Exception as error:
            raise TurnError(self._failure or f"the {self.name} failed: {cause(error)}") from None
        finally:
            self._turn = None
        if self._failure is not None:
            raise TurnError(self._failure)
        if not isinstance(result, AppTurn) or not isinstance(result.reply, str):
            what = type(result.reply if isinstance(result, AppTurn) else result).__name__
            raise TurnError(f"the {self.name} answered with {what}: AgentApp.turn returns an AppTurn with a str reply")
        turn.final_response = valid_text(result.reply)
        if result.tool_calls is not None:
            turn.tool_calls = [_tool_call(number, call) for number, call in enumerate(result.tool_calls, 1)]
        elif turn.model_calls:
            turn.tool_calls = observed
        else:
            turn.hidden_tool_calls = HIDDEN.format(agent=self.agent.name)
        if not turn.model_calls:  # nothing went through the proxy: the agent ran live, also when the run replays
            turn.source = "live"
        if not turn.model_calls and result.prompt_tokens is not None:
            prompt, completion = result.prompt_tokens, result.completion_tokens or 0
            turn.usage = Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
        self.state = result.state

    async def _proxied(self, api: Api, body: dict[str, Any]) -> ProxyReply:
        """Answer one model call of the agent: replayed, or forwarded to the provider (and recorded)."""
        turn = self._turn
        if turn is None:
            outside = f"a model call outside a turn of agent {self.agent.name!r}: it has no turn to be recorded in"
            return _refusal(409, f"{outside} (call the model from AgentApp.turn only)")
        self._observed.request(api, body)
        offset = started_ms(turn)
        span_id = new_span_id() if offset is not None else None
        known = {tool.name for tool in self._conversation.tools}
        self._conversation.tools += [tool for tool in offered_tools(api, body) if tool.name not in known]
        started = time.perf_counter()
        request = {"api": api, **body}
        if api == "chat" and isinstance(body.get("messages"), list):
            request["messages"] = recorded_messages(body["messages"])
        if self._failure is not None:  # the turn has failed already: a retry would be recorded, or mismatch, again
            return _refusal(502, self._failure)
        try:
            data = await self._exchange("model", turn.number, request, lambda: self._forward(api, body))
            completion = ChatCompletion.model_validate(chat_completion(data) if api == "responses" else data)
        except (TurnError, RecordingMismatch) as error:
            self._failure = str(error)
            return _refusal(502, self._failure)
        except (ValidationError, ValueError, KeyError, TypeError) as error:
            self._failure = f"model {self.agent.provider.model!r} sent a response that cannot be read ({error})"
            return _refusal(502, self._failure)
        if self._turn is not turn:  # the turn ended (timed out) while the model answered: it is not this turn's
            return _refusal(409, f"turn {turn.number} of agent {self.agent.name!r} ended before its model answered")
        if completion.choices:
            duration_ms = (time.perf_counter() - started) * 1000
            call = model_call(completion, self.agent.provider.model, duration_ms, span_id, offset)
            turn.model_calls.append(call)
            turn.usage = turn.usage + call.usage
            self._observed.response(completion, started_ms(turn))
        return ProxyReply(status=200, body=data)


def _refusal(status: int, message: str) -> ProxyReply:
    return ProxyReply(status=status, body={"error": {"message": message, "type": "aitest_bdd_proxy_error"}})


def _tool_call(number: int, call: AppToolCall) -> ToolCall:
    """A tool call the app reported, as the turn keeps it."""
    arguments = valid_data(call.arguments)
    return ToolCall(
        id=call.id or f"call_{number}",
        name=valid_text(call.name),
        arguments=arguments,
        raw_arguments=json.dumps(arguments) if arguments else "",
        result_text=valid_text(call.result),
        is_error=call.is_error,
    )
