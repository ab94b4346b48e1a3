"""Before a run with repeated attempts: how many attempts it plans, how many will call a model, what they may cost.

An attempt's cost is estimated from its recording (or the first attempt's), priced for the model that will
answer it now; one with no recording to go by is counted apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ..conversation.pricing import PriceTable, format_usd
from ..conversation.sampling_cost import sampling_tokens
from ..conversation.turns import Usage
from ..recording.cassette import RecordMode
from ..recording.files import UnusableRecording, read_recording
from ..run.context import run_context
from ..run.test_state import recording_name
from ..tools.answers import ToolAnswer
from ..tools.call_events import Sampling
from .attempts import PlanError, plan_of


def estimate_lines(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The line the terminal shows after collection when scenarios are repeated; none otherwise (nor when
    the run only collects or checks)."""
    if config.option.collectonly or config.option.aitest_dry_run:
        return []
    planned = []
    for item in items:
        try:
            plan = plan_of(item)
        except PlanError:
            continue  # the scenario fails with the reason when it runs
        if plan is not None:
            planned.append((item, plan))
    if not planned:
        return []
    context = run_context(config)
    live = unknown = 0
    cost = 0.0
    for item, plan in planned:
        paths = [
            context.recording.path_for(item.path, recording_name(item, n), item.nodeid)
            for n in range(1, plan.limit + 1)
        ]
        live_paths = [path for path in paths if _runs_live(context.recording.mode, path)]
        first_cost = _recorded_cost(paths[0], context.prices, context.model_override) if live_paths else None
        for path in live_paths:
            live += 1
            recorded = first_cost if path == paths[0] else _recorded_cost(path, context.prices, context.model_override)
            if recorded is None:
                recorded = first_cost
            if recorded is None:
                unknown += 1
            else:
                cost += recorded
    attempts = sum(plan.limit for _, plan in planned)
    scenarios = f"{len(planned)} scenario" + ("s" if len(planned) != 1 else "")
    text = f"repeats: {scenarios}, up to {attempts} attempts, {live} of them live"
    if live > unknown:
        text += f"; estimated cost {format_usd(cost)} for {live - unknown} live attempts, from recordings"
    if unknown:
        text += f"; {unknown} live attempts cannot be estimated (no recording, or a model without a price)"
    if context.spending.limit_usd is not None:
        text += f"; no attempt starts once the run has spent {format_usd(context.spending.limit_usd)}"
    return [text]


def _runs_live(mode: RecordMode, recording: Path) -> bool:
    if mode in (RecordMode.LIVE, RecordMode.ALL):
        return True
    return mode is not RecordMode.NONE and not recording.exists()


def _recorded_cost(path: Path, prices: PriceTable, model: str | None) -> float | None:
    """What the model and judge calls in a recording cost, and the sampling requests answered during its tool calls,
    priced for `model` (the judge's as recorded, a sampling request's on the model that answered it, or on `model`
    when that was the agent's)."""
    if not path.exists():
        return None
    try:
        recording = read_recording(path)
    except UnusableRecording:
        return None
    total = 0.0
    for session in recording.sessions.values():
        for interaction in session.interactions:
            if interaction.kind in ("model", "judge"):
                usage = Usage.model_validate(interaction.response.get("usage") or {})
                answering = (model if interaction.kind == "model" else None) or interaction.request.get("model")
                priced = [(str(answering or session.model), usage)]
            elif interaction.kind == "tool":
                priced = [_sampled(sampling, session.model, model) for sampling in _samplings(interaction.response)]
            else:
                continue
            for answering_model, usage in priced:
                cost = prices.cost(answering_model, usage)
                if cost is None:
                    return None
                total += cost
    return total


def _samplings(response: dict[str, Any]) -> list[Sampling]:
    """The sampling requests a recorded tool answer holds; none when it cannot be read (replay says why)."""
    try:
        return ToolAnswer.model_validate(response).samplings
    except ValidationError:
        return []


def _sampled(sampling: Sampling, agent_model: str, model: str | None) -> tuple[str, Usage]:
    return (model if model and sampling.model == agent_model else sampling.model), sampling_tokens(sampling)
