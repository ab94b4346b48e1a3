"""Mistakes in a feature file found before any model is called: Outlines with no Examples rows, steps that
match no definition; `--aitest-dry-run` and `--aitest-steps`."""

from __future__ import annotations

import json
import re

import pytest

SCRIPT = {"rules": [{"user": "hello", "replies": [{"content": "Hello! How can I help?"}]}]}


def results(project, *args: str) -> dict[str, dict]:
    project.run("--aitest-json", "results.json", *args)
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


@pytest.mark.script(SCRIPT)
def test_an_outline_without_examples_rows_fails_naming_its_file_and_line(project) -> None:
    project.feature(
        "outlines",
        """
        Feature: Outlines
          Scenario Outline: no examples
            Given the agent "plain" using model "<model>"
            When the user says "hello"

          Scenario Outline: empty examples
            Given the agent "plain" using model "<model>"
            When the user says "hello"

            Examples:
              | model |

          Scenario: plain
            Given the agent "plain"
            When the user says "hello"
        """,
    )
    tests = results(project)
    for name, line in (("no examples", 2), ("empty examples", 6)):
        assert tests[name]["status"] == "failed", tests[name]
        assert tests[name]["message"].startswith(
            f'outlines.feature:{line}: the Scenario Outline "{name}" has no Examples rows, so its steps would run '
            "with <model> as written: add an Examples table"
        ), tests[name]["message"]
        assert (tests[name]["file"], tests[name]["line"]) == ("outlines.feature", line)
    assert tests["plain"]["status"] == "passed"
    assert [request["model"] for request in project.server.requests] == ["scripted-default"]


STEP_MODULE = '''
from pytest_bdd import parsers, then


@then(parsers.re(r'the reply greets the user'))
def greets(aitest_session):
    """The reply says hello."""
    assert "hello" in aitest_session.last_turn.final_response.lower()
'''

TYPOS = """
Feature: Typos
  Scenario: typo in the last step
    Given the agent "plain"
    When the user says "hello"
    Then the reply greets the user
    And the agent cals no tools

  Scenario: two typos
    Given the agent "plain"
    When the user sayz "hello"
    Then the respons is not empty

  Scenario: own step
    Given the agent "plain"
    When the user says "hello"
    Then the reply greets the user
"""


def with_step_module(project) -> None:
    """The project loads a step module of its own through `pytest_plugins`."""
    project.pytester.makepyfile(my_steps=STEP_MODULE)
    conftest = project.pytester.path / "conftest.py"
    project.pytester.makeconftest(conftest.read_text() + '\npytest_plugins = ["my_steps"]\n')


@pytest.mark.script(SCRIPT)
def test_a_step_that_matches_nothing_fails_its_scenario_before_any_model_call(project) -> None:
    with_step_module(project)
    project.feature("typos", TYPOS)
    tests = results(project)
    assert tests["typo in the last step"]["status"] == "failed"
    message = tests["typo in the last step"]["message"]
    assert message.startswith(
        'no step matches "And the agent cals no tools" (typos.feature:6, scenario "typo in the last step")\n'
        "closest steps:\n    And the agent calls no tools\n"
    )
    assert message.endswith(
        "See the step reference (steps.md in the aitest-bdd docs), or define the step in a step module."
    )
    steps = tests["typo in the last step"]["steps"]
    assert [step["status"] for step in steps] == ["skipped", "skipped", "skipped", "undefined"]
    steps = tests["two typos"]["steps"]
    assert [step["status"] for step in steps] == ["skipped", "undefined", "undefined"]
    assert steps[1]["message"].startswith('no step matches "When the user sayz "hello"" (typos.feature:10, scenario')
    assert steps[2]["message"].startswith('no step matches "Then the respons is not empty" (typos.feature:11, scenario')
    assert tests["own step"]["status"] == "passed", tests["own step"]["message"]
    assert len(project.server.requests) == 1, "only the scenario whose steps all exist talks to the model"


DRY_RUN = """
Feature: Dry run
  Scenario: all good
    Given the agent "banking"
    When the user says "hello"
    Then the reply greets the user

  Scenario: unknown agent
    Given the agent "bankin" using model "gpt-4.1-mini"
    When the user says "hello"

  Scenario: typo
    Given the agent "banking"
    When the user says "hello"
    Then the agent cals no tools
"""


@pytest.mark.script(SCRIPT)
def test_dry_run_checks_steps_and_agents_and_starts_nothing(project) -> None:
    with_step_module(project)
    project.feature("dry", DRY_RUN)
    project.pytester.makepyfile(test_plain_python="def test_python():\n    raise AssertionError('ran')\n")
    project.feature("broken", "# a feature file with no Feature\n")
    run = project.run("--aitest-dry-run", "--aitest-json", "results.json", "--aitest-md", "summary.md", "-rA")
    run.assert_outcomes(passed=1, failed=3, skipped=1)
    run.stdout.fnmatch_lines_random(
        [
            "FAILED dry.feature::test_unknown_agent - Failed: no agent named*",
            "FAILED dry.feature::test_typo - Failed: no step matches*",
            "FAILED broken.feature::test_feature_file*",
            "no agent named 'bankin'; the aitest_agents fixture defines*",
            'no step matches "Then the agent cals no tools" (dry.feature:14*',
            "PASSED dry.feature::test_all_good",
        ]
    )
    assert project.server.requests == [] and project.live_servers() == []
    # nothing ran, so no output claims a green run
    assert not (project.pytester.path / "results.json").exists() and not (project.pytester.path / "summary.md").exists()


@pytest.mark.script(SCRIPT)
def test_steps_lists_every_step_with_its_docs_and_exits(project) -> None:
    with_step_module(project)
    project.feature("typos", TYPOS)
    run = project.run("--aitest-steps")
    assert run.ret == 0
    text = run.stdout.str()
    sections = [line.strip("- ") for line in run.stdout.lines if line.startswith("---")]
    assert sections[:4] == ["The agent and the user", "Tool calls", "The response", "Time, tokens and cost"]
    assert "What MCP servers ask" in sections[4 : sections.index("steps in my_steps")]
    assert 'Given the agent "<name>" using model "<model>"\n' in text
    assert 'Then the agent calls "<tool>" with:\n' in text
    assert "in the conversation', 'so far' or 'in turn N'" in text
    assert "Then the reply greets the user -- my_steps.py:4\n    The reply says hello.\n" in text
    assert not re.search(r"\d+ (passed|failed)", text) and project.server.requests == []  # nothing ran
