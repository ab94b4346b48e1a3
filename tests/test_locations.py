"""A scenario's test is placed at its `.feature` file and line (for IDEs, CI annotators, JUnit); its id stays."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

SCRIPT = {"rules": [{"user_regex": ".*", "replies": [{"content": "You said: {user}"}]}]}

FEATURE = """\
Feature: Places

  Scenario: passes
    Given the agent "plain"
    When the user says "hello"
    Then the response contains "hello"

  Scenario Outline: fails with <word>
    Given the agent "plain"
    When the user says "<word>"
    Then the response contains "nothing like this"

    Examples:
      | word |
      | one  |
"""

BOUND = """
from pytest_bdd import scenario, scenarios

scenarios("bound.feature")


@scenario("bound.feature", "passes")
def test_named():
    pass
"""

SHOW_LOCATIONS = """

def pytest_collection_finish(session):
    for item in session.items:
        path, line, _ = item.reportinfo()
        print("PLACE", item.nodeid, *item.location[:2], path, line)
"""

EXPECTED = {
    "features/places.feature::test_passes": "features/places.feature 2",
    "features/places.feature::test_fails_with_word[one]": "features/places.feature 7",
    "tests/test_bound.py::test_passes": "tests/bound.feature 2",
    "tests/test_bound.py::test_fails_with_word[one]": "tests/bound.feature 7",
    "tests/test_bound.py::test_named": "tests/bound.feature 2",
}
"""pytest's locations: the path relative to the root directory, and the 0-based line of the scenario."""


def write_project(project) -> None:
    path = project.pytester.path
    for folder, name in (("features", "places"), ("tests", "bound")):
        (path / folder).mkdir()
        (path / folder / f"{name}.feature").write_text(FEATURE, encoding="utf-8")
    (path / "tests" / "test_bound.py").write_text(BOUND, encoding="utf-8")
    conftest = path / "conftest.py"
    conftest.write_text(conftest.read_text(encoding="utf-8") + SHOW_LOCATIONS, encoding="utf-8")
    project.pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "python_files = test_*.py\n"  # bound.feature is collected through test_bound.py, places.feature directly
    )


@pytest.mark.script(SCRIPT)
def test_item_location_and_reportinfo_name_the_feature_file_and_line(project) -> None:
    write_project(project)
    result = project.run("--co", "-q", "-s", "features", "tests/test_bound.py")
    places = {
        nodeid: " ".join(rest)
        for line in result.stdout.lines
        if line.startswith("PLACE ")
        for _, nodeid, *rest in [line.split(" ")]
    }
    root = project.pytester.path
    expected = {nodeid: f"{where} {root / where.split()[0]} {where.split()[1]}" for nodeid, where in EXPECTED.items()}
    assert places == expected


@pytest.mark.script(SCRIPT)
def test_junit_xml_names_each_scenarios_feature_file_and_line(project) -> None:
    write_project(project)
    for family in ("xunit2", "xunit1"):
        options = ("--junitxml", f"{family}.xml", "-o", f"junit_family={family}")
        project.run("features", "tests/test_bound.py", *options).assert_outcomes(passed=3, failed=2)
        found = {}
        for case in ET.parse(project.pytester.path / f"{family}.xml").getroot().iter("testcase"):
            properties = {p.get("name"): p.get("value") for p in case.iter("property")}
            # pytest takes the testcase's file and line from each test's report, failed ones too
            where = (properties["aitest_file"], properties["aitest_line"], case.get("file"), case.get("line"))
            found[case.get("classname"), case.get("name")] = where
        expected = {}
        for nodeid, where in EXPECTED.items():
            path, name = nodeid.split("::")
            file, line = where.split()
            # xunit2 drops the testcase's file and line: the properties carry them
            attributes = (file, line) if family == "xunit1" else (None, None)
            expected[path.replace("/", ".").removesuffix(".py"), name] = (file, str(int(line) + 1), *attributes)
        assert found == expected


@pytest.mark.script(SCRIPT)
def test_a_failing_scenario_is_reported_at_its_feature_file(project) -> None:
    write_project(project)
    result = project.run("tests/test_bound.py", "-vv", "-k", "fails")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["tests/test_bound.py::test_fails_with_word[[]one[]] <- tests/bound.feature FAILED*"])
    assert "pytest_bdd/scenario.py" not in result.stdout.str()
    gherkin = project.run("tests/test_bound.py", "-vv", "-k", "fails", "--gherkin-terminal-reporter")
    gherkin.stdout.fnmatch_lines(["tests/test_bound.py::test_fails_with_word[[]one[]] <- tests/bound.feature*"])
    assert "pytest_bdd/scenario.py" not in gherkin.stdout.str()


@pytest.mark.script(SCRIPT)
def test_a_feature_file_that_cannot_be_used_is_placed_at_its_problem(project) -> None:
    write_project(project)
    broken = project.pytester.path / "features" / "broken.feature"
    broken.write_text("Feature: Broken\n\n  Scenario: one\n    Given x\n\n  Feature: again\n", encoding="utf-8")
    twice = project.pytester.path / "features" / "twice.feature"
    twice.write_text(
        "Feature: Twice\n\n  Scenario: same\n    Given the agent \"plain\"\n\n  Scenario: same\n    Given x\n",
        encoding="utf-8",
    )
    result = project.run("--co", "-q", "-s", "features/broken.feature", "features/twice.feature")
    places = [line.split(" ")[1:4] for line in result.stdout.lines if line.startswith("PLACE ")]
    assert ["features/broken.feature::test_feature_file", "features/broken.feature", "5"] in places
    assert ["features/twice.feature::test_same", "features/twice.feature", "2"] in places
