"""A pytest plugin for `startup.py`: writes monotonic timestamps of run milestones to $AITEST_BENCH_MARKS.

CLOCK_MONOTONIC is system-wide on Linux, so the parent process can compare these with its own clock.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from typing import Any

import pytest

_marks: dict[str, float] = {"plugin_imported": time.monotonic()}


def _mark(name: str) -> None:
    """Record `name` once, at its first occurrence."""
    _marks.setdefault(name, time.monotonic())


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    _mark("configured")


def pytest_collection_finish(session: pytest.Session) -> None:
    _mark("collected")


def pytest_runtest_setup(item: pytest.Item) -> None:
    _mark("first_test_setup")


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Any) -> None:
    if step.type == "when":
        _mark("first_turn_started")


def pytest_bdd_after_step(request: pytest.FixtureRequest, step: Any) -> None:
    if step.type == "given":
        _mark("agent_ready")
    if step.type == "when":
        _mark("first_turn_done")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _mark("session_finished")


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _mark("unconfigure_started")


@atexit.register
def _write_marks() -> None:
    """At interpreter exit (after pytest's own teardown), save the marks."""
    _mark("atexit")
    path = os.environ.get("AITEST_BENCH_MARKS")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_marks, out)
