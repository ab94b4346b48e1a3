"""What happened in a conversation: turns, model calls and tool calls, as plain data."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import TurnError
from ..tools.answers import ContentBlock
from ..tools.call_events import CallEvents

SCRIPTED_MODEL_PREFIX = "aitest-scripted"
"""How the scripted test model (aitest_bdd.testing) names itself in its answers: not a real LLM."""


def is_scripted(model: str) -> bool:
    """Whether `model` (as an answer names it) is the scripted test model: its costs are hypothetical."""
    return model.startswith(SCRIPTED_MODEL_PREFIX)

Subject = Literal["response", "conversation"]
"""What a judge is asked about: the last reply, or the whole conversation."""


class Usage(BaseModel):
    """Tokens a model reported. `reasoning_tokens` are part of `completion_tokens` (a reasoning model's output it
    does not show), `cached_tokens` part of `prompt_tokens` (input the provider had cached)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0

    @classmethod
    def reported(cls, usage: Any) -> Usage:
        """The usage an SDK response reported (None, or missing counts, give zeros)."""
        if usage is None:
            return cls()
        output_details = getattr(usage, "completion_tokens_details", None)
        input_details = getattr(usage, "prompt_tokens_details", None)
        return cls(
            prompt_tokens=usage.prompt_tokens or 0,
            completion_tokens=usage.completion_tokens or 0,
            total_tokens=usage.total_tokens or 0,
            reasoning_tokens=getattr(output_details, "reasoning_tokens", None) or 0,
            cached_tokens=getattr(input_details, "cached_tokens", None) or 0,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class ToolCall(CallEvents):
    """One tool call the model made, and what the tool answered (with what the server sent during the call)."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str = ""
    server: str | None = None
    result_text: str = ""
    """The text the model read for the result."""
    structured_content: Any = None
    content: list[ContentBlock] = Field(default_factory=list)
    """The result's blocks (images, audio, resources, links, and the text between them), when it has any besides
    text; empty for a text-only result."""
    is_error: bool = False
    duration_ms: float = 0.0
    truncated_from: int | None = None
    stubbed: bool = False
    """Whether a stub of the scenario answered the call instead of the MCP server (see docs/tool-stubs.md)."""
    span_id: str | None = None
    """With `--aitest-otel`: the call's span, made before the call and sent to the MCP server (`_meta.traceparent`)."""
    started_ms: float | None = None
    """With `--aitest-otel`: when the call started, in milliseconds after the turn started."""


class ModelCall(BaseModel):
    """One request to the model and its answer."""

    model: str
    content: str | None = None
    tool_calls: list[str] = Field(default_factory=list)
    finish_reason: str | None = None
    refusal: str | None = None
    usage: Usage = Field(default_factory=Usage)
    duration_ms: float = 0.0
    truncated_from: int | None = None
    reasoning_summary: str | None = None
    """What the model said of its reasoning, when the API returned a summary of it."""
    first_token_ms: float | None = None
    """When streamed (`Provider(stream=True)`): how long the first token of the reply took to arrive (when replayed,
    as recorded); None when not streamed, or when the reply had no token."""
    span_id: str | None = None
    """With `--aitest-otel`: the call's span, made before the request and sent in its `traceparent` header."""
    started_ms: float | None = None
    """With `--aitest-otel`: when the request was sent, in milliseconds after the turn started."""


class Vote(BaseModel):
    """One answer of the judge when it is asked several times (`--aitest-judge-samples`)."""

    passed: bool
    score: int | None = None
    reasoning: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    duration_ms: float = 0.0


class Judgement(BaseModel):
    """An LLM judge's verdict on a turn. Its tokens and cost are the judge's, not the agent's.

    Asked several times, the verdict is the majority of its `votes` (a score: their median), and its tokens, cost
    and time are theirs summed.
    """

    criterion: str
    passed: bool
    reasoning: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    duration_ms: float = 0.0
    subject: Subject = "response"
    """What was judged: the last reply, or the whole conversation."""
    score: int | None = None
    """On a scale from 1 to `scale`: the judge's score (None for a yes/no verdict)."""
    scale: int | None = None
    minimum: int | None = None
    """The score the step needed to pass."""
    weight: float | None = None
    """In a rubric: the criterion's weight (None for a "must" criterion, or outside a rubric)."""
    must: bool = False
    """In a rubric: the criterion must hold, whatever the score."""
    votes: list[Vote] = Field(default_factory=list)
    """Each answer, when the judge was asked more than once."""

    @property
    def calls(self) -> int:
        """How many times the judge was asked."""
        return len(self.votes) or 1

    @property
    def split(self) -> bool:
        """Whether the votes disagree."""
        return len({(vote.passed, vote.score) for vote in self.votes}) > 1


class OfferedTool(BaseModel):
    """A tool the agent was offered: its name, its description, and the MCP server that has it.

    `parameters` (the input schema) and `annotations` (the MCP hints; None when the tool came from a recording,
    which does not keep them) are written once per run, in the results' `tool_surface.definitions`: a
    conversation's tools name theirs by `definition`.
    """

    name: str
    description: str = ""
    server: str | None = None
    parameters: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    definition: str | None = None
    """A digest of the server, name, description, parameters and annotations: the same for the same definition."""

    def keyed(self) -> OfferedTool:
        """This tool with its `definition` digest set."""
        whole = self.model_dump(mode="json", exclude={"definition"})
        digest = hashlib.sha256(json.dumps(whole, sort_keys=True).encode()).hexdigest()
        return self.model_copy(update={"definition": digest[:16]})


class ServerPrompt(BaseModel):
    """An MCP prompt the user ran: its name, the server that gave it, and the arguments it was given."""

    name: str
    server: str
    arguments: dict[str, str] = Field(default_factory=dict)


class ContextResource(BaseModel):
    """An MCP resource put in the conversation's context: its URI, its server, and the text the model read."""

    uri: str
    server: str
    text: str


class UserModelCall(BaseModel):
    """One answer of the user model, the LLM that plays a simulated user. Its tokens and cost are apart from the
    agent's."""

    model: str
    reply: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    duration_ms: float = 0.0
    source: Literal["live", "recorded", "replayed"] = "live"


class SimulatedUser(BaseModel):
    """A simulated user's part of a conversation: whom the user model played, what it wanted, how the conversation
    ended for it, and the user model's calls. It wrote the turns `first_turn` to `first_turn + turns - 1`."""

    persona: str
    goal: str
    instructions: str = ""
    model: str
    max_turns: int
    first_turn: int
    turns: int = 0
    outcome: Literal["goal reached", "gave up", "turn limit", "agent failed"] | None = None
    """None while it talks, or when the user model failed."""
    note: str = ""
    """What the user model said with its final word (why it gave up), or the message it had left at the turn limit."""
    calls: list[UserModelCall] = Field(default_factory=list)


class Turn(BaseModel):
    """One user message and everything the agent did to answer it.

    A turn holds only its own model and tool calls; earlier turns are in the conversation.
    """

    number: int
    user_message: str
    model: str
    model_calls: list[ModelCall] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    judgements: list[Judgement] = Field(default_factory=list)
    final_response: str = ""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    duration_ms: float = 0.0
    recorded_duration_ms: float | None = None
    """When replayed: how long the turn took live, when it was recorded."""
    error: str | None = None
    source: Literal["live", "recorded", "replayed"] = "live"
    prompt: ServerPrompt | None = None
    """The MCP prompt whose messages are this turn's user message, when the user ran one."""
    resources: list[ContextResource] = Field(default_factory=list)
    """The MCP resources sent just before this turn's user message: those put in the context since the last turn
    that succeeded (a resource stays with the next turns until one succeeds)."""
    simulated: bool = False
    """Whether a simulated user (the user model) wrote the user message."""
    started_at: datetime | None = None
    """With `--aitest-otel`: when the turn started (the calls' `started_ms` count from it)."""
    hidden_tool_calls: str | None = None
    """Why this turn's tool calls cannot be seen (an agent that does not expose them), or None when they can."""

    @property
    def live_duration_ms(self) -> float | None:
        """How long the turn took live: now, or when it was recorded if replayed (None when that was not kept)."""
        return self.recorded_duration_ms if self.source == "replayed" else self.duration_ms

    @property
    def success(self) -> bool:
        """True when the agent answered without an error."""
        return self.error is None

    def seen_tool_calls(self) -> list[ToolCall]:
        """The turn's tool calls; a TurnError that says why when the agent does not expose them."""
        if self.hidden_tool_calls:
            raise TurnError(self.hidden_tool_calls)
        return self.tool_calls

    def tool_calls_for(self, name: str) -> list[ToolCall]:
        """The calls to the tool `name`, in order (a TurnError when the agent does not expose its tool calls)."""
        return [call for call in self.seen_tool_calls() if call.name == name]

    def tool_was_called(self, name: str) -> bool:
        """Whether the tool `name` was called in this turn."""
        return bool(self.tool_calls_for(name))

    def tool_call_count(self, name: str | None = None) -> int:
        """How many calls to `name` (or to any tool) this turn made."""
        return len(self.seen_tool_calls() if name is None else self.tool_calls_for(name))

    def tool_call_arg(self, name: str, key: str) -> Any:
        """The argument `key` of the first call to `name`, or None."""
        calls = self.tool_calls_for(name)
        return calls[0].arguments.get(key) if calls else None


class Conversation(BaseModel):
    """All turns of one session with one agent, and what the agent was given: its system prompt and tools.

    A replayed conversation names the recording's date and the models that answered when it was made.
    One whose recording was made with another model runs live, and names that model.
    """

    agent: str
    model: str
    app: str | None = None
    """What ran the agent when aitest-bdd did not (an app: "LangGraph graph", "service"); None for its own loop.
    Its system prompt is then unknown, and its tools are those it offered its model, with no server."""
    system_prompt: str | None = None
    tools: list[OfferedTool] = Field(default_factory=list)
    recorded_at: datetime | None = None
    recorded_models: list[str] = Field(default_factory=list)
    live_instead_of: str | None = None
    """The model of a recording this conversation did not replay: it ran live, on another model."""
    task_only_tools: dict[str, list[str]] = Field(default_factory=dict)
    """By MCP server, the tools not offered because the server runs them only as MCP tasks."""
    down_servers: list[str] = Field(default_factory=list)
    """The MCP servers the scenario says are down: their tools were not offered (see docs/tool-stubs.md)."""
    attempt: int | None = None
    """Which attempt of a repeated scenario this conversation is (1, 2, …); None when it ran once."""
    turns: list[Turn] = Field(default_factory=list)
    simulated_users: list[SimulatedUser] = Field(default_factory=list)
    """The simulated users that wrote some of the turns, in order, with the user model's calls."""
    trace_id: str | None = None
    """With `--aitest-otel`: the OpenTelemetry trace of this conversation (32 hex digits), made when it starts."""
    span_id: str | None = None
    """With `--aitest-otel`: the conversation's `invoke_agent` span, the parent of its model and tool calls' spans."""

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call of every turn, in order."""
        return [call for turn in self.turns for call in turn.tool_calls]

    @property
    def spent_usd(self) -> float:
        """What its live model, judge and user model calls cost (a replayed turn or call costs nothing; an unpriced
        model counts 0)."""
        return sum(
            (turn.cost_usd or 0.0) + sum(judgement.cost_usd or 0.0 for judgement in turn.judgements)
            for turn in self.turns
            if turn.source != "replayed"
        ) + sum(call.cost_usd or 0.0 for call in self.user_model_calls if call.source != "replayed")

    @property
    def user_model_calls(self) -> list[UserModelCall]:
        """Every call to the user model, in order."""
        return [call for user in self.simulated_users for call in user.calls]

    @property
    def user_model_usage(self) -> Usage:
        """Tokens the user model used on this conversation (apart from the agent's `usage`)."""
        total = Usage()
        for call in self.user_model_calls:
            total = total + call.usage
        return total

    @property
    def usage(self) -> Usage:
        """Tokens used by all turns."""
        total = Usage()
        for turn in self.turns:
            total = total + turn.usage
        return total

    @property
    def judgements(self) -> list[Judgement]:
        """Every judge's verdict on every turn, in order."""
        return [judgement for turn in self.turns for judgement in turn.judgements]

    @property
    def judge_usage(self) -> Usage:
        """Tokens the judge used on this conversation (apart from the agent's `usage`)."""
        total = Usage()
        for judgement in self.judgements:
            total = total + judgement.usage
        return total

    @property
    def duration_ms(self) -> float:
        """Time spent in all turns."""
        return sum(turn.duration_ms for turn in self.turns)
