"""Steps that ask the LLM judge more than yes or no: rubrics of weighted criteria, scores on a scale, and the
whole conversation. `--aitest-judge-samples K` asks it K times for each verdict; ini `aitest_judge_evidence`
says whether it sees the tool calls and their results."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_bdd import parsers, then

from ...config import ConfigError, Provider
from ...conversation.judge import NO_JUDGE, JudgeError
from ...conversation.judge_questions import JudgeQuestion, JudgeSettings, score_question, verdict_question, vote_count
from ...conversation.rubrics import DEFAULT_THRESHOLD, RubricError, RubricOutcome, criteria, threshold_of
from ...conversation.turns import Judgement
from ...recording.cassette import RecordingMismatch
from ..scopes import Scope
from . import fail

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

SAMPLES = "aitest_judge_samples"


@pytest.fixture
def aitest_judging(request: pytest.FixtureRequest) -> JudgeSettings:
    """How the judge is asked: --aitest-judge-samples / ini aitest_judge_samples, ini aitest_judge_evidence."""
    config = request.config
    option = config.getoption(SAMPLES)
    text = option if option is not None else (config.getini(SAMPLES) or "1")
    given = f"--aitest-judge-samples {option!r}" if option is not None else f"aitest_judge_samples = {text}"
    if not text.strip().isdecimal() or int(text) < 1:
        pytest.fail(f"{given} is not a number of judge answers: write a whole number such as 3", pytrace=False)
    return JudgeSettings(samples=int(text), evidence=config.getini("aitest_judge_evidence"))


def ask(session: AgentSession, provider: Provider | None, question: JudgeQuestion, samples: int) -> Judgement:
    """The judge's verdict on `question`; the step fails when there is no judge or it gives no verdict."""
    if provider is None:
        pytest.fail(NO_JUDGE, pytrace=False)
    try:
        return session.runtime.call(session.ask_judge, provider, question, samples)
    except (JudgeError, ConfigError, RecordingMismatch) as error:
        problem = str(error)
    fail(problem, session)
    raise AssertionError("unreachable")


def said(verdict: Judgement) -> str:
    """What the judge said, with how it voted when asked several times: `no: reasoning [split vote: ...]`."""
    votes = vote_count(verdict)
    answer = f"{verdict.score} of {verdict.scale}" if verdict.scale is not None else ("yes" if verdict.passed else "no")
    return f"the judge ({verdict.model}) said {answer}: {verdict.reasoning}" + (f" [{votes}]" if votes else "")


def _rubric(
    session: AgentSession, provider: Provider | None, settings: JudgeSettings, rows: list[list[str]], threshold: float
) -> None:
    try:
        rubric = criteria(rows)
    except RubricError as error:
        pytest.fail(str(error), pytrace=False)
    verdicts = []
    for criterion in rubric:
        question = verdict_question(criterion.text, session.turns, settings.evidence)
        verdict = ask(session, provider, question, settings.samples)
        verdict.weight, verdict.must = criterion.weight, criterion.must
        verdicts.append(verdict)
    outcome = RubricOutcome(verdicts, threshold)
    if not outcome.passed:
        fail(outcome.problem(), session)


@then("the response satisfies:")
def satisfies_rubric(
    aitest_session: AgentSession,
    aitest_judge: Provider | None,
    aitest_judging: JudgeSettings,
    docstring: str | None = None,
    datatable: list[list[str]] | None = None,
) -> None:
    if datatable is not None:
        _rubric(aitest_session, aitest_judge, aitest_judging, datatable, DEFAULT_THRESHOLD)
        return
    if docstring is None:
        pytest.fail(
            'the step "the response satisfies:" needs a table of criteria below it (| criterion | weight |, the '
            'weight a number or "must") or a docstring',
            pytrace=False,
        )
    question = verdict_question(docstring, aitest_session.turns, aitest_judging.evidence)
    verdict = ask(aitest_session, aitest_judge, question, aitest_judging.samples)
    if not verdict.passed:
        fail(f"expected the response to satisfy the rubric below, but {said(verdict)}\n{docstring}", aitest_session)


@then(parsers.re(r"the response satisfies, with a score of at least (?P<threshold>\d+(?:\.\d+)?):"))
def satisfies_rubric_scoring(
    aitest_session: AgentSession,
    aitest_judge: Provider | None,
    aitest_judging: JudgeSettings,
    threshold: str,
    datatable: list[list[str]] | None = None,
) -> None:
    try:
        needed = threshold_of(threshold)
    except RubricError as error:
        pytest.fail(str(error), pytrace=False)
    _rubric(aitest_session, aitest_judge, aitest_judging, datatable or [], needed)


@then(parsers.re(r'the response scores at least (?P<minimum>\d+) of (?P<scale>\d+) on "(?P<criterion>[^"]+)"'))
def scores(
    aitest_session: AgentSession,
    aitest_judge: Provider | None,
    aitest_judging: JudgeSettings,
    minimum: str,
    scale: str,
    criterion: str,
) -> None:
    if not 2 <= int(scale) <= 100 or not 1 <= int(minimum) <= int(scale):
        pytest.fail(f"a score is from 1 to a scale of 2 to 100: {minimum} of {scale} is not on one", pytrace=False)
    question = score_question(criterion, aitest_session.turns, int(scale), int(minimum), aitest_judging.evidence)
    verdict = ask(aitest_session, aitest_judge, question, aitest_judging.samples)
    if not verdict.passed:
        expected = f'expected the response to score at least {minimum} of {scale} on "{criterion}"'
        fail(f"{expected}, but {said(verdict)}", aitest_session)


@then(parsers.re(r'the conversation satisfies "(?P<criterion>[^"]+)"'))
def conversation_satisfies(
    aitest_session: AgentSession, aitest_judge: Provider | None, aitest_judging: JudgeSettings, criterion: str
) -> None:
    question = verdict_question(criterion, aitest_session.turns, aitest_judging.evidence, subject="conversation")
    verdict = ask(aitest_session, aitest_judge, question, aitest_judging.samples)
    if not verdict.passed:
        scope = Scope(aitest_session.turns, "in the conversation")
        fail(f'expected the conversation to satisfy "{criterion}", but {said(verdict)}', aitest_session, scope)
