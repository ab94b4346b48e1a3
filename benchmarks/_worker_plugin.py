"""A pytest plugin for `worker_startup.py`: when each process (the controller and every xdist worker) reaches
each milestone, and its CPU time by then, written to $AITEST_BENCH_WORKERS/<worker id>.json.

With $AITEST_BENCH_FREEZE set, a worker collects its garbage and freezes its heap as it unconfigures, so
that the interpreter's collections at exit skip the objects left (the change measured against as shipped).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import pytest

_marks: list[tuple[str, float, float]] = []


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mark(name: str) -> None:
    _marks.append((name, time.time(), _cpu()))


def _started() -> float:
    """When this process started (the kernel's clock ticks since boot, on /proc)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")


_marks.append(("process started", _started(), 0.0))
_mark("pytest imported (this plugin, -p)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    _mark("configured (every plugin loaded)")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _mark("collected")


_tests: list[Any] = []


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    if not _tests:
        _mark("first test done (loads the openai SDK)")
    _tests.append(nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _mark("last test done")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _mark("unconfigured (exit starts)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    directory = os.environ.get("AITEST_BENCH_WORKERS")
    if directory:
        data = {"marks": _marks, "tests": len(_tests)}
        (Path(directory) / f"{worker}.json").write_text(json.dumps(data), encoding="utf-8")
    if worker != "controller" and os.environ.get("AITEST_BENCH_FREEZE"):
        gc.collect()
        gc.freeze()
