"""Under pytest-xdist, workers start on tests as soon as they are ready, and test classes stay together."""

from __future__ import annotations

import pytest

SLOW_SECOND_WORKER = """
import os
import time


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") == "gw1":
        time.sleep(4)
"""

TESTS = """
import time

import pytest


@pytest.mark.parametrize("number", range(6))
def test_quick(number):
    time.sleep({seconds})
"""


def _workers(result: pytest.RunResult) -> set[str]:
    return {line.split("]")[0].split("[")[-1] for line in result.stdout.lines if "PASSED" in line and "[gw" in line}


@pytest.mark.usefixtures("outside_xdist")
def test_a_ready_worker_does_not_wait_for_a_slow_one(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SLOW_SECOND_WORKER)
    pytester.makepyfile(test_quick=TESTS.format(seconds=0.05))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    result.assert_outcomes(passed=6)
    assert _workers(result) == {"gw0"}, "the tests waited for the worker that was still starting"


@pytest.mark.usefixtures("outside_xdist")
@pytest.mark.parametrize(("seconds", "delay"), [(0.5, 1), (0.05, 2)], ids=["during-the-run", "after-the-tests"])
def test_different_collections_fail_the_run(pytester: pytest.Pytester, seconds: float, delay: int) -> None:
    pytester.makeconftest(
        SLOW_SECOND_WORKER.replace("time.sleep(4)", f"time.sleep({delay})")
        + "\n\ndef pytest_collection_modifyitems(items):\n"
        + "    if os.environ.get('PYTEST_XDIST_WORKER') == 'gw1':\n        items.reverse()\n"
    )
    pytester.makepyfile(test_quick=TESTS.format(seconds=seconds))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*Different tests were collected between gw0 and gw1*"])
