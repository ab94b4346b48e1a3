"""What the judge is asked, and how its answers make one verdict: yes or no, or a score on a scale; about the last
reply or the whole conversation; asked once, or several times for a majority."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .judge import FENCE, INSTRUCTIONS, JudgeError, judge_messages, parse_verdict
from .transcript import cut
from .turns import Judgement, Subject, Turn, Usage, Vote

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

CONVERSATION_INSTRUCTIONS = """You judge conversations between a user and an AI assistant for a test suite.
You get the whole conversation (with the tools the assistant called) and one criterion.
Decide whether the conversation AS A WHOLE, every turn of it, meets the criterion.
Be strict: when in doubt, it does not.
Answer with a JSON object only, no other text: {"pass": true or false, "reasoning": "one or two sentences"}"""

SCORE_INSTRUCTIONS = """You score the replies of an AI assistant for a test suite.
You get a conversation between a user and the assistant (with the tools it called) and one quality.
Score the assistant's LAST reply on that quality, from 1 (not at all) to {scale} (fully). Be strict.
Answer with a JSON object only, no other text:
{{"score": an integer from 1 to {scale}, "reasoning": "one or two sentences"}}"""

SAMPLE_TEMPERATURE = 1.0
"""The judge's temperature when it is asked several times and its provider sets none: asked at 0, it would say
the same every time."""



@dataclass(frozen=True)
class JudgeSettings:
    """How the judge is asked: how many times (the verdict is the majority), and whether it sees the tool calls."""

    samples: int = 1
    evidence: bool = True


@dataclass(frozen=True)
class JudgeQuestion:
    """One question for the judge: the criterion, the messages it is sent, and what kind of answer it gives."""

    criterion: str
    messages: list[dict[str, str]]
    subject: Subject = "response"
    scale: int | None = None
    """For a score: the top of the scale, which starts at 1; None for a yes/no verdict."""
    minimum: int | None = None


def verdict_question(
    criterion: str, turns: list[Turn], evidence: bool = True, subject: Subject = "response"
) -> JudgeQuestion:
    """Whether the last reply (or the whole conversation) meets `criterion`: yes or no."""
    instructions = INSTRUCTIONS if subject == "response" else CONVERSATION_INSTRUCTIONS
    return JudgeQuestion(criterion, judge_messages(criterion, turns, evidence, instructions), subject)


def score_question(criterion: str, turns: list[Turn], scale: int, minimum: int, evidence: bool = True) -> JudgeQuestion:
    """How well the last reply has the quality `criterion`, from 1 to `scale`; it passes at `minimum`."""
    messages = judge_messages(criterion, turns, evidence, SCORE_INSTRUCTIONS.format(scale=scale))
    return JudgeQuestion(criterion, messages, scale=scale, minimum=minimum)


def parse_score(text: str, scale: int, model: str) -> tuple[int, str]:
    """The score and reasoning from the judge's JSON answer; a JudgeError unless the score is an integer on the
    scale."""
    try:
        data = json.loads(FENCE.sub("", text.strip()))
    except json.JSONDecodeError:
        data = None
    score = data.get("score") if isinstance(data, dict) else None
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= scale:
        raise JudgeError(
            f"the judge model {model!r} did not answer with an integer score from 1 to {scale} in JSON like "
            f'{{"score": {scale}, "reasoning": "..."}}; it answered: {cut(text, 500)!r}'
        )
    return score, str(data.get("reasoning", ""))


def vote_from(question: JudgeQuestion, model: str, completion: ChatCompletion, duration_ms: float) -> Vote:
    """The judge's answer in its completion, as one vote."""
    if not completion.choices:
        raise JudgeError(f"the judge model {model!r} returned no choices")
    text = completion.choices[0].message.content or ""
    usage = Usage.reported(completion.usage)
    if question.scale is None:
        passed, reasoning = parse_verdict(text, model)
        return Vote(passed=passed, reasoning=reasoning, usage=usage, duration_ms=duration_ms)
    score, reasoning = parse_score(text, question.scale, model)
    passed = score >= (question.minimum or question.scale)
    return Vote(passed=passed, score=score, reasoning=reasoning, usage=usage, duration_ms=duration_ms)


def judgement_of(question: JudgeQuestion, model: str, votes: list[Vote]) -> Judgement:
    """One verdict from the votes: the majority (a tie says no), or the median score (the lower of the two middle
    ones); its reasoning is that of the first vote that agrees with it. Only several votes are kept."""
    if question.scale is None:
        passed = 2 * sum(vote.passed for vote in votes) > len(votes)
        chosen = next(vote for vote in votes if vote.passed == passed)
    else:
        score = sorted(vote.score or 0 for vote in votes)[(len(votes) - 1) // 2]
        chosen = next(vote for vote in votes if vote.score == score)
        passed = chosen.passed
    usage = Usage()
    for vote in votes:
        usage = usage + vote.usage
    costs = [vote.cost_usd for vote in votes]
    return Judgement(
        criterion=question.criterion,
        passed=passed,
        reasoning=chosen.reasoning,
        model=model,
        usage=usage,
        cost_usd=None if None in costs else sum(cost or 0.0 for cost in costs),
        duration_ms=sum(vote.duration_ms for vote in votes),
        subject=question.subject,
        score=chosen.score,
        scale=question.scale,
        minimum=question.minimum,
        votes=votes if len(votes) > 1 else [],
    )


def vote_count(judgement: Judgement) -> str:
    """How the judge voted, when asked several times: "split vote: 2 of 3 votes said yes", "3 of 3 votes said no",
    "split vote: scores 2, 4, 5"; empty when it was asked once."""
    votes = judgement.votes
    if not votes:
        return ""
    split = "split vote: " if judgement.split else ""
    if judgement.scale is not None:
        return f"{split}scores {', '.join(str(vote.score) for vote in votes)}"
    said = "yes" if judgement.passed else "no"
    return f"{split}{sum(vote.passed == judgement.passed for vote in votes)} of {len(votes)} votes said {said}"
