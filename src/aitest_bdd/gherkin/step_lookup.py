"""The run-time step lookup: the definition the collection-time check found, instead of a scan per step.

pytest-bdd finds each step's definition as the step runs, by asking pytest for every registered fixture
name whether it is visible to the test and a step that matches (about 0.2 ms a step). `gherkin.step_check`
makes the same choice once per node, step type and text at collection, so the lookup is wrapped to use
it. pytest-bdd has no hook for the lookup: the wrapper replaces `pytest_bdd.scenario.get_step_function`,
the one function that `_execute_scenario` calls for it, while a run that installed it is configured. It
serves only the runs that installed it, and falls back to pytest-bdd's own lookup for a step the check
found no definition for, so pytest-bdd's error and hooks for an undefined step are unchanged.
"""

from __future__ import annotations

import importlib
from weakref import WeakSet

import pytest
from pytest_bdd.parser import Step
from pytest_bdd.steps import StepFunctionContext

from .step_check import step_definitions

_scenario_module = importlib.import_module("pytest_bdd.scenario")  # the package exports a function of that name
_pytest_bdd_lookup = _scenario_module.get_step_function
_active: WeakSet[pytest.Config] = WeakSet()
"""The runs in this process that installed the lookup (pytester runs one inside another)."""


def get_step_function(request: pytest.FixtureRequest, step: Step) -> StepFunctionContext | None:
    """The definition of `step` for `request`'s test: the collection's choice in runs that installed this."""
    if request.config in _active:
        found = step_definitions(request.config).definition(request.node, step)
        if found is not None:
            return found
    return _pytest_bdd_lookup(request, step)


def install(config: pytest.Config) -> None:
    """Look steps up through the collection's choices in this run (other runs in the process are unaffected)."""
    _active.add(config)
    if _scenario_module.get_step_function is _pytest_bdd_lookup:  # not over another plugin's wrapper
        _scenario_module.get_step_function = get_step_function


def uninstall(config: pytest.Config) -> None:
    """Give pytest-bdd its own lookup back when the last run that installed this one ends."""
    _active.discard(config)
    if not _active and _scenario_module.get_step_function is get_step_function:
        _scenario_module.get_step_function = _pytest_bdd_lookup
