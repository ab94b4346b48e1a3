"""Collect `.feature` files directly: each scenario (and each Outline row) becomes a pytest test."""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_bdd import exceptions, scenario
from pytest_bdd.feature import get_feature

_NOT_WORD = re.compile(r"\W+")


def test_name(scenario_name: str, taken: set[str]) -> str:
    """A unique `test_...` name for a scenario."""
    base = "test_" + (_NOT_WORD.sub("_", scenario_name).strip("_").lower() or "scenario")
    name, index = base, 1
    while name in taken:
        index += 1
        name = f"{base}_{index}"
    return name


class FeatureFile(pytest.Module):
    """A `.feature` file collected as a test module of its scenarios."""

    def _getobj(self) -> types.ModuleType:
        module = types.ModuleType(self.path.stem)
        module.__file__ = str(self.path)
        for name, func in self._scenario_tests().items():
            setattr(module, name, func)
        return module

    def _scenario_tests(self) -> dict[str, Callable[..., object]]:
        try:
            feature = get_feature(str(self.path.parent), self.path.name)
        except exceptions.GherkinParseError as error:
            return {"test_feature_file": _broken_feature(self.path, error)}
        tests: dict[str, Callable[..., object]] = {}
        for scenario_name, template in feature.scenarios.items():
            for tag in template.tags | feature.tags:
                self.config.addinivalue_line("markers", f"{tag}: Gherkin tag")
            bound = scenario(self.path.name, scenario_name, features_base_dir=str(self.path.parent))(_no_op)
            tests[test_name(scenario_name, set(tests))] = bound
        return tests


def _no_op() -> None:
    """The body of a scenario test: the steps are the test."""


def _broken_feature(path: Path, error: exceptions.GherkinParseError) -> Callable[[], None]:
    message = (
        f"{path}:{error.line}: the feature file cannot be parsed: {error.message}\n"
        f"    {error.line_content.strip()}\n"
        "Fix the Gherkin at that line; the other feature files still run."
    )

    def test_feature_file() -> None:
        pytest.fail(message, pytrace=False)

    return test_feature_file
