"""A feature file that cannot be collected fails as one test of its own, in every output; the others run."""

from __future__ import annotations

import json

import pytest

SCRIPT = {"rules": [{"user_regex": ".*", "replies": [{"content": "You said: {user}"}]}]}

HEALTHY = """
Feature: Healthy
  Scenario: healthy
    Given the agent "plain"
    When the user says "hello"
    Then the response contains "hello"
"""


def run(project, *options: str) -> tuple[pytest.RunResult, dict[str, dict]]:
    """Run with the healthy feature beside the others; the results by node id, the healthy one checked."""
    project.feature("healthy", HEALTHY)
    result = project.run("--aitest-json", "results.json", "--aitest-report", "report.html", *options)
    tests = {t["nodeid"]: t for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]}
    assert tests["healthy.feature::test_healthy"]["status"] == "passed", "a bad file must not stop the others"
    return result, tests


@pytest.mark.script(SCRIPT)
def test_files_that_are_not_features_fail_alone_with_the_reason(project) -> None:
    (project.pytester.path / "empty.feature").write_bytes(b"")
    (project.pytester.path / "comments.feature").write_text("# language: en\n# a feature, one day\n\n")
    (project.pytester.path / "marked.feature").write_bytes(b"\xef\xbb\xbf\n  \n")
    (project.pytester.path / "latin.feature").write_bytes(
        'Feature: Café\n  Scenario: crème\n    Given the agent "plain"\n'.encode("latin-1")
    )
    result, tests = run(project)
    result.assert_outcomes(passed=1, failed=4)
    for name in ("empty", "comments", "marked"):
        test = tests[f"{name}.feature::test_feature_file"]
        assert test["status"] == "failed"
        assert test["message"].startswith(f"{name}.feature: has no Feature (the file is empty or holds only comments)")
    latin = tests["latin.feature::test_feature_file"]
    assert latin["message"] == "latin.feature:1: is not UTF-8 (byte 0xe9 at offset 12): save it as UTF-8"
    assert latin["file"] == "latin.feature" and latin["line"] == 1
    assert "Traceback" not in result.stdout.str() and "KeyError" not in result.stdout.str()
    assert "latin.feature:1: is not UTF-8" in (project.pytester.path / "report.html").read_text()


@pytest.mark.script(SCRIPT)
def test_a_byte_order_mark_is_accepted(project) -> None:
    path = project.feature("bom", HEALTHY.replace("Healthy", "Marked").replace("healthy", "marked"))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result, tests = run(project)
    result.assert_outcomes(passed=2)
    assert tests["bom.feature::test_marked"]["feature"] == "Marked"


@pytest.mark.script(SCRIPT)
def test_a_file_that_does_not_parse_is_in_the_json_and_html(project) -> None:
    project.feature("broken", 'Feature: Broken\n  Scenario: one\n    Given the agent "plain"\n  Oops not Gherkin\n')
    result, tests = run(project)
    result.assert_outcomes(passed=1, failed=1)
    broken = tests["broken.feature::test_feature_file"]
    assert broken["status"] == "failed" and broken["file"] == "broken.feature" and broken["line"] == 4
    assert broken["message"].startswith("broken.feature:4: the feature file cannot be parsed")
    assert "Oops not Gherkin" in broken["message"]
    assert "broken.feature:4: the feature file cannot be parsed" in (project.pytester.path / "report.html").read_text()


@pytest.mark.script(SCRIPT)
def test_two_scenarios_of_one_name_fail_with_both_lines(project) -> None:
    project.feature(
        "twins",
        """
        Feature: Twins
          Scenario: Greeting
            Given the agent "plain"
            When the user says "first"

          Scenario: Other
            Given the agent "plain"
            When the user says "other"

          Rule: a rule
            Scenario: Greeting
              Given the agent "plain"
              When the user says "second"
        """,
    )
    result, tests = run(project)
    result.assert_outcomes(passed=2, failed=1)
    twins = tests["twins.feature::test_greeting"]
    assert twins["message"].startswith(
        "twins.feature:2: the scenarios at lines 2 and 11 have the same name, 'Greeting', and only the last would run"
    )
    assert twins["feature"] == "Twins" and twins["line"] == 2
    assert tests["twins.feature::test_other"]["status"] == "passed"


@pytest.mark.script(SCRIPT)
def test_angle_brackets_in_an_examples_value_are_not_placeholders(project) -> None:
    project.feature(
        "generic",
        """
        Feature: Generics
          Scenario Outline: Types
            Given the agent "plain"
            When the user says "<type> and <missing>"

            Examples:
              | type      |
              | List<int> |

          Scenario Outline: Values
            Given the agent "plain"
            When the user says "what is <type>"
            Then the response contains "<type>"

            Examples:
              | type              |
              | List<int>         |
              | Map<str, <x>>     |
        """,
    )
    result, tests = run(project)
    result.assert_outcomes(passed=3, failed=1)
    assert tests["generic.feature::test_values[List<int>]"]["status"] == "passed"
    assert tests["generic.feature::test_values[Map<str, <x>>]"]["status"] == "passed"
    message = tests["generic.feature::test_types[List<int>]"]["message"]
    assert message.startswith('step "When the user says "<type> and <missing>"" (generic.feature:4) uses <missing>,')
