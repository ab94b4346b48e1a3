"""Where a scenario's test is: its `.feature` file and the scenario's line, not pytest-bdd's wrapper function.

pytest takes a test function's place (`item.reportinfo()`, `item.location`, JUnit's `file` and `line`, the
lines it prints) from the function's code, or from the object in its `place_as` attribute. pytest-bdd's
scenario functions all share one code object in `pytest_bdd/scenario.py`; each is given a stand-in whose
code names the feature file and the scenario's line. The test ids do not change.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from pytest_bdd.parser import ScenarioTemplate
from pytest_bdd.scenario import scenario_wrapper_template_registry


def template_of(obj: object) -> ScenarioTemplate | None:
    """The scenario that `obj` runs, when it is a test function made by pytest-bdd."""
    try:
        return scenario_wrapper_template_registry.get(obj)  # type: ignore[call-overload]
    except TypeError:  # not a weak-referenceable, hashable object: not a scenario function
        return None


def scenario_location(item: pytest.Item) -> tuple[str, int] | None:
    """The `.feature` file (relative to the root directory, as pytest shows it) and line of a scenario's test."""
    if template_of(getattr(item, "obj", None)) is None:
        return None
    path, line, _ = item.location
    return path, (line or 0) + 1


def place_at_scenario(obj: object) -> None:
    """Have pytest place the test of a pytest-bdd scenario function at its `.feature` file and line."""
    scenario = template_of(obj)
    if scenario is not None:
        place_at(obj, Path(scenario.feature.filename), scenario.line_number)


def place_at(function: object, path: Path, line: int) -> None:
    """Have pytest place the test of `function` at `path`, `line` (1-based)."""
    code = _stand_in.__code__.replace(co_filename=str(path), co_firstlineno=line)
    function.place_as = types.FunctionType(code, {})  # type: ignore[attr-defined]


def _stand_in() -> None:
    """The code that a stand-in copies, under the feature file's name and the scenario's line."""
