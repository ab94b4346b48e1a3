"""The OpenTelemetry GenAI semantic conventions, as aitest-bdd applies them: a test's conversations as spans.

The whole mapping is here, span names and attribute names, because the GenAI conventions are still in
development: this module follows semantic conventions 1.44.0. One trace per conversation (a scenario is one
conversation; each attempt of a repeated scenario is one): an `invoke_agent` span, and under it a `chat` span per
model call and an `execute_tool` span per tool call (with the MCP attributes for an MCP server's tool); each Then
step and each judge verdict is a `gen_ai.evaluation.result` event on the `invoke_agent` span. Message contents
(the system prompt, the user's and the model's messages, tool arguments and results, failure messages and the
judge's reasoning) are added only with `content`.

The spans are plain data: report/otel/sdk.py hands them to the OpenTelemetry SDK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ...conversation.trace_context import new_span_id
from ...conversation.turns import Conversation, Judgement, ModelCall, ToolCall, Turn
from ...results.schema import StepResult, TestResult

SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
PROVIDER = "openai"
"""`gen_ai.provider.name`: every agent speaks the OpenAI API (or one compatible with it)."""

INVOKE_AGENT, CHAT, EXECUTE_TOOL = "invoke_agent", "chat", "execute_tool"
EVALUATION_EVENT = "gen_ai.evaluation.result"
MCP_TOOLS_CALL = "tools/call"

OPERATION = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
MCP_METHOD = "mcp.method.name"
ERROR_TYPE = "error.type"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE = "gen_ai.evaluation.score.value"
EVALUATION_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"

# aitest-bdd's own attributes, where the conventions have none
TEST_ID = "aitest.test.nodeid"
TEST_STATUS = "aitest.test.status"
FEATURE = "aitest.feature"
ATTEMPT = "aitest.attempt"
REPLAYED = "aitest.replayed"
"""On `invoke_agent`: some turns were replayed from a recording; their times are the recorded ones."""
TURN = "aitest.turn"
SOURCE = "aitest.source"
MCP_SERVER = "aitest.mcp.server"
STUBBED = "aitest.tool.stubbed"
STEP_LINE = "aitest.step.line"
EVALUATOR = "aitest.evaluator"
AGENT_APP = "aitest.agent.app"
"""On `invoke_agent`: what ran the agent when aitest-bdd did not (its app's label, such as "LangGraph graph")."""

THEN_KEYWORDS = frozenset({"Then"})
CONTINUATIONS = frozenset({"And", "But", "*"})


@dataclass
class Event:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class Span:
    """One span: its ids (hex), where it sits, when, what it says, and its error (None: it succeeded)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: Literal["internal", "client"]
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    error: str | None = None


def test_traces(result: TestResult, content: bool) -> dict[str, list[Span]]:
    """The spans of each traced conversation of a test, by trace id (a conversation with no turn has none)."""
    traces = {}
    for conversation in result.conversations:
        if conversation.trace_id is None or conversation.span_id is None:
            continue
        attempt = next((a for a in result.attempts if a.number == conversation.attempt), None)
        steps = attempt.steps if attempt is not None else result.steps
        status = attempt.status if attempt is not None else result.status
        message = attempt.message if attempt is not None else result.message
        spans = _conversation_spans(result, conversation, steps, status, message, content)
        if spans:
            traces[conversation.trace_id] = spans
    return traces


def _conversation_spans(
    result: TestResult,
    conversation: Conversation,
    steps: list[StepResult],
    status: str,
    message: str | None,
    content: bool,
) -> list[Span]:
    trace, root = conversation.trace_id or "", conversation.span_id or ""
    spans: list[Span] = []
    events: list[Event] = []
    ends: list[int] = []
    for turn in conversation.turns:
        timeline = _timeline(turn)
        if timeline is None:
            continue
        start, end, placed = timeline
        ends.append(end)
        for index, call in enumerate(turn.model_calls):
            spans.append(_chat_span(trace, root, turn, index, call, placed[id(call)], content))
        spans.extend(_tool_span(trace, root, turn, call, placed[id(call)], content) for call in turn.tool_calls)
        judged_at = end
        for judgement in turn.judgements:
            judged_at += int(judgement.duration_ms * 1e6)
            events.append(_judge_event(judgement, judged_at, content))
    if not ends:
        return []
    events.extend(_step_events(steps, ends, content))
    start = min(span.start_ns for span in spans) if spans else ends[0]
    start = min(start, *(_turn_start(turn) for turn in conversation.turns if turn.started_at is not None))
    attributes: dict[str, Any] = {
        OPERATION: INVOKE_AGENT,
        PROVIDER_NAME: PROVIDER,
        AGENT_NAME: conversation.agent,
        CONVERSATION_ID: trace,
        REQUEST_MODEL: conversation.model,
        INPUT_TOKENS: conversation.usage.prompt_tokens,
        OUTPUT_TOKENS: conversation.usage.completion_tokens,
        TEST_ID: result.nodeid,
        TEST_STATUS: status,
        REPLAYED: any(turn.source == "replayed" for turn in conversation.turns),
    }
    if result.feature:
        attributes[FEATURE] = result.feature
    if conversation.app is not None:
        attributes[AGENT_APP] = conversation.app
    if conversation.attempt is not None:
        attributes[ATTEMPT] = conversation.attempt
    if content and conversation.system_prompt:
        attributes[SYSTEM_INSTRUCTIONS] = json.dumps([{"type": "text", "content": conversation.system_prompt}])
    failed = status == "failed"
    if failed:
        attributes[ERROR_TYPE] = "test_failed"
    agent = Span(
        trace,
        root,
        None,
        f"{INVOKE_AGENT} {conversation.agent}",
        "internal",
        start,
        max([*ends, *(event.time_ns for event in events)]),
        attributes,
        events,
        error=((message or "") if content else "") if failed else None,
    )
    return [agent, *spans]


def _turn_start(turn: Turn) -> int:
    assert turn.started_at is not None
    return _ns(turn.started_at)


def _timeline(turn: Turn) -> tuple[int, int, dict[int, tuple[int, int]]] | None:
    """When the turn and each of its calls (by `id`) started and ended; None for a turn that was not traced.

    A live turn's calls keep their own times. A replayed turn lasts as long as it did when recorded: its calls
    follow one another in their order, each tool call as long as it was then, the model calls sharing the rest.
    """
    if turn.started_at is None:
        return None
    start = _ns(turn.started_at)
    calls: list[ModelCall | ToolCall] = sorted(
        [*turn.model_calls, *turn.tool_calls], key=lambda call: call.started_ms or 0.0
    )
    placed: dict[int, tuple[int, int]] = {}
    if turn.source != "replayed":
        for call in calls:
            begin = start + int((call.started_ms or 0.0) * 1e6)
            placed[id(call)] = (begin, begin + int(call.duration_ms * 1e6))
        return start, start + int(turn.duration_ms * 1e6), placed
    total = turn.recorded_duration_ms if turn.recorded_duration_ms is not None else turn.duration_ms
    tools = sum(call.duration_ms for call in turn.tool_calls)
    share = max(total - tools, 0.0) / max(len(turn.model_calls), 1)
    cursor = start
    for call in calls:
        length = int((call.duration_ms if isinstance(call, ToolCall) else share) * 1e6)
        placed[id(call)] = (cursor, cursor + length)
        cursor += length
    return start, max(cursor, start + int(total * 1e6)), placed


def _chat_span(
    trace: str, root: str, turn: Turn, index: int, call: ModelCall, when: tuple[int, int], content: bool
) -> Span:
    attributes: dict[str, Any] = {
        OPERATION: CHAT,
        PROVIDER_NAME: PROVIDER,
        REQUEST_MODEL: turn.model,
        RESPONSE_MODEL: call.model,
        INPUT_TOKENS: call.usage.prompt_tokens,
        OUTPUT_TOKENS: call.usage.completion_tokens,
        TURN: turn.number,
        SOURCE: turn.source,
    }
    if call.finish_reason:
        attributes[FINISH_REASONS] = [call.finish_reason]
    if content:
        if index == 0:
            user = [{"role": "user", "parts": [{"type": "text", "content": turn.user_message}]}]
            attributes[INPUT_MESSAGES] = json.dumps(user)
        parts: list[dict[str, Any]] = [{"type": "text", "content": call.content}] if call.content else []
        parts += [{"type": "tool_call", "name": name} for name in call.tool_calls]
        reply = {"role": "assistant", "parts": parts, "finish_reason": call.finish_reason or ""}
        attributes[OUTPUT_MESSAGES] = json.dumps([reply])
    return Span(trace, _own_id(call), root, f"{CHAT} {turn.model}", "client", *when, attributes)


def _tool_span(trace: str, root: str, turn: Turn, call: ToolCall, when: tuple[int, int], content: bool) -> Span:
    attributes: dict[str, Any] = {
        OPERATION: EXECUTE_TOOL,
        TOOL_NAME: call.name,
        TOOL_CALL_ID: call.id,
        TOOL_TYPE: "function",
        TURN: turn.number,
        SOURCE: turn.source,
        STUBBED: call.stubbed,
    }
    if call.server:  # an MCP server's tool (an app's tools have none known)
        attributes[MCP_METHOD] = MCP_TOOLS_CALL
        attributes[MCP_SERVER] = call.server
    if call.is_error:
        attributes[ERROR_TYPE] = "tool_error"
    if content:
        attributes[TOOL_ARGUMENTS] = call.raw_arguments or json.dumps(call.arguments)
        attributes[TOOL_RESULT] = call.result_text
    error = (call.result_text if content else "") if call.is_error else None
    return Span(trace, _own_id(call), root, f"{EXECUTE_TOOL} {call.name}", "client", *when, attributes, [], error)


def _own_id(call: ModelCall | ToolCall) -> str:
    """The call's span id: the one it was sent, or a new one for a call that was sent none (such as a tool call an
    app made, seen only in its model calls)."""
    return call.span_id or new_span_id()


def _judge_event(judgement: Judgement, time_ns: int, content: bool) -> Event:
    attributes: dict[str, Any] = {
        EVALUATION_NAME: judgement.criterion,
        EVALUATION_LABEL: "passed" if judgement.passed else "failed",
        EVALUATOR: f"judge {judgement.model}",
    }
    if judgement.score is not None:
        attributes[EVALUATION_SCORE] = float(judgement.score)
    if content:
        attributes[EVALUATION_EXPLANATION] = judgement.reasoning
    return Event(EVALUATION_EVENT, time_ns, attributes)


def _step_events(steps: list[StepResult], turn_ends: list[int], content: bool) -> list[Event]:
    """An evaluation event per Then step (and its And and But steps), at the end of the turn before it."""
    events, kind = [], ""
    for step in steps:
        kind = kind if step.keyword in CONTINUATIONS else step.keyword
        if kind not in THEN_KEYWORDS:
            continue
        attributes: dict[str, Any] = {
            EVALUATION_NAME: f"{step.keyword} {step.text}",
            EVALUATION_LABEL: step.status,
            EVALUATOR: "step",
            STEP_LINE: step.line,
        }
        if step.status in ("passed", "failed"):
            attributes[EVALUATION_SCORE] = 1.0 if step.status == "passed" else 0.0
        if content and step.message:
            attributes[EVALUATION_EXPLANATION] = step.message
        at = turn_ends[min(max(step.turns_before, 1), len(turn_ends)) - 1]
        events.append(Event(EVALUATION_EVENT, at, attributes))
    return events


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)
