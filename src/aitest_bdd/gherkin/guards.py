"""What pytest-bdd lets through and we fail clearly: `async def` steps, unknown placeholders, undefined steps."""

from __future__ import annotations

import inspect
import re

import pytest

from .step_log import finish_step, relative_path
from .suggestions import closest_steps

_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")


def refuse_async_step(feature, step, step_func) -> None:
    """Fail an `async def` step: pytest-bdd would not await it, and it would pass unrun."""
    if inspect.iscoroutinefunction(step_func) or inspect.isasyncgenfunction(step_func):
        where = f"{inspect.getsourcefile(step_func)}:{inspect.getsourcelines(step_func)[1]}"
        pytest.fail(
            f'step "{step.keyword} {step.name}" ({feature.filename}:{step.line_number}) is bound to '
            f"async def {step_func.__name__} at {where}: pytest-bdd does not await steps, so it would pass "
            "without running. Make it a plain def.",
            pytrace=False,
        )


def check_placeholders(request: pytest.FixtureRequest, feature, scenario) -> None:
    """Fail an Outline row whose steps use a <placeholder> that its Examples table has no column for.

    Only the Outline's own step text counts: an Examples value may hold `<...>` (`List<int>`) of its own.
    """
    callspec = getattr(request.node, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example") if callspec else None
    if example is None:
        return
    outline = next((found for found in feature.scenarios.values() if found.line_number == scenario.line_number), None)
    for step in outline.steps if outline is not None else scenario.steps:
        missing = [name for name in _PLACEHOLDER.findall(step.name) if name not in example]
        if missing:
            where = f"{relative_path(feature.filename, request.config)}:{step.line_number}"
            pytest.fail(
                f'step "{step.keyword} {step.name}" ({where}) uses <{missing[0]}>, but the Examples table has no '
                f"{missing[0]!r} column (its columns: {', '.join(example) or 'none'}). Add the column or fix the name.",
                pytrace=False,
            )


def fail_undefined_step(request: pytest.FixtureRequest, feature, scenario, step) -> None:
    """Fail a step that has no definition, naming where it is and the closest steps that exist."""
    fail_undefined_steps(request, feature, scenario, [step])


def fail_undefined_steps(request: pytest.FixtureRequest, feature, scenario, steps: list) -> None:
    """Fail the scenario on its steps that have no definition, each with where it is and the closest steps."""
    messages = []
    for step in steps:
        message = undefined_step_message(request.config, feature, scenario, step)
        finish_step(request, step, "undefined", message)
        messages.append(message)
    pytest.fail("\n\n".join(messages), pytrace=False)


def undefined_step_message(config: pytest.Config, feature, scenario, step) -> str:
    """What to do about a step that has no definition: where it is, and the closest steps that exist."""
    suggestions = closest_steps(step.type, step.name)
    hint = "".join(f"\n    {step.keyword} {text}" for text in suggestions)
    where = f"{relative_path(feature.filename, config)}:{step.line_number}"
    return (
        f'no step matches "{step.keyword} {step.name}" ({where}, scenario "{scenario.name}")'
        + (f"\nclosest steps:{hint}" if hint else "")
        + "\nSee the step reference (steps.md in the aitest-bdd docs), or define the step in a step module."
    )
