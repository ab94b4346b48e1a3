"""Steps about the agent's reply: text, patterns, and an LLM judge's verdict.

Text comparisons ignore case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import regex
from pytest_bdd import parsers, then

from ...config import Provider
from ...conversation.judge import CLARIFICATION, judge_provider
from ...conversation.judge_questions import JudgeSettings, verdict_question
from ...conversation.turns import Judgement
from ..matching import PatternError, search
from . import fail, listed
from .judge_steps import ask, said

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

TEXT = r'"(?P<text>[^"]*)"'


def _response(session: AgentSession) -> str:
    return session.last_turn.final_response


def _contains(response: str, text: str) -> bool:
    return text.casefold() in response.casefold()


@then(parsers.re(rf"the response contains {TEXT}"))
def contains(aitest_session: AgentSession, text: str) -> None:
    turn = aitest_session.last_turn
    if not _contains(turn.final_response, text):
        fail(f'expected the response of turn {turn.number} to contain "{text}" (ignoring case)', aitest_session)


@then(parsers.re(rf"the response does not contain {TEXT}"))
def does_not_contain(aitest_session: AgentSession, text: str) -> None:
    turn = aitest_session.last_turn
    if _contains(turn.final_response, text):
        fail(f'expected the response of turn {turn.number} not to contain "{text}" (ignoring case)', aitest_session)


@then(parsers.re(r'the response matches "(?P<pattern>.*)"'))
def matches(aitest_session: AgentSession, pattern: str) -> None:
    turn = aitest_session.last_turn
    try:
        found = search(pattern, turn.final_response, regex.IGNORECASE | regex.DOTALL)
    except PatternError as error:
        pytest.fail(str(error), pytrace=False)
    if not found:
        fail(f'expected the response of turn {turn.number} to match "{pattern}" (ignoring case)', aitest_session)


@then("the response contains all of:")
def contains_all(aitest_session: AgentSession, datatable: list[list[str]]) -> None:
    missing = [text for text in listed(datatable, "texts") if not _contains(_response(aitest_session), text)]
    if missing:
        fail(f"expected the response to contain all of the texts; missing: {', '.join(missing)}", aitest_session)


@then("the response contains none of:")
def contains_none(aitest_session: AgentSession, datatable: list[list[str]]) -> None:
    found = [text for text in listed(datatable, "texts") if _contains(_response(aitest_session), text)]
    if found:
        fail(f"expected the response to contain none of the texts; found: {', '.join(found)}", aitest_session)


@then("the response is not empty")
def not_empty(aitest_session: AgentSession) -> None:
    turn = aitest_session.last_turn
    if not turn.final_response.strip():
        fail(f"expected a response in turn {turn.number}, but it was empty", aitest_session)


@pytest.fixture
def aitest_judge(request: pytest.FixtureRequest) -> Provider | None:
    """The judge's provider: from --aitest-judge-model / ini aitest_judge_model. Override it in conftest.py."""
    config = request.config
    return judge_provider(config.getoption("aitest_judge_model") or config.getini("aitest_judge_model") or None)


def _judge(session: AgentSession, provider: Provider | None, criterion: str, settings: JudgeSettings) -> Judgement:
    return ask(session, provider, verdict_question(criterion, session.turns, settings.evidence), settings.samples)


def _expect(session: AgentSession, verdict: Judgement, wanted: bool, claim: str) -> None:
    """Fail unless the judge said `wanted`; the first line holds the claim and the verdict."""
    if verdict.passed != wanted:
        fail(f"{claim}, but {said(verdict)}", session)


@then(parsers.re(r'the response satisfies "(?P<criterion>[^"]+)"'))
def satisfies(
    aitest_session: AgentSession, aitest_judge: Provider | None, aitest_judging: JudgeSettings, criterion: str
) -> None:
    verdict = _judge(aitest_session, aitest_judge, criterion, aitest_judging)
    _expect(aitest_session, verdict, True, f'expected the response to satisfy "{criterion}"')


@then("the agent asks for clarification")
def asks_for_clarification(
    aitest_session: AgentSession, aitest_judge: Provider | None, aitest_judging: JudgeSettings
) -> None:
    verdict = _judge(aitest_session, aitest_judge, CLARIFICATION, aitest_judging)
    _expect(aitest_session, verdict, True, "expected the agent to ask for clarification")


@then("the agent does not ask for clarification")
def does_not_ask_for_clarification(
    aitest_session: AgentSession, aitest_judge: Provider | None, aitest_judging: JudgeSettings
) -> None:
    verdict = _judge(aitest_session, aitest_judge, CLARIFICATION, aitest_judging)
    _expect(aitest_session, verdict, False, "expected the agent to answer without asking for clarification")
