"""Steps about time, tokens and cost, for one turn or the whole conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_bdd import parsers, then

from ...conversation.pricing import format_usd
from ...conversation.sampling_cost import unpriced_samplers
from ...conversation.turns import Turn, Usage
from . import fail

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

NUMBER = r"(?P<limit>\d+(?:\.\d+)?)"


def _live_seconds(session: AgentSession, turns: list[Turn]) -> tuple[float, str]:
    """How long `turns` took live, and how that was measured; a replayed turn counts its recorded time."""
    replayed = [turn for turn in turns if turn.source == "replayed"]
    unknown = [turn.number for turn in replayed if turn.recorded_duration_ms is None]
    if unknown:
        fail(
            f"a time budget on a replayed conversation judges how long it took when recorded, and the recording "
            f"keeps no duration for turn(s) {', '.join(map(str, unknown))} (it was made by an older aitest-bdd): "
            "record it anew with --aitest-record=all, or run it live with --aitest-record=live",
            session,
        )
    seconds = sum(turn.live_duration_ms or 0.0 for turn in turns) / 1000
    if not replayed:
        return seconds, ""
    replay = sum(turn.duration_ms for turn in replayed) / 1000
    return seconds, f" when recorded live (replayed now in {replay:.2f} s; time budgets judge the recorded time)"


@then(parsers.re(rf"the turn takes less than {NUMBER} seconds?"))
def turn_time(aitest_session: AgentSession, limit: str) -> None:
    turn = aitest_session.last_turn
    seconds, how = _live_seconds(aitest_session, [turn])
    if seconds >= float(limit):
        fail(
            f"expected turn {turn.number} to take less than {limit} s, but it took {seconds:.2f} s{how}",
            aitest_session,
        )


@then(parsers.re(rf"the conversation takes less than {NUMBER} seconds?"))
def conversation_time(aitest_session: AgentSession, limit: str) -> None:
    seconds, how = _live_seconds(aitest_session, aitest_session.turns)
    if seconds >= float(limit):
        fail(
            f"expected the conversation to take less than {limit} s, but it took {seconds:.2f} s{how}",
            aitest_session,
        )


@then(parsers.re(rf"the first reply token arrives within {NUMBER} seconds?"))
def first_token_time(aitest_session: AgentSession, limit: str) -> None:
    """In each model call of the last turn, the first token of the reply came within `limit` seconds (streamed)."""
    turn = aitest_session.last_turn
    unmeasured = [str(number) for number, call in enumerate(turn.model_calls, 1) if call.first_token_ms is None]
    if not turn.model_calls or unmeasured:
        fail(
            f"the time to the first token is measured on streamed model calls, and model call(s) "
            f"{', '.join(unmeasured) or 'none'} of turn {turn.number} had none (not streamed, or no reply token): "
            f"set Provider(stream=True) on agent {aitest_session.agent.name!r}",
            aitest_session,
        )
    number, slowest = max(enumerate(turn.model_calls, 1), key=lambda pair: pair[1].first_token_ms or 0.0)
    seconds = (slowest.first_token_ms or 0.0) / 1000
    if seconds > float(limit):
        how = " when recorded live (time budgets judge the recorded time)" if turn.source == "replayed" else ""
        fail(
            f"expected the first reply token within {limit} s in each model call of turn {turn.number}, but model "
            f"call {number} waited {seconds:.2f} s for it{how}",
            aitest_session,
        )


def _tokens(usage: Usage) -> str:
    return f"{usage.total_tokens:,} tokens ({usage.prompt_tokens:,} in, {usage.completion_tokens:,} out)"


@then(parsers.re(r"the turn uses fewer than (?P<limit>\d+) tokens"))
def turn_tokens(aitest_session: AgentSession, limit: str) -> None:
    turn = aitest_session.last_turn
    if turn.usage.total_tokens >= int(limit):
        fail(
            f"expected turn {turn.number} to use fewer than {limit} tokens, but it used {_tokens(turn.usage)}",
            aitest_session,
        )


@then(parsers.re(r"the conversation uses fewer than (?P<limit>\d+) tokens"))
def conversation_tokens(aitest_session: AgentSession, limit: str) -> None:
    usage = aitest_session.conversation.usage
    if usage.total_tokens >= int(limit):
        fail(
            f"expected the conversation to use fewer than {limit} tokens, but it used {_tokens(usage)}", aitest_session
        )


@then(parsers.re(rf"the conversation costs less than \${NUMBER}"))
def conversation_cost(aitest_session: AgentSession, limit: str) -> None:
    conversation = aitest_session.conversation
    judgements = conversation.judgements
    unpriced = {turn.model for turn in conversation.turns if turn.cost_usd is None}
    unpriced |= {f"{verdict.model} (the judge)" for verdict in judgements if verdict.cost_usd is None}
    unpriced |= {f"{model} (sampling for an MCP server)" for model in unpriced_samplers(conversation.turns)}
    if unpriced or not conversation.turns:
        fail(
            f"price unknown for {', '.join(sorted(unpriced)) or 'this conversation'}: add it to a price file "
            'named by the aitest_pricing ini option, e.g. {"my-model": {"input": 0.5, "output": 1.5}} '
            "(USD per million tokens)",
            aitest_session,
        )
    agent = sum(turn.cost_usd or 0.0 for turn in conversation.turns)
    judge = sum(verdict.cost_usd or 0.0 for verdict in judgements)
    if agent + judge >= float(limit):
        judged = f", judge {format_usd(judge)} for {_tokens(conversation.judge_usage)}" if judgements else ""
        fail(
            f"expected the conversation to cost less than ${limit}, but it cost {format_usd(agent + judge)} "
            f"(agent {format_usd(agent)} for {_tokens(conversation.usage)}{judged})",
            aitest_session,
        )
