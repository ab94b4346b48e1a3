"""The step log: each scenario's Gherkin steps as they run (status, message, time, place in the conversation).

It fills the scenario's `TestResult`, which `results.attach` finishes when pytest reports the test.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ..results.attach import RESULT_KEY
from ..results.schema import StepResult, TestResult
from ..run.test_state import released, turns_so_far

STEP_STARTED_KEY = released(pytest.StashKey[float]())


def relative_path(path: str, config: pytest.Config) -> str:
    """`path` relative to the root directory, when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(config.rootpath))
    except ValueError:
        return path


def start_scenario(request: pytest.FixtureRequest, feature, scenario) -> None:
    """Start the scenario's result with every step not yet run."""
    item = request.node
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec else {}
    item.stash[RESULT_KEY] = TestResult(
        nodeid=item.nodeid,
        kind="scenario",
        name=scenario.name,
        feature=feature.name,
        feature_description=feature.description or None,
        file=relative_path(feature.filename, request.config),
        line=scenario.line_number,
        tags=sorted(scenario.tags | feature.tags),
        example={str(key): str(value) for key, value in example.items()},
        steps=[
            StepResult(
                keyword=step.keyword.strip(),
                text=step.name,
                line=step.line_number,
                docstring=step.docstring,
                datatable=step.datatable.raw() if step.datatable is not None else None,
            )
            for step in scenario.steps
        ],
    )


def start_step(request: pytest.FixtureRequest, step) -> None:
    """Note when the step starts and how many turns came before it."""
    item = request.node
    item.stash[STEP_STARTED_KEY] = time.perf_counter()
    logged = _logged_step(item, step)
    if logged is not None:
        logged.turns_before = turns_so_far(item)


def finish_step(request: pytest.FixtureRequest, step, status: str, message: str | None = None) -> None:
    """Set the step's status, message and duration."""
    item = request.node
    logged = _logged_step(item, step)
    if logged is None:
        return
    logged.status = status  # type: ignore[assignment]
    logged.message = message
    started = item.stash.get(STEP_STARTED_KEY, None)
    if started is not None:
        logged.duration_ms = (time.perf_counter() - started) * 1000


def failure_text(exception: BaseException) -> str:
    """What a failed step says: pytest.fail's message, or the exception's type and text."""
    message = getattr(exception, "msg", None)
    if isinstance(message, str):
        return message
    text = str(exception)
    return f"{type(exception).__name__}: {text}" if text else type(exception).__name__


def _logged_step(item: pytest.Item, step) -> StepResult | None:
    result = item.stash.get(RESULT_KEY, None)
    if result is None:
        return None
    return next((s for s in result.steps if s.line == step.line_number and s.text == step.name), None)
