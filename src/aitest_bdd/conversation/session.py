"""A conversation with an agent: the history, and the tool-calling loop that runs each turn."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

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
from ..models.streaming import CHAT_PATH, FIRST_TOKEN_MS, streamed
from ..recording.cassette import Cassette, Player, RecordingMismatch, Writer, diff
from ..recording.files import InteractionKind
from ..runtime import Runtime
from ..tools.answers import ToolAnswer
from ..tools.call_events import without_times
from ..tools.offers import OfferMethod, Offers, PromptResult, ResourceResult
from ..tools.stubs import ToolStubs
from ..tools.toolbox import Toolbox, open_toolbox
from ..unicode import valid_data, valid_text
from .app_turns import AppConversation
from .judge import JudgeError, ask_judge
from .judge_questions import (
    SAMPLE_TEMPERATURE,
    JudgeQuestion,
    JudgeSettings,
    judgement_of,
    verdict_question,
    vote_from,
)
from .mcp_context import (
    OfferError,
    named_server,
    prompt_messages,
    prompt_server,
    prompt_text,
    resource_message,
    resource_server,
)
from .model_calls import model_call
from .pricing import PriceTable
from .replies import UNFINISHED, cut_replies
from .responses_api import RESPONSES_PATH, carried, chat_completion, responses_body
from .sampling_cost import turn_cost
from .server_requests import answerers, check_answered, check_replayed_answers, replaying, take_events
from .simulated_user import UserModelError, ask_user_model, user_model_call
from .tool_messages import Message, recorded_messages, round_messages
from .trace_context import new_span_id, start_trace, started_ms, traceparent
from .turns import (
    ContextResource,
    Conversation,
    Judgement,
    OfferedTool,
    ServerPrompt,
    ToolCall,
    Turn,
    UserModelCall,
)
from .user_answers import UserAnswers

if TYPE_CHECKING:
    from ..tools.servers import ToolServer
    from ..tools.spares import Spares

Result = TypeVar("Result", bound=BaseModel)
RESOURCE_OFFERS: tuple[OfferMethod, OfferMethod] = ("resources/list", "resources/templates/list")


@dataclass(frozen=True)
class Checkpoint:
    """Where a conversation stood: its history, its number of turns, how many interactions it had recorded
    or replayed, and the resources waiting for the next turn."""

    history: list[Message]
    turns: int
    interactions: int
    context: tuple[ContextResource, ...] = ()
    app_state: Any = None


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
        spares: Spares | None = None,
        traced: bool = False,
    ) -> None:
        self.agent = agent
        self.runtime = runtime
        self.prices = prices
        self.conversation = Conversation(
            agent=agent.name, model=agent.provider.model, app=agent.app.label if agent.app is not None else None
        )
        self.history: list[Message] = []
        if agent.system_prompt:
            self.history.append({"role": "system", "content": agent.system_prompt})
        self._cassette = cassette
        self._real_tools = real_tools
        self._shared = shared
        self._spares = spares
        self._player: Player | None = None
        self._writer: Writer | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._model = resolve(agent.provider).model
        self._toolbox_cm: AbstractContextManager[Toolbox] | None = None
        self._toolbox: Toolbox | None = None
        self._tools: list[dict[str, Any]] = []
        self._owners: dict[str, str] = {}
        self._annotations: dict[str, dict[str, Any]] | None = None
        """Each tool's MCP annotations; None when they are not known (a recording made before they were kept)."""
        self._open = False
        self._context: list[ContextResource] = []
        """The MCP resources put in the context since the last turn that succeeded: the next turn sends them."""
        self.user_answers = UserAnswers()
        """The feature's answers to the questions MCP servers ask during tool calls."""
        self.tool_stubs = ToolStubs()
        """The scenario's tool stubs and faults: they hold for this conversation only."""
        self._app: AppConversation | None = None
        """When an app runs the agent: its conversation, started on `open`."""
        self._app_running: AbstractContextManager[None] | None = None
        if traced:  # --aitest-otel: the model and the MCP servers are sent the trace context
            start_trace(self.conversation)

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
    def _source(self) -> Literal["live", "recorded", "replayed"]:
        """Where this session's answers come from now: replayed from a recording, recorded, or only live."""
        return "replayed" if self._player else ("recorded" if self._writer else "live")

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
        if recorded is not None and recorded.api != self.agent.provider.api:
            self._cassette.refuse_other_api(self.agent.name, recorded.api, self.agent.provider.api)  # type: ignore[union-attr]
        if recorded is not None:
            self._player = Player(self._cassette, recorded)  # type: ignore[arg-type]
            self._tools, self._owners = recorded.tools, recorded.tool_servers
            self.conversation.task_only_tools = recorded.task_only_tools
            self._annotations = recorded.tool_annotations
        else:
            self._client, self._model = make_client(self.agent.provider, shared_http_client(self.runtime))
        if self.agent.app is None and (recorded is None or self._real_tools):
            self._start_servers()
        if self._cassette is not None and self._cassette.recording:
            provider = self.agent.provider
            recording = self._cassette.start_recording(self.agent.name, provider.model, provider.api)
            recording.tools, recording.tool_servers = self._tools, self._owners
            recording.task_only_tools = self.conversation.task_only_tools
            recording.tool_annotations = self._annotations
            self._writer = Writer(self._cassette, recording)
        if self.agent.app is not None:
            self._start_app()
        self._note_what_the_agent_was_given()
        self._open = True

    def _start_app(self) -> None:
        """Start the app that runs the agent, its model calls pointed at the model proxy."""
        app = AppConversation(self.agent, self.runtime, self._exchange, self._forward, self.conversation)
        running = self.runtime.hold(app.running())
        try:
            running.__enter__()
        except BaseException:
            self.close()
            raise
        self._app, self._app_running = app, running

    def _note_what_the_agent_was_given(self) -> None:
        """Put the system prompt, the tools offered and, when replaying, the recording's origin on the conversation."""
        conversation = self.conversation
        conversation.system_prompt = self.agent.system_prompt
        annotations = self._annotations
        conversation.tools = [
            OfferedTool(
                name=tool["function"]["name"],
                description=tool["function"].get("description") or "",
                server=self._owners.get(tool["function"]["name"]),
                parameters=tool["function"].get("parameters"),
                annotations=annotations.get(tool["function"]["name"], {}) if annotations is not None else None,
            ).keyed()
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
            toolbox_cm = self.runtime.hold(open_toolbox(own, shared, self._spares))
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
        self._annotations = self._toolbox.annotations()
        self.conversation.task_only_tools = self._toolbox.task_only()

    def close(self) -> None:
        """Stop the MCP servers, on the loop that started them. The run's HTTP pool outlives the session."""
        toolbox_cm, self._toolbox_cm, self._toolbox = self._toolbox_cm, None, None
        app_running, self._app, self._app_running = self._app_running, None, None
        self._client = None
        self._open = False
        if app_running is not None:
            app_running.__exit__(None, None, None)
        if toolbox_cm is not None:
            toolbox_cm.__exit__(None, None, None)

    def checkpoint(self) -> Checkpoint:
        """Where the conversation stands now, to go back to with `rewind`."""
        if self._player is not None:
            interactions = self._player.position
        else:
            interactions = len(self._writer.recording.interactions) if self._writer else 0
        app_state = self._app.state if self._app is not None else None
        return Checkpoint(list(self.history), len(self.turns), interactions, tuple(self._context), app_state)

    def rewind(self, checkpoint: Checkpoint) -> None:
        """Forget what came after `checkpoint`: its turns leave the history, the conversation and the recording.

        The MCP servers keep their state: what the forgotten turns' tool calls changed stays changed.
        """
        self.history = list(checkpoint.history)
        self._context = list(checkpoint.context)
        if self._app is not None:
            self._app.state = checkpoint.app_state
        del self.turns[checkpoint.turns :]
        users = self.conversation.simulated_users
        users[:] = [user for user in users if user.first_turn <= checkpoint.turns]
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

    def run_prompt(self, name: str, arguments: dict[str, str], server: str | None = None) -> Turn:
        """Run a turn whose user message is the MCP prompt `name` of the server that offers it (or of `server`);
        an OfferError when none offers it with these arguments."""
        self.open()
        return self.runtime.call(self._run_prompt, name, arguments, server)

    def add_resource(self, uri: str, server: str | None = None) -> ContextResource:
        """Read the MCP resource `uri` from the server that offers it (or from `server`) and put it in the context:
        the next turn sends it before its user message, and so does each turn after a failed one, until one
        succeeds. An OfferError when no server offers it or a template that matches it."""
        self.open()
        return self.runtime.call(self._add_resource, uri, server)

    def offers(self, method: OfferMethod, server: str | None = None) -> Offers:
        """What each MCP server (or `server` only) offers, listed with `method`: its prompts, resources or resource
        templates; an OfferError when the agent has no server `server`."""
        self.open()
        return self.runtime.call(self._offers, method, server)

    async def _run_prompt(self, name: str, arguments: dict[str, str], server: str | None) -> Turn:
        prompts = await self._offers("prompts/list", server)
        label = prompt_server(prompts, name, arguments, server, self.agent.name)
        request = {"server": label, "name": name, "arguments": arguments}
        prompt = await self._server_result(
            PromptResult, "prompt", request, lambda toolbox: toolbox.prompt(label, name, arguments)
        )
        used = ServerPrompt(name=name, server=label, arguments=arguments)
        return await self.run_turn(prompt_text(prompt), said=prompt_messages(prompt, name), prompt=used)

    async def _add_resource(self, uri: str, server: str | None) -> ContextResource:
        if server is None:
            resources, templates = [await self._offers(method) for method in RESOURCE_OFFERS]
            label = resource_server(resources, templates, uri, self.agent.name)
        else:
            label = self._named_server(server)
        request = {"server": label, "uri": uri}
        resource = await self._server_result(
            ResourceResult, "resource", request, lambda toolbox: toolbox.resource(label, uri)
        )
        self._context.append(ContextResource(uri=uri, server=label, text=resource_message(resource)["content"]))
        return self._context[-1]

    async def _offers(self, method: OfferMethod, server: str | None = None) -> Offers:
        label = self._named_server(server) if server is not None else None
        request = {"method": method}
        offers = await self._server_result(Offers, "offers", request, lambda toolbox: toolbox.offers(method))
        return offers if label is None else Offers(servers={label: offers.servers.get(label, [])})

    def _named_server(self, server: str) -> str:
        """`server`, when it is one of the agent's MCP servers; an OfferError that names them when not."""
        return named_server([config.label for config in self.agent.mcp_servers], server, self.agent.name)

    async def _server_result(
        self,
        model: type[Result],
        kind: InteractionKind,
        request: dict[str, Any],
        ask: Callable[[Toolbox], Awaitable[Result]],
    ) -> Result:
        """The servers' result for `request`, made before the next turn (and recorded under its number): replayed
        from the recording, or asked of the toolbox (and recorded)."""

        if self.agent.app is not None:
            raise OfferError(
                f"agent {self.agent.name!r} is run by its {self.agent.app.label}, which holds its MCP servers: "
                "their prompts, resources and offers are out of aitest-bdd's reach"
            )

        async def live() -> dict[str, Any]:
            assert self._toolbox is not None
            return (await ask(self._toolbox)).model_dump(mode="json")

        try:
            return model.model_validate(await self._exchange(kind, len(self.turns) + 1, request, live))
        except ValidationError as error:  # a live result is valid: only a replayed one can fail
            raise self._unreadable_replay(f"{kind} result", error) from None

    async def run_turn(
        self,
        message: str,
        said: list[Message] | None = None,
        prompt: ServerPrompt | None = None,
        simulated: bool = False,
    ) -> Turn:
        """Send `message`, run the tool-calling loop until a text answer, and return the turn.

        `said`, when given, are the chat messages the user's turn is made of (a prompt's), `message` their words;
        `prompt` names the MCP prompt they came from; `simulated` says that the user model wrote `message`."""
        message = valid_text(message)
        turn = Turn(number=len(self.turns) + 1, user_message=message, model=self.agent.provider.model)
        turn.simulated = simulated
        turn.source = self._source
        turn.prompt, turn.resources = prompt, list(self._context)
        if self.conversation.trace_id is not None:
            turn.started_at = datetime.now(UTC)
        self.turns.append(turn)
        context: list[Message] = [{"role": "user", "content": resource.text} for resource in turn.resources]
        messages = [*self.history, *context, *(said or [{"role": "user", "content": message}])]
        started = time.perf_counter()
        limit = self.agent.turn_timeout
        try:
            with anyio.move_on_after(limit) as bound:
                if self._app is not None:
                    await self._app.run(turn, self.history)
                    messages.append({"role": "assistant", "content": turn.final_response})
                else:
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
                self.history, self._context = messages, []
        finally:
            turn.duration_ms = (time.perf_counter() - started) * 1000
            if self._writer is not None:
                self._writer.add_duration(turn.number, turn.duration_ms)
            if self._player is not None:
                turn.recorded_duration_ms = self._player.recording.turn_durations_ms.get(turn.number)
            turn.cost_usd = turn_cost(self.prices, turn) if self.prices else None
        return turn

    async def judge(self, provider: Provider, criterion: str, settings: JudgeSettings | None = None) -> Judgement:
        """Ask a judge model whether the last reply meets `criterion`; the call is recorded and replayed like the
        agent's."""
        settings = settings or JudgeSettings()
        question = verdict_question(criterion, self.turns, settings.evidence)
        return await self.ask_judge(provider, question, settings.samples)

    async def ask_judge(self, provider: Provider, question: JudgeQuestion, samples: int = 1) -> Judgement:
        """Ask a judge model `question` about the conversation `samples` times, and keep the verdict of the votes on
        the last turn; each call is recorded and replayed like the agent's."""
        turn = self.last_turn
        temperature = SAMPLE_TEMPERATURE if samples > 1 else 0
        votes, model = [], provider.model
        for sample in range(1, samples + 1):
            request: dict[str, Any] = {"model": provider.model, "messages": question.messages}
            if samples > 1:
                request["sample"] = sample
            started = time.perf_counter()
            completion = await self._helper_completion(
                "judge",
                turn.number,
                request,
                lambda: ask_judge(provider, question.messages, shared_http_client(self.runtime), temperature),
                (JudgeError, f"the judge model {provider.model!r}"),
            )
            vote = vote_from(question, provider.model, completion, (time.perf_counter() - started) * 1000)
            vote.cost_usd = self.prices.cost(provider.model, vote.usage) if self.prices else None
            votes.append(vote)
            model = completion.model or provider.model
        verdict = judgement_of(question, model, votes)
        turn.judgements.append(verdict)
        return verdict

    async def ask_user_model(self, provider: Provider, messages: list[dict[str, str]]) -> UserModelCall:
        """Ask the user model, which plays a simulated user, for its next message; the call is recorded and replayed
        like the agent's, under the number of the turn it would write."""
        request = {"model": provider.model, "messages": messages}
        started = time.perf_counter()
        completion = await self._helper_completion(
            "user_model",
            len(self.turns) + 1,
            request,
            lambda: ask_user_model(provider, messages, shared_http_client(self.runtime)),
            (UserModelError, f"the user model {provider.model!r}"),
        )
        call = user_model_call(provider.model, completion, (time.perf_counter() - started) * 1000)
        call.cost_usd = self.prices.cost(provider.model, call.usage) if self.prices else None
        call.source = self._source
        return call

    async def _helper_completion(
        self,
        kind: InteractionKind,
        turn: int,
        request: dict[str, Any],
        live: Callable[[], Awaitable[Any]],
        failure: tuple[type[Exception], str],
    ) -> ChatCompletion:
        """A helper model's (the judge's, the user model's) chat completion for `request`, replayed or `live`; when
        the answer is not one, the error of `failure` (its type, and the words that name the model) says why."""
        try:
            return ChatCompletion.model_validate(await self._exchange(kind, turn, request, live))
        except ValueError as error:  # not JSON, or not a chat completion (also when it is being recorded)
            if self._player is not None and isinstance(error, ValidationError):
                raise self._unreadable_replay(f"{kind.replace('_', ' ')} response", error) from None
            error_type, model = failure
            raise error_type(f"{model} sent a response that is not a chat completion ({error})") from None

    def _unreadable_replay(self, what: str, error: ValidationError) -> RecordingMismatch:
        """A replayed response that cannot be read: the recording was edited since it was made."""
        assert self._player is not None
        where = f"interaction {self._player.position}: {problem(error)}"
        return RecordingMismatch(self._player.cassette.problem(f"has a {what} that cannot be read ({where})"))

    async def _exchange(
        self,
        kind: InteractionKind,
        turn: int,
        request: dict[str, Any],
        live: Callable[[], Awaitable[Any]],
        recorded_answer: ToolAnswer | None = None,
    ) -> Any:
        """The response to `request`: replayed from the recording, or live (and recorded when recording).

        A real MCP server run against a recording, or a tool stub of the scenario, answers live, and must answer as
        it did then (`recorded_answer`).
        """
        if self._player is not None and recorded_answer is None:
            return self._player.next(kind, turn, request).response
        response = valid_data(await live())
        if self._player is not None and recorded_answer is not None:
            recorded = recorded_answer.model_dump(mode="json")
            now = self._player.cassette.redactor.data(response)
            recorded, now = without_times(recorded), without_times(now)
            if recorded != now:
                raise TurnError(
                    f"the result of tool {request['name']!r} differs from the recording (did the server, or the "
                    f"scenario's stub, change?):\n"
                    f"{diff(recorded, now)}\nRe-record it with: {self._player.cassette.rerecord_command()}"
                )
        if self._writer is not None:
            self._writer.add(kind, turn, request, response)
        return response

    async def _complete(self, turn: Turn, messages: list[Message], span_id: str | None = None) -> ChatCompletion:
        provider = self.agent.provider
        tools = self.tool_stubs.offered(self._tools, self._owners)
        tool_names = [tool["function"]["name"] for tool in tools]
        request: dict[str, Any] = {"model": self._model, "messages": recorded_messages(messages), "tools": tool_names}
        if provider.temperature is not None:
            request["temperature"] = provider.temperature
        if provider.max_tokens is not None:
            request["max_tokens"] = provider.max_tokens
        if provider.reasoning_effort is not None:
            request["reasoning_effort"] = provider.reasoning_effort
        if provider.stream:
            request["stream"] = True

        body = {key: value for key, value in request.items() if key != "tools"} | {"messages": list(messages)}
        if tools:
            body.update(tools=tools, tool_choice="auto")
        responses = provider.api == "responses"
        traced = self._trace_headers(span_id)

        async def live() -> Any:
            assert self._client is not None
            with counting_requests() as sent:
                path, wire = (RESPONSES_PATH, responses_body(body)) if responses else (CHAT_PATH, body)
                try:
                    if provider.stream:
                        answer = await streamed(self._client, path, wire, traced)
                    else:
                        answer = await self._client.post(path, body=wire, cast_to=object, options=traced)
                except openai.APIError as error:
                    raise TurnError(describe_api_error(error, provider, sent.sent)) from None
            return answer if responses else cut_replies(answer, self.agent.max_response_chars)

        try:
            data = await self._exchange("model", turn.number, request, live)
            if responses:
                streaming = {FIRST_TOKEN_MS: data[FIRST_TOKEN_MS]} if FIRST_TOKEN_MS in data else {}
                data = cut_replies(chat_completion(data), self.agent.max_response_chars) | streaming
            return ChatCompletion.model_validate(data)
        except TurnError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            if self._player is not None and isinstance(error, ValidationError):
                raise self._unreadable_replay("model response", error) from None
            what = "a Responses API response" if responses else "a chat completion"
            raise TurnError(
                f"model {provider.model!r} sent a response that is not {what} ({type(error).__name__}: {error})"
            ) from None
        except Exception as error:
            transport = describe_transport_error(error, provider)
            if transport is None:
                raise
            raise TurnError(transport) from None

    async def _loop(self, turn: Turn, messages: list[Message]) -> None:
        provider = self.agent.provider
        for _round in range(self.agent.max_tool_rounds + 1):
            started, offset = time.perf_counter(), started_ms(turn)
            span_id = new_span_id() if offset is not None else None
            response = await self._complete(turn, messages, span_id)
            if not response.choices:
                raise TurnError(f"model {provider.model!r} returned a response with no choices")
            choice = response.choices[0]
            reply = choice.message
            call = model_call(response, self._model, (time.perf_counter() - started) * 1000, span_id, offset)
            turn.usage = turn.usage + call.usage
            turn.model_calls.append(call)
            unfinished = UNFINISHED.get(choice.finish_reason or "")
            if unfinished:
                raise TurnError(f"model {provider.model!r} {unfinished}")
            if not reply.tool_calls:
                turn.final_response = reply.content or reply.refusal or ""
                messages.append({"role": "assistant", "content": turn.final_response, **carried(reply)})
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
                    **carried(reply),
                }
            )
            answered = []
            for call in reply.tool_calls:
                tool_call = await self._call_tool(turn, call.id, call.function.name, call.function.arguments)
                turn.tool_calls.append(tool_call)
                answered.append(tool_call)
            messages.extend(round_messages(answered))

    async def _forward(self, api: Literal["chat", "responses"], body: dict[str, Any]) -> Any:
        """Send an app's model call, as its agent made it, to the agent's provider (not streamed: the proxy streams
        the answer when the agent asked for a stream)."""
        assert self._client is not None
        provider = self.agent.provider
        wire = {key: value for key, value in body.items() if key not in ("stream", "stream_options")}
        wire["model"] = self._model
        with counting_requests() as sent:
            try:
                return await self._client.post(
                    RESPONSES_PATH if api == "responses" else CHAT_PATH, body=wire, cast_to=object
                )
            except openai.APIError as error:
                raise TurnError(describe_api_error(error, provider, sent.sent)) from None
            except Exception as error:
                transport = describe_transport_error(error, provider)
                if transport is None:
                    raise
                raise TurnError(transport) from None

    def _trace_headers(self, span_id: str | None) -> dict[str, Any]:
        """The request options that send a model call's span to the model (`--aitest-otel`): a `traceparent` header."""
        return {"headers": {"traceparent": traceparent(self.conversation, span_id)}} if span_id else {}

    def _recorded_answer(self, turn: int, request: dict[str, Any], stubbed: bool) -> ToolAnswer | None:
        """When a real MCP server, or the scenario's stub (`stubbed`), answers against a recording: the recorded
        answer to the tool call `request`, read as an answer now, so that fields added since the recording was made
        compare as their defaults."""
        if self._player is None or not (self._real_tools or stubbed):
            return None
        try:
            return ToolAnswer.model_validate(self._player.next("tool", turn, request).response)
        except ValidationError as error:
            raise self._unreadable_replay("tool result", error) from None

    async def _call_tool(self, turn: Turn, call_id: str, name: str, arguments: str | dict | None) -> ToolCall:
        """Run one tool call. Bad arguments and unknown tools go back to the model as tool errors."""
        call = ToolCall(id=call_id, name=name, raw_arguments=_raw(arguments), started_ms=started_ms(turn))
        if call.started_ms is not None:
            call.span_id = new_span_id()
        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            call.is_error, call.result_text = True, parsed
            return call
        call.arguments = parsed
        owners = self.tool_stubs.owners(self._owners)
        if name not in owners:
            available = ", ".join(owners) or "none"
            call.is_error = True
            call.result_text = f"Error: there is no tool named {name!r}. Available tools: {available}."
            return call

        request = {"name": name, "arguments": parsed}
        recorded = self._recorded_answer(turn.number, request, self.tool_stubs.is_stubbed(name))
        if recorded is not None:  # answered live against a recording: sampling requests get the recorded answers
            helpers = replaying(recorded.samplings, self.user_answers)
        else:
            helpers = answerers(self.agent, self.runtime, self.user_answers)

        async def real() -> ToolAnswer:
            assert self._toolbox is not None
            meta = {"traceparent": traceparent(self.conversation, call.span_id)} if call.span_id else None
            return await self._toolbox.call(name, parsed, helpers, meta)

        async def live() -> dict[str, Any]:
            server = owners[name]
            tools = self.tool_stubs.offered(self._tools, self._owners)
            schema = next(tool["function"]["parameters"] for tool in tools if tool["function"]["name"] == name)
            timeout = next((config.call_timeout for config in self.agent.mcp_servers if config.label == server), None)
            wait = self._player is None or self._real_tools
            answer = await self.tool_stubs.call(name, parsed, schema, server, timeout, real, wait=wait)
            return answer.truncated(self.agent.max_tool_result_chars).model_dump(mode="json")

        response = await self._exchange("tool", turn.number, request, live, recorded)
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
        if self._player is not None and answer.stubbed and not self.tool_stubs.is_stubbed(name):
            raise RecordingMismatch(
                f"the recording answers tool {name!r} from a stub that the scenario no longer has: re-record it with: "
                f"{self._player.cassette.rerecord_command()}"
            )
        if recorded is not None and answer.stubbed:  # the stub answered again: the recorded call's time stays
            call.duration_ms = recorded.duration_ms
        call.content, call.stubbed = answer.content, answer.stubbed
        take_events(turn, call, answer, self.prices)
        try:
            if self._player is not None and not self._real_tools:
                cassette = self._player.cassette
                check_replayed_answers(call, self.user_answers, cassette.redactor, cassette.rerecord_command())
            check_answered(call)
        except (TurnError, RecordingMismatch):
            turn.tool_calls.append(call)  # the failed turn shows what the server asked
            raise
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
