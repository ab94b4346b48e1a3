"""A pytest plugin for `turn_overhead.py`: per test, its wall time and the round trips timed at the transports.

It writes, into $AITEST_BENCH_TURNS (JSON), one entry per test: the time of its whole protocol (setup,
call, teardown and the report hooks, the results collector's included), and the HTTP and MCP round
trips it waited on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _transport_timing import TransportLog, install

_log: list[TransportLog] = []
_tests: list[dict[str, Any]] = []


def pytest_configure(config: pytest.Config) -> None:
    _log.append(install())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    log = _log[0]
    http_at, mcp_at = len(log.http), len(log.mcp)
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        _tests.append(
            {
                "nodeid": item.nodeid,
                "wall_ms": (time.perf_counter() - started) * 1000,
                "http_ms": log.http[http_at:],
                "mcp_ms": log.mcp[mcp_at:],
            }
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("AITEST_BENCH_TURNS")
    if path:
        Path(path).write_text(json.dumps(_tests), encoding="utf-8")
