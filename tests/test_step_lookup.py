"""Steps are looked up once per node, step type and text, and still resolve as pytest-bdd resolves them:
the nearest conftest's definition, a user's step over the library's, Outlines, converters, target fixtures."""

from __future__ import annotations

import json
import textwrap

import pytest

SCRIPT = {"rules": [{"user": "hello", "replies": [{"content": "Hello! How can I help?"}]}]}

# The same step texts, defined differently by two directories' conftests; the `ours` directory also has
# its own `the agent calls no tools`, which must win over the library's step of that text there only.
DIRECTORY_STEPS = """
import json
from pathlib import Path

from pytest_bdd import given, parsers, then

LOG = Path(__file__).parent.parent / "steps.log"


def log(*entry):
    with LOG.open("a") as out:
        out.write(json.dumps([{name!r}, *entry]) + "\\n")


{given}
def base(base):
    log("base", base)
    return base


@then(parsers.parse("the total with {{extra}} is {{total}}"))
def total(base, extra, total):
    log("total", base, extra, total)
"""

CONVERTING = '@given(parsers.re(r"a base of (?P<base>\\d+)"), converters={"base": int}, target_fixture="base")'
PARSING = '@given(parsers.parse("a base of {base}"), target_fixture="base")'

OWN_NO_TOOLS = """

@then("the agent calls no tools")
def no_tools():
    log("no tools")
"""

FEATURE = """
Feature: Totals
  Scenario Outline: totals
    Given a base of <base>
    Then the total with <extra> is <total>

    Examples:
      | base | extra | total |
      | 1    | 2     | 3     |
      | 4    | 5     | 9     |

  Scenario: no tools
    Given the agent "plain"
    When the user says "hello"
    Then the agent calls no tools
"""


def entries(project) -> list[list]:
    log = project.pytester.path / "steps.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.script(SCRIPT)
def test_each_directory_runs_its_own_definition_of_the_same_step_text(project) -> None:
    for directory, given, extra in (("ours", PARSING, OWN_NO_TOOLS), ("theirs", CONVERTING, "")):
        folder = project.pytester.mkdir(directory)
        steps = DIRECTORY_STEPS.format(name=directory, given=given) + extra
        (folder / "conftest.py").write_text(textwrap.dedent(steps))
        (folder / "totals.feature").write_text(textwrap.dedent(FEATURE).lstrip())
    project.feature("top", FEATURE.replace("Scenario Outline: totals", "@skip\n  Scenario Outline: totals"))
    result = project.run("-m", "not skip")
    result.assert_outcomes(passed=7, deselected=2)
    assert entries(project) == [
        ["ours", "base", "1"],
        ["ours", "total", "1", "2", "3"],
        ["ours", "base", "4"],
        ["ours", "total", "4", "5", "9"],
        ["ours", "no tools"],
        ["theirs", "base", 1],
        ["theirs", "total", 1, "2", "3"],
        ["theirs", "base", 4],
        ["theirs", "total", 4, "5", "9"],
    ], "each directory's steps ran with their own parser; the library's 'no tools' step ran outside `ours`"


COUNTING_CONFTEST = '''

import json
from pathlib import Path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Count how often pytest is asked which definitions of a fixture name a test sees, while it runs."""
    manager = item.session._fixturemanager
    asked = []

    def getfixturedefs(name, node):
        asked.append(name)
        return type(manager).getfixturedefs(manager, name, node)

    manager.getfixturedefs = getfixturedefs
    try:
        return (yield)
    finally:
        del manager.getfixturedefs
        with (Path(__file__).parent / "asked.log").open("a") as out:
            out.write(json.dumps(len(asked)) + "\\n")
'''

THREE_TURNS = """
Feature: Three turns
  Scenario: turns
    Given the agent "plain"
    When the user says "hello"
    Then the agent calls no tools
    When the user says "hello"
    Then the agent calls no tools
    When the user says "hello"
    Then the response is not empty
"""


@pytest.mark.script(SCRIPT)
def test_a_scenario_s_steps_are_not_looked_up_among_every_fixture(project) -> None:
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + COUNTING_CONFTEST)
    project.feature("turns", THREE_TURNS)
    project.run().assert_outcomes(passed=1)
    asked = [json.loads(line) for line in (project.pytester.path / "asked.log").read_text().splitlines()]
    assert asked and asked[0] < 30, f"pytest was asked about {asked[0]} fixture names for 7 steps"
