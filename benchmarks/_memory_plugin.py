"""A pytest plugin for `memory.py`: samples this process's RSS after every test into $AITEST_BENCH_RSS (JSON).

With $AITEST_BENCH_TRACEMALLOC set, it also traces allocations from test 10 on and writes the sites that
grew most by the end of the session (with their stacks) into the same file.

$AITEST_BENCH_DROP simulates fixes, to attribute the growth (pytest keeps every item and report to the end):
`sessions` releases a test's AgentSession once the test is reported: the fixture definition pytest-bdd
registers for `target_fixture="aitest_session"` (it holds the session for the rest of the run) and the
item's stash entries; `records` drops the test's record from its report; `results` empties the results
collector (what a run that writes no report would need to keep).
"""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from aitest_bdd.agents import SESSIONS_KEY
from aitest_bdd.recorder import REPORT_ATTRIBUTE, RESULT_KEY

WARM_UP_TESTS = 10
_samples: list[int] = []
_record_bytes: list[int] = []
_growth: list[dict[str, Any]] = []
_baseline: list[tracemalloc.Snapshot] = []
_drop_after_test: list[pytest.Item] = []
_collector: list[Any] = []


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


def _drop() -> str:
    return os.environ.get("AITEST_BENCH_DROP", "")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin("aitest-results")
    if collector is not None:
        _collector.append(collector)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Measure the test's record (after the results collector has read it); drop it if asked to."""
    record: Any = getattr(report, REPORT_ATTRIBUTE, None)
    if report.when == "call" and record is not None:
        _record_bytes.append(len(json.dumps(record)))
    if "records" in _drop() and record is not None:
        delattr(report, REPORT_ATTRIBUTE)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if "sessions" in _drop():
        _drop_after_test.append(item)


def _release_sessions(item: pytest.Item) -> None:
    """Forget the test's sessions: pytest-bdd's injected `aitest_session` fixture and the stash entries."""
    injected = item.session._fixturemanager._arg2node2fixturedefs.get("aitest_session", {})  # type: ignore[attr-defined]
    injected.pop(item, None)
    for key in (SESSIONS_KEY, RESULT_KEY):
        if key in item.stash:
            del item.stash[key]


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    for item in _drop_after_test:
        _release_sessions(item)
    _drop_after_test.clear()
    if "results" in _drop() and _collector:
        _collector[0].results.clear()
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
        data = {"rss_kib": _samples, "hwm_kib": status_kib("VmHWM"), "record_bytes": _record_bytes, "growth": _growth}
        Path(path).write_text(json.dumps(data), encoding="utf-8")
