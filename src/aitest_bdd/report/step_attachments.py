"""What each Gherkin step of a scenario adds to the Cucumber outputs: the turns it ran (transcript, tool calls,
tokens and cost) and the judge's verdicts it asked for.

A step ran the turns from its own `turns_before` up to the next step's that ran, as the HTML report draws
them. A verdict belongs to the step that names its criterion (in its text, docstring or table) after the turn;
one that no such step names (a simulated user's goal, say) stays with the step that ran the turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..conversation.pricing import format_usd
from ..conversation.transcript import format_turns
from ..conversation.turns import Judgement, Turn
from ..results.schema import StepResult, TestResult

RAN = frozenset({"passed", "failed"})


@dataclass(frozen=True)
class StepAttachment:
    """One file attached to a step: its name, media type and text."""

    name: str
    media_type: str
    text: str


@dataclass(frozen=True)
class StepRun:
    """One run of a scenario's steps (the scenario, or one attempt of a repeated scenario) with its turns."""

    attempt: int
    """0 for the first run, as Cucumber counts attempts."""
    steps: list[StepResult]
    turns: list[Turn]


def step_runs(test: TestResult) -> list[StepRun]:
    """The scenario's run, or each attempt's when it was repeated."""
    if not test.attempts:
        return [StepRun(0, test.steps, [turn for conversation in test.conversations for turn in conversation.turns])]
    return [
        StepRun(
            attempt.number - 1,
            attempt.steps,
            [turn for c in test.conversations if c.attempt == attempt.number for turn in c.turns],
        )
        for attempt in test.attempts
    ]


def step_attachments(run: StepRun) -> list[list[StepAttachment]]:
    """The attachments of each step of `run`, by the step's place in `run.steps`."""
    attachments: list[list[StepAttachment]] = [[] for _ in run.steps]
    ran = [index for index, step in enumerate(run.steps) if step.status in RAN]
    turns_of: dict[int, list[Turn]] = {}
    for place, index in enumerate(ran):
        later = ran[place + 1] if place + 1 < len(ran) else None
        end = len(run.turns) if later is None else min(run.steps[later].turns_before, len(run.turns))
        turns_of[index] = run.turns[run.steps[index].turns_before : end]
    judged_by = _judging_steps(run, ran, turns_of)
    for index in ran:
        attachments[index] += _turn_attachments(turns_of[index])
        verdicts = judged_by.get(index, [])
        if verdicts:
            attachments[index].append(StepAttachment("judge.txt", "text/plain", _verdicts_text(verdicts)))
    return attachments


def _judging_steps(run: StepRun, ran: list[int], turns_of: dict[int, list[Turn]]) -> dict[int, list[Judgement]]:
    """Each verdict, by the step that asked for it."""
    maker = {id(turn): index for index, turns in turns_of.items() for turn in turns}
    judged_by: dict[int, list[Judgement]] = {}
    for count, turn in enumerate(run.turns, 1):
        for verdict in turn.judgements:
            asking = next(
                (
                    index
                    for index in ran
                    if not turns_of[index]
                    and run.steps[index].turns_before == count
                    and verdict.criterion.strip() in _step_words(run.steps[index])
                ),
                maker.get(id(turn)),
            )
            if asking is not None:
                judged_by.setdefault(asking, []).append(verdict)
    return judged_by


def _step_words(step: StepResult) -> str:
    cells = [cell for row in step.datatable or [] for cell in row]
    return "\n".join([step.text, step.docstring or "", *cells])


def _turn_attachments(turns: list[Turn]) -> list[StepAttachment]:
    if not turns:
        return []
    attachments = [StepAttachment("transcript.txt", "text/plain", format_turns(turns))]
    calls = [
        {"turn": turn.number, **call.model_dump(mode="json", exclude_defaults=True)}
        for turn in turns
        for call in turn.tool_calls
    ]
    if calls:
        attachments.append(StepAttachment("tool-calls.json", "application/json", _json(calls)))
    usage = [
        {"turn": turn.number, "model": turn.model, **turn.usage.model_dump(), "cost_usd": turn.cost_usd}
        for turn in turns
    ]
    attachments.append(StepAttachment("usage.json", "application/json", _json(usage)))
    return attachments


def _verdicts_text(verdicts: list[Judgement]) -> str:
    parts = []
    for verdict in verdicts:
        answer = (
            f"{verdict.score} of {verdict.scale}" if verdict.scale is not None else "yes" if verdict.passed else "no"
        )
        cost = format_usd(verdict.cost_usd) if verdict.cost_usd is not None else "not priced"
        parts.append(
            f"criterion: {verdict.criterion}\n"
            f"the judge ({verdict.model}) said {answer}: {verdict.reasoning}\n"
            f"{verdict.usage.total_tokens:,} tokens, {verdict.calls} call(s), cost {cost}"
        )
    return "\n\n".join(parts)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)
