"""Steps that match no definition, found when the scenarios are collected.

Each collected scenario's steps are looked up the way pytest-bdd looks them up when they run: among the
step definitions visible to the test (the library, conftest files, step modules in `pytest_plugins`).
A scenario with an undefined step fails before its first step, so no turn is paid for before the typo.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from pytest_bdd.compat import get_fixture_names, getfixturedefs
from pytest_bdd.parser import Feature, Scenario
from pytest_bdd.scenario import iterparentnodeids, scenario_wrapper_template_registry
from pytest_bdd.steps import StepFunctionContext, step_function_context_registry

from .guards import fail_undefined_steps

UNDEFINED_KEY = pytest.StashKey[list[int]]()
"""Found at collection, so kept until the run ends: each attempt and each rerun of the test needs it."""
"""The lines of a scenario's steps that match no definition."""


def scenario_of(item: pytest.Item) -> tuple[Feature, Scenario] | None:
    """The feature and the scenario (its Outline row filled in) that a pytest-bdd test runs, if it is one."""
    if not isinstance(item, pytest.Function):  # a doctest, or another plugin's kind of test
        return None
    template = scenario_wrapper_template_registry.get(item.function)  # type: ignore[arg-type]
    if template is None:
        return None
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec else {}
    return template.feature, template.render(example)


class StepDefinitions:
    """The step definitions visible to each node, looked up once per node that holds tests, and the one each
    step text of a node's tests runs, found once per node, step type and text."""

    def __init__(self) -> None:
        self._visible: dict[str, list[StepFunctionContext]] = {}
        self._chosen: dict[tuple[str, str, str], StepFunctionContext | None] = {}

    def visible_to(self, node: pytest.Item | pytest.Collector | pytest.Session) -> list[StepFunctionContext]:
        """The step definitions `node` sees, the most specific last (the one pytest-bdd would use)."""
        if node.nodeid not in self._visible:
            fixturemanager = node.session._fixturemanager
            found = [
                fixturedef
                for name in get_fixture_names(fixturemanager)
                for fixturedef in getfixturedefs(fixturemanager, name, node) or []
                if fixturedef.func in step_function_context_registry
            ]
            found.sort(key=lambda fixturedef: len(list(iterparentnodeids(fixturedef.baseid))))
            self._visible[node.nodeid] = [step_function_context_registry[fixturedef.func] for fixturedef in found]
        return self._visible[node.nodeid]

    def definition(self, item: pytest.Item, step) -> StepFunctionContext | None:
        """The definition pytest-bdd would run for `step` in `item`, or None."""
        node = item.parent if item.parent is not None else item
        key = (node.nodeid, step.type, step.name)
        if key not in self._chosen:
            matching = [
                context
                for context in self.visible_to(node)
                if context.type in (None, step.type) and context.parser.is_matching(step.name)
            ]
            self._chosen[key] = matching[-1] if matching else None
        return self._chosen[key]


def step_definitions(config: pytest.Config) -> StepDefinitions:
    """The run's lookup of step definitions."""
    return config.stash.setdefault(_DEFINITIONS_KEY, StepDefinitions())


def check_items(config: pytest.Config, items: Iterable[pytest.Item]) -> None:
    """Note, on each scenario test, the steps that match no definition."""
    definitions = step_definitions(config)
    for item in items:
        found = scenario_of(item)
        if found is None:
            continue
        undefined = [step.line_number for step in found[1].steps if definitions.definition(item, step) is None]
        if undefined:
            item.stash[UNDEFINED_KEY] = undefined


_DEFINITIONS_KEY = pytest.StashKey[StepDefinitions]()


def fail_undefined(request: pytest.FixtureRequest, feature, scenario) -> None:
    """Fail the scenario before its first step when the collection found steps that match no definition."""
    lines = request.node.stash.get(UNDEFINED_KEY, None)
    if lines:
        fail_undefined_steps(request, feature, scenario, [step for step in scenario.steps if step.line_number in lines])
