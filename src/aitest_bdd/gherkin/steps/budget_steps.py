"""Steps about time, tokens and cost, for one turn or the whole conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_bdd import parsers, then

from ...conversation.turns import Usage
from . import fail

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

NUMBER = r"(?P<limit>\d+(?:\.\d+)?)"


def _format_cost(usd: float) -> str:
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


@then(parsers.re(rf"the turn takes less than {NUMBER} seconds?"))
def turn_time(aitest_session: AgentSession, limit: str) -> None:
    turn = aitest_session.last_turn
    if turn.duration_ms / 1000 >= float(limit):
        fail(
            f"expected turn {turn.number} to take less than {limit} s, but it took {turn.duration_ms / 1000:.2f} s",
            aitest_session,
        )


@then(parsers.re(rf"the conversation takes less than {NUMBER} seconds?"))
def conversation_time(aitest_session: AgentSession, limit: str) -> None:
    seconds = aitest_session.conversation.duration_ms / 1000
    if seconds >= float(limit):
        fail(f"expected the conversation to take less than {limit} s, but it took {seconds:.2f} s", aitest_session)


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
    turns = aitest_session.turns
    unpriced = sorted({turn.model for turn in turns if turn.cost_usd is None})
    if unpriced or not turns:
        fail(
            f"price unknown for {', '.join(unpriced) or 'this conversation'}: add it to a price file named by the "
            'aitest_pricing ini option, e.g. {"my-model": {"input": 0.5, "output": 1.5}} (USD per million tokens)',
            aitest_session,
        )
    cost = sum(turn.cost_usd or 0.0 for turn in turns)
    if cost >= float(limit):
        fail(
            f"expected the conversation to cost less than ${limit}, but it cost {_format_cost(cost)} "
            f"for {_tokens(aitest_session.conversation.usage)}",
            aitest_session,
        )
