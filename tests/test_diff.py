"""`aitest-bdd diff`: two real runs compared, with exact tests that can say "not enough evidence"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aitest_bdd.report.diff import render_markdown
from aitest_bdd.results.comparison import compare
from aitest_bdd.results.schema import RunResults
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

CITIES = [f"City{number}" for number in range(1, 21)]


def script(broken: int) -> dict:
    """Every city's weather is sunny, except that the model answers the first `broken` cities wrongly."""
    wrong = [{"user_regex": f"weather in {city}\\?", "replies": [{"content": "Rain."}]} for city in CITIES[:broken]]
    return {"rules": [*wrong, {"user_regex": "weather in", "replies": [{"content": "Sunny."}]}]}


FEATURE = "Feature: Weather\n" + "".join(
    f'  Scenario: {city}\n    Given the agent "plain"\n    When the user says "The weather in {city}?"\n'
    '    Then the response contains "Sunny"\n'
    for city in CITIES
)


def run_on(project, port: int, broken: int, name: str) -> Path:
    """Run the feature against a model on `port` that gets `broken` cities wrong; the results' path."""
    with ScriptedModelServer(Script.model_validate(script(broken)), port=port):
        project.run("--aitest-record=live", "--aitest-json", name)
    return project.pytester.path / name


def diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "aitest_bdd.report.commands", "diff", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.script(script(0))
@pytest.mark.parametrize(("broken", "overall", "status"), [(1, "not enough evidence", 0), (12, "regression", 1)])
def test_diff_of_two_runs(project, broken: int, overall: str, status: int) -> None:
    project.feature("weather", FEATURE)
    port = project.server.port  # the agents' base URL: each run's model takes it over in turn
    project.server.stop()
    base = run_on(project, port, 0, "base.json")
    new = run_on(project, port, broken, "new.json")
    shown = diff(base, new, "--fail-on=regression", "--md", project.pytester.path / "diff.md")
    assert shown.returncode == status, shown.stderr
    evidence = f"20 ran once in both runs: {broken} passed only before, 0 only now (exact McNemar p = "
    assert f"overall: {overall} (20 scenarios in both runs; {evidence}" in shown.stdout
    assert "weather.feature::test_city1: passed → failed" in shown.stdout
    markdown = (project.pytester.path / "diff.md").read_text()
    assert f"- overall: {overall}" in markdown and "| `weather.feature::test_city1` | passed | failed |" in markdown
    assert diff(base, new).returncode == 0  # without --fail-on, a regression is reported, not an error


def _run(tests: list[dict]) -> RunResults:
    return RunResults.model_validate({"schema_version": 2, "tests": tests})


def _test(nodeid: str, passed: int, attempts: int, calls: list[str] | None = None) -> dict:
    verdict = {
        "attempts": attempts,
        "passed": passed,
        "limit": attempts,
        "decision": "passed",
        "low": 0,
        "high": 1,
        "label": "flaky",
    }
    turn = {
        "number": 1,
        "user_message": "hi",
        "model": "m",
        "tool_calls": [{"id": str(i), "name": name, "arguments": {"n": i}} for i, name in enumerate(calls or [])],
    }
    return {
        "nodeid": nodeid,
        "kind": "scenario",
        "name": nodeid,
        "file": "x.feature",
        "status": "passed" if passed == attempts else "failed",
        "verdict": verdict if attempts > 1 else None,
        "conversations": [{"agent": "a", "model": "m", "turns": [turn]}],
    }


def test_repeated_scenarios_are_compared_with_fishers_exact_test_and_holms_correction() -> None:
    from scipy.stats import fisher_exact

    base = _run([_test("a", 10, 10), _test("b", 9, 10), _test("c", 5, 10)])
    new = _run([_test("a", 2, 10), _test("b", 8, 10), _test("c", 5, 10)])
    comparison = compare(base, new)
    raw = {
        name: fisher_exact([[p, 10 - p], [q, 10 - q]]).pvalue for name, p, q in [("a", 10, 2), ("b", 9, 8), ("c", 5, 5)]
    }
    ordered = sorted(raw, key=raw.get)
    holm, running = {}, 0.0
    for rank, name in enumerate(ordered):
        running = max(running, min(1.0, (3 - rank) * raw[name]))
        holm[name] = running
    assert {change.nodeid: change.p_value for change in comparison.changes} == pytest.approx(holm)
    assert comparison.overall == "regression"
    assert comparison.evidence == (
        "3 repeated: 1 significantly worse, 0 significantly better (Fisher's exact test, Holm's correction); "
        "significant below p = 0.05"
    )
    assert "Fisher p = " in render_markdown(comparison)


def test_a_changed_tool_call_is_named_with_its_turn() -> None:
    comparison = compare(_run([_test("a", 1, 1, ["get_balance"])]), _run([_test("a", 1, 1, ["transfer"])]))
    [change] = comparison.changes
    assert change.trajectory == 'turn 1: get_balance({"n": 0}) → transfer({"n": 0})'
    assert comparison.overall == "no change"


def test_version_1_results_still_load(tmp_path: Path) -> None:
    old = {"schema_version": 1, "tests": [_test("a", 1, 1)]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps({**old, "schema_version": 2}))
    shown = diff(tmp_path / "old.json", tmp_path / "new.json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("overall: no change")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe not text", "not text"),
        (b'{"schema_version": [2]}', "schema_version is [2], but this aitest-bdd reads schema_version 1 and 2"),
        (b'{"schema_version": 2, "tests": [{"verdict": {"attempts": 0}}]}', "not aitest-bdd results"),
    ],
)
def test_a_results_file_that_cannot_be_used_is_a_usage_error_not_a_regression(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"schema_version": 2, "tests": [_test("a", 1, 1)]}))
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    shown = diff(good, bad, "--fail-on=regression")
    assert shown.returncode == 2
    assert f"aitest-bdd diff: error: {bad}: {reason}" in shown.stderr and "Traceback" not in shown.stderr
    unwritable = diff(good, good, "--md", tmp_path)
    assert unwritable.returncode == 2 and "cannot be written" in unwritable.stderr
