"""A pytest plugin for `memory.py`: samples this process's RSS after every test into $AITEST_BENCH_RSS (JSON).

With $AITEST_BENCH_TRACEMALLOC set, it also traces allocations from test 10 on and writes the sites that
grew most by the end of the session (with their stacks) into the same file.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from aitest_bdd.results.attach import REPORT_ATTRIBUTE

WARM_UP_TESTS = 10
_samples: list[int] = []
_result_bytes: list[int] = []
_growth: list[dict[str, Any]] = []
_baseline: list[tracemalloc.Snapshot] = []


def status_kib(field: str) -> int:
    """A `kB` field (VmRSS, VmHWM) of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _samples.append(status_kib("VmRSS"))
    if os.environ.get("AITEST_BENCH_TRACEMALLOC"):
        tracemalloc.start(int(os.environ["AITEST_BENCH_TRACEMALLOC"]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Measure the test's result before the results collector takes it off the report."""
    result: Any = getattr(report, REPORT_ATTRIBUTE, None)
    if report.when == "call" and result is not None:
        _result_bytes.append(len(json.dumps(result)))


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    _samples.append(status_kib("VmRSS"))
    if tracemalloc.is_tracing() and len(_samples) == WARM_UP_TESTS + 1:
        _baseline.append(tracemalloc.take_snapshot())


def _frames(trace: tracemalloc.Traceback) -> list[str]:
    """The allocation's stack, innermost first, without importlib and tracemalloc frames."""
    frames = [f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}" for frame in reversed(trace)]
    return [frame for frame in frames if "importlib" not in frame and "tracemalloc" not in frame]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not (tracemalloc.is_tracing() and _baseline):
        return
    stats = tracemalloc.take_snapshot().compare_to(_baseline[0], "traceback")
    tracemalloc.stop()
    for stat in stats[:25]:
        _growth.append({"kib": stat.size_diff / 1024, "count": stat.count_diff, "stack": _frames(stat.traceback)})


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("AITEST_BENCH_RSS")
    if path:
        data = {"rss_kib": _samples, "hwm_kib": status_kib("VmHWM"), "result_bytes": _result_bytes, "growth": _growth}
        Path(path).write_text(json.dumps(data), encoding="utf-8")
