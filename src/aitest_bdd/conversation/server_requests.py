"""The conversation's side of what an MCP server asks during a tool call: the feature's answers to its questions,
a model for its sampling requests, and what comes of them on the turn."""

from __future__ import annotations

from typing import Any

from ..config import Agent, Provider
from ..errors import TurnError
from ..models.providers import shared_http_client
from ..recording.cassette import RecordingMismatch, diff
from ..redaction import Redactor
from ..runtime import Runtime
from ..tools.answers import ToolAnswer
from ..tools.call_events import Answerers, Sampling
from .pricing import PriceTable
from .sampling import UNANSWERED_SAMPLING, sample, sampling_provider
from .sampling_cost import priced, sampling_usage
from .turns import ToolCall, Turn
from .user_answers import UserAnswers


def answerers(agent: Agent, runtime: Runtime, user_answers: UserAnswers) -> Answerers:
    """Answer questions as the feature says, and sampling requests with the server's sampling model (or the
    agent's): looked up at the time of the call, for a shared server serves many scenarios."""

    async def ask_model(messages: list[dict[str, Any]], max_tokens: int, model: Provider | str | None) -> Sampling:
        provider = sampling_provider(agent.provider, model)
        return await sample(provider, messages, max_tokens, shared_http_client(runtime))

    return Answerers(elicit=user_answers.answer, sample=ask_model)


def replaying(recorded: list[Sampling], user_answers: UserAnswers) -> Answerers:
    """Answer questions as the feature says, and sampling requests with the `recorded` answers in order, with their
    recorded tokens: a real server run against a recording gets what the model answered then, with no model."""
    left = list(recorded)

    async def replay(messages: list[dict[str, Any]], max_tokens: int, model: Provider | str | None) -> Sampling:
        if not left:
            why = "the recording has no more answers to this call's sampling requests"
            return Sampling(messages=messages, max_tokens=max_tokens, problem=f"{UNANSWERED_SAMPLING}: {why}")
        return left.pop(0).model_copy(update={"messages": messages, "max_tokens": max_tokens})

    return Answerers(elicit=user_answers.answer, sample=replay)


def take_events(turn: Turn, call: ToolCall, answer: ToolAnswer, prices: PriceTable | None) -> None:
    """Put on `call` what the server sent during it, each sampling request priced on its model, and the tokens of
    the sampling requests on the turn."""
    for name, value in answer.events().items():
        setattr(call, name, value)
    call.samplings = [priced(prices, sampling) for sampling in call.samplings]
    turn.usage = turn.usage + sampling_usage(call)


def check_answered(call: ToolCall) -> None:
    """Fail the turn when the feature could not answer the server's question, or the model its sampling request."""
    problems = [item.problem for item in [*call.elicitations, *call.samplings] if item.problem]
    if problems:
        raise TurnError(f"during the call to tool {call.name!r}, {problems[0]}")


def check_replayed_answers(call: ToolCall, user_answers: UserAnswers, redactor: Redactor, rerecord: str) -> None:
    """Fail a replayed call whose questions the feature now answers otherwise than when it was recorded: the
    server might have done something else. A question the feature no longer answers fails as it would live. The
    answers are given, and compared, as recorded: redacted."""
    redacted = user_answers.redacted(redactor)
    for asked in call.elicitations:
        now = redacted.answer(asked.message, asked.requested_schema)
        if now.problem is not None:
            raise TurnError(f"during the call to tool {call.name!r}, {now.problem}")
        recorded = {"action": asked.action, "content": asked.content}
        answered = redactor.data({"action": now.action, "content": now.content})
        if recorded != answered:
            raise RecordingMismatch(
                f"the answer to the MCP server's question {asked.message!r} (tool {call.name!r}) differs from the "
                f"recording:\n{diff(recorded, answered)}\nRe-record it with: {rerecord}"
            )
