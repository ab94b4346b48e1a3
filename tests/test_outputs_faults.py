"""The outputs survive what ends a run badly: a path that cannot be written, a full disk, SIGTERM, a second
Ctrl-C, a dead xdist worker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fault_table import HEALTHY, OUTPUTS
from pytest_bdd.feature import features

SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {"user": "stall", "replies": [{"hang": True}]},
    ]
}


def statuses(path: Path) -> dict[str, str]:
    """Each test's status in a JSON results file, by name."""
    return {test["name"]: test["status"] for test in json.loads(path.read_text())["tests"]}


def extend_conftest(project, code: str) -> None:
    conftest = project.pytester.path / "conftest.py"
    project.pytester.makeconftest(conftest.read_text() + code)


# Paths that cannot be written


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--aitest-json", "folder"], "--aitest-json folder: is a directory; give a file name"),
        (["-o", "aitest_report=folder"], "aitest_report = folder: is a directory; give a file name"),
        (["--aitest-md", "a-file/summary.md"], "--aitest-md a-file/summary.md: a-file is a file, not a folder"),
        (["--aitest-json", "/sys/results.json"], "--aitest-json /sys/results.json: cannot write in the folder /sys: "),
        (["--junitxml", "a-file/junit.xml"], "--junitxml a-file/junit.xml: a-file is a file, not a folder"),
        (["--cucumberjson", "a-file/c.json"], "--cucumberjson a-file/c.json: a-file is a file, not a folder"),
    ],
)
def test_an_output_path_that_cannot_be_written_stops_the_run_before_it_starts(
    project, args: list[str], problem: str
) -> None:
    project.feature("banking", "Feature: Banking\n" + HEALTHY.replace('"plain"', '"banking"'))
    (project.pytester.path / "folder").mkdir()
    (project.pytester.path / "a-file").write_text("")
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {problem}"), result.stderr.str()
    assert project.server.requests == [], "the model was paid for a run that cannot write its outputs"
    assert project.live_servers() == []


@pytest.mark.script(SCRIPT)
def test_missing_output_folders_are_made(project) -> None:
    project.feature("healthy", "Feature: Healthy\n" + HEALTHY)
    result = project.run(
        "--aitest-json", "out/aitest/results.json", "--cucumberjson", "out/cucumber/c.json",
        "--junitxml", "out/junit/junit.xml",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    out = project.pytester.path / "out"
    assert statuses(out / "aitest/results.json") == {"healthy": "passed"}
    assert json.loads((out / "cucumber/c.json").read_text())[0]["elements"][0]["name"] == "healthy"
    assert "healthy" in (out / "junit/junit.xml").read_text()


# An output that cannot be written at the end

FILE_SIZE_LIMIT = """

import resource
import signal


def pytest_sessionstart(session):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))  # the HTML report is larger, the rest smaller
"""
FAILING = """
  Scenario: failing
    Given the agent "plain"
    When the user says "hello"
    Then the response contains "goodbye"
"""


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize(("failing", "status"), [(False, pytest.ExitCode.INTERNAL_ERROR), (True, 1)])
def test_an_output_that_cannot_be_written_at_the_end_leaves_the_others(project, failing: bool, status: int) -> None:
    extend_conftest(project, FILE_SIZE_LIMIT)
    project.feature("healthy", "Feature: Healthy\n" + HEALTHY + (FAILING if failing else ""))
    previous = "<html>the whole report of the run before</html>"
    (project.pytester.path / "report.html").write_text(previous)
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--aitest-json", "/dev/full", "--aitest-report", "report.html",
        "--aitest-md", "summary.md", "--junitxml", "junit.xml",
    )  # fmt: skip
    assert result.ret == status
    result.stdout.fnmatch_lines(
        [
            "aitest json: /dev/full not written: No space left on device",
            "aitest report: report.html not written: File too large",
            "aitest md: summary.md",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    if failing:
        result.stdout.fnmatch_lines(["*short test summary info*", "FAILED healthy.feature::test_failing*"])
    assert (project.pytester.path / "report.html").read_text() == previous, "a partial report replaced a whole one"
    assert [path.name for path in project.pytester.path.iterdir() if path.name.startswith(".")] == []
    tests = 2 if failing else 1
    assert f"{tests - 1} failed, 1 passed of {tests} tests" in (project.pytester.path / "summary.md").read_text()
    assert "healthy" in (project.pytester.path / "junit.xml").read_text()


# SIGTERM and a second Ctrl-C

SIGNAL_STEPS = """

import time
from pathlib import Path

from pytest_bdd import when


@when("the run is waiting for a signal")
def waiting():
    Path("waiting").touch()


@when("the test is torn down slowly")
def slow_teardown(request):
    def finishing():
        Path("finishing").touch()
        time.sleep(60)

    request.addfinalizer(finishing)
"""


def start_pytest(project, *steps: str) -> subprocess.Popen:
    """pytest in a process of its own, on a passing scenario, then one that waits in a model call after `steps`."""
    extend_conftest(project, SIGNAL_STEPS)
    waiting = [*steps, "When the run is waiting for a signal", 'When the user says "stall"']
    interrupted = '\n  Scenario: interrupted\n    Given the agent "banking"\n' + "".join(f"    {s}\n" for s in waiting)
    project.feature(
        "interrupted", "Feature: Interrupted\n" + HEALTHY + interrupted + HEALTHY.replace("healthy", "never")
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *OUTPUTS]
    return subprocess.Popen(
        command, cwd=project.pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"pytest ended before {path.name}:\n{process.communicate()[0]}"
        assert time.monotonic() < deadline, f"no {path.name} after {seconds}s"
        time.sleep(0.05)


def output_of(process: subprocess.Popen) -> str:
    try:
        return process.communicate(timeout=30)[0]
    finally:
        process.kill()


def assert_outputs_hold_the_passed_scenario(path: Path) -> None:
    assert statuses(path / "results.json") == {"healthy": "passed"}
    assert "healthy" in (path / "report.html").read_text()
    assert "1 passed of 1 tests" in (path / "summary.md").read_text()


@pytest.mark.script(SCRIPT)
def test_sigterm_ends_the_run_like_ctrl_c(project) -> None:
    process = start_pytest(project)
    wait_for(project.pytester.path / "waiting", process)
    process.send_signal(signal.SIGTERM)
    output = output_of(process)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt: the run received SIGTERM" in output
    assert_outputs_hold_the_passed_scenario(project.pytester.path)
    assert project.live_servers() == [], "an MCP server outlived the run"


@pytest.mark.script(SCRIPT)
def test_a_second_ctrl_c_while_the_run_finishes_keeps_the_outputs(project) -> None:
    process = start_pytest(project, "When the test is torn down slowly")
    wait_for(project.pytester.path / "waiting", process)
    process.send_signal(signal.SIGINT)
    wait_for(project.pytester.path / "finishing", process)
    process.send_signal(signal.SIGINT)
    output = output_of(process)
    assert process.returncode != 0, output
    assert_outputs_hold_the_passed_scenario(project.pytester.path)
    assert project.live_servers() == [], "an MCP server outlived the run"


class HandlerSeen:
    """A plugin that notes the SIGTERM handler while the run's tests run."""

    handler: object = None

    def pytest_runtestloop(self) -> None:
        self.handler = signal.getsignal(signal.SIGTERM)


@pytest.mark.script(SCRIPT)
def test_a_run_sets_its_sigterm_handler_and_puts_back_the_one_it_found(project) -> None:
    project.feature("healthy", "Feature: Healthy\n" + HEALTHY)
    seen = HandlerSeen()
    features.clear()

    def found(signum: int, frame: object) -> None: ...

    outer = signal.signal(signal.SIGTERM, found)
    try:
        project.pytester.runpytest("-p", "no:cacheprovider", plugins=[seen]).assert_outcomes(passed=1)
        assert signal.getsignal(signal.SIGTERM) is found
    finally:
        signal.signal(signal.SIGTERM, outer)
    assert callable(seen.handler) and seen.handler is not found


# A dead xdist worker

DYING_STEPS = """

import os

from pytest_bdd import when


@when("the worker dies")
def die():
    os._exit(3)


@when("the worker dies when the test is torn down")
def die_at_teardown(request):
    request.addfinalizer(lambda: os._exit(3))
"""
DYING = """
  Scenario: dies
    Given the agent "banking"
    When the worker dies

  Scenario: dies at teardown
    Given the agent "plain"
    When the user says "hello"
    And the worker dies when the test is torn down
"""
CRASH = (
    "worker 'gw?' crashed while running 'dying.feature::{test}': the worker's process ended during this test "
    "(killed, out of memory, or a crash in native code); run the test without -n to see why"
)


@pytest.mark.script(SCRIPT)
@pytest.mark.usefixtures("outside_xdist")
def test_the_scenario_of_a_dead_xdist_worker_fails_in_the_outputs(project) -> None:
    extend_conftest(project, DYING_STEPS)
    project.feature("dying", "Feature: Dying\n" + HEALTHY + DYING)
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", *OUTPUTS, timeout=180)
    result.stdout.fnmatch_lines_random(["FAILED dying.feature::test_dies - worker 'gw?' crashed while running*"])
    tests = {test["name"]: test for test in json.loads((project.pytester.path / "results.json").read_text())["tests"]}
    assert {name: test["status"] for name, test in tests.items()} == {
        "healthy": "passed",
        "test_dies": "failed",
        "dies at teardown": "failed",
    }
    crashed = tests["test_dies"]
    assert (crashed["nodeid"], crashed["kind"], crashed["file"]) == (
        "dying.feature::test_dies",
        "scenario",
        "dying.feature",
    )
    assert fnmatch(crashed["message"], CRASH.format(test="test_dies")), crashed["message"]
    at_teardown = tests["dies at teardown"]
    assert fnmatch(at_teardown["message"], CRASH.format(test="test_dies_at_teardown")), at_teardown["message"]
    assert len(at_teardown["conversations"][0]["turns"]) == 1, "the crash replaced what the test had reported"
    assert "crashed while running" in (project.pytester.path / "report.html").read_text()
    assert "2 failed, 1 passed of 3 tests" in (project.pytester.path / "summary.md").read_text()
    deadline = time.monotonic() + 5  # the dead worker's server sees its input close, and exits with its group
    while project.live_servers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert project.live_servers() == [], "the dead worker's MCP server outlived the run"
