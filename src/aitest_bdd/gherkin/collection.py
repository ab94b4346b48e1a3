"""Collect `.feature` files directly: each scenario (and each Outline row) becomes a pytest test.

A file that cannot be collected becomes one failing test, `test_feature_file`, whose message says what
to fix: a file that is not UTF-8, a file with no Feature (empty, or only comments: most likely a mistake),
a Gherkin error. Two scenarios of one name fail as one test of that name, and so does a Scenario Outline
with no Examples rows (it would run once with its `<placeholders>` as written). The other files and
scenarios run. A UTF-8 byte order mark is accepted; a Feature with no scenarios yet has no tests.
"""

from __future__ import annotations

import re
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from gherkin.dialect import Dialect
from pytest_bdd import exceptions, scenario
from pytest_bdd.feature import get_feature
from pytest_bdd.gherkin_parser import get_gherkin_document
from pytest_bdd.parser import Feature, ScenarioTemplate

from ..results.attach import RESULT_KEY
from ..results.schema import TestResult
from . import locations
from .attempts import tag_mark
from .step_log import relative_path

_NOT_WORD = re.compile(r"\W+")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_ENCODING = "utf-8-sig"
"""UTF-8, with or without a byte order mark."""


def test_name(scenario_name: str, taken: set[str]) -> str:
    """A unique `test_...` name for a scenario."""
    base = "test_" + (_NOT_WORD.sub("_", scenario_name).strip("_").lower() or "scenario")
    name, index = base, 1
    while name in taken:
        index += 1
        name = f"{base}_{index}"
    return name


class UnusableFeatureFile(Exception):
    """A feature file that cannot be collected: what is wrong, and at which line when there is one."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(problem)
        self.line = line

    def message(self, file: str) -> str:
        """The problem, after the file's name (and line)."""
        return f"{file}{'' if self.line is None else f':{self.line}'}: {self}"


class FeatureFile(pytest.Module):
    """A `.feature` file collected as a test module of its scenarios."""

    def _getobj(self) -> types.ModuleType:
        module = types.ModuleType(self.path.stem)
        module.__file__ = str(self.path)
        for name, func in self._scenario_tests().items():
            setattr(module, name, func)
        return module

    def _scenario_tests(self) -> dict[str, Callable[..., object]]:
        file = relative_path(str(self.path), self.config)
        try:
            feature = read_feature(self.path)
        except UnusableFeatureFile as error:
            unusable = _failing_test(error.message(file), self.path.name, self.path, file, error.line)
            return {"test_feature_file": unusable}
        repeated = repeated_scenario_names(self.path)
        tests: dict[str, Callable[..., object]] = {}
        for scenario_name, template in feature.scenarios.items():
            name = test_name(scenario_name, set(tests))
            if scenario_name in repeated:
                lines = repeated[scenario_name]
                message = (
                    f"{file}:{lines[0]}: the scenarios at lines {', '.join(map(str, lines[:-1]))} and {lines[-1]} "
                    f"have the same name, {scenario_name!r}, and only the last would run: give each a name of its "
                    "own (a scenario's name is its test id, its recording and its entry in the reports)"
                )
                tests[name] = _failing_test(message, scenario_name, self.path, file, lines[0], feature.name)
                continue
            if is_outline_without_rows(template, feature.language):
                message = outline_without_rows_message(template, file)
                tests[name] = _failing_test(message, scenario_name, self.path, file, template.line_number, feature.name)
                continue
            for tag in template.tags | feature.tags:
                if tag_mark(tag) is None:  # @repeat(N) and @min-pass-rate(R) become aitest-bdd's own marks
                    self.config.addinivalue_line("markers", f"{tag}: Gherkin tag")
            bind = scenario(self.path.name, scenario_name, encoding=_ENCODING, features_base_dir=str(self.path.parent))
            tests[name] = bind(_no_op)
        return tests


def read_feature(path: Path) -> Feature:
    """The parsed feature file, or UnusableFeatureFile saying what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnusableFeatureFile(f"the feature file cannot be read: {error.strerror}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise UnusableFeatureFile(
            f"is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}): save it as UTF-8",
            data.count(b"\n", 0, error.start) + 1,
        ) from None
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        raise UnusableFeatureFile(
            "has no Feature (the file is empty or holds only comments): "
            "start it with 'Feature: <name>' and its scenarios, or delete it"
        )
    try:
        return get_feature(str(path.parent), path.name, encoding=_ENCODING)
    except exceptions.GherkinParseError as error:
        raise UnusableFeatureFile(
            f"the feature file cannot be parsed: {error.message}\n    {error.line_content.strip()}\n"
            "Fix the Gherkin at that line; the other feature files still run.",
            error.line,
        ) from None


def repeated_scenario_names(path: Path) -> dict[str, list[int]]:
    """The scenario names that the file (with its Rules) uses more than once, with their lines."""
    lines: dict[str, list[int]] = defaultdict(list)
    for child in get_gherkin_document(str(path), _ENCODING).feature.children:
        for scenario_child in child.rule.children if child.rule is not None else [child]:
            if scenario_child.scenario is not None:
                lines[scenario_child.scenario.name].append(scenario_child.scenario.location.line)
    return {name: found for name, found in lines.items() if len(found) > 1}


def is_outline_without_rows(template: ScenarioTemplate, language: str) -> bool:
    """Whether the scenario is a Scenario Outline (in the file's language), or has Examples, without a single row."""
    outline_keywords = Dialect.for_name(language).scenario_outline_keywords  # type: ignore[union-attr]
    is_outline = template.keyword in outline_keywords or bool(template.examples)
    return is_outline and not any(examples.examples for examples in template.examples)


def outline_without_rows_message(template: ScenarioTemplate, file: str) -> str:
    """What to fix in an Outline with no Examples rows, naming the placeholders its steps would send as written."""
    names = dict.fromkeys(name for step in template.steps for name in _PLACEHOLDER.findall(step.name))
    written = f", so its steps would run with {', '.join(f'<{name}>' for name in names)} as written" if names else ""
    columns = " | ".join(names) or "name"
    return (
        f'{file}:{template.line_number}: the Scenario Outline "{template.name}" has no Examples rows{written}: '
        f"add an Examples table below it with a row per run (| {columns} |), or make it a plain Scenario"
    )


def _no_op() -> None:
    """The body of a scenario test: the steps are the test."""


def _failing_test(
    message: str, name: str, path: Path, file: str, line: int | None, feature: str | None = None
) -> Callable[[pytest.FixtureRequest], None]:
    """A test that fails with `message`, with a result of its own so that it is in the JSON and HTML too;
    placed at the feature file's line."""

    def test_feature_file(request: pytest.FixtureRequest) -> None:
        item = request.node
        item.stash[RESULT_KEY] = TestResult(
            nodeid=item.nodeid, kind="scenario", name=name, feature=feature, file=file, line=line
        )
        pytest.fail(message, pytrace=False)

    locations.place_at(test_feature_file, path, line or 1)
    return test_feature_file
