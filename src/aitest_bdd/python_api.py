"""The Python API: `await aitest_run(agent, message)` in async tests, and `@pytest.mark.session`."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import pytest

from .config import Agent
from .conversation.turns import Turn
from .run.context import run_context
from .run.registry import session_key
from .run.test_state import held_sessions

AitestRun = Callable[[Agent, str], Awaitable[Turn]]


def mark_asyncio(obj: object) -> None:
    """Run an `async def` test that uses `aitest_run` under pytest-asyncio without asking for a mark."""
    if inspect.iscoroutinefunction(obj) and "aitest_run" in inspect.signature(obj).parameters:
        marks = [mark.name for mark in getattr(obj, "pytestmark", [])]
        if "asyncio" not in marks:
            pytest.mark.asyncio(obj)


def runner(request: pytest.FixtureRequest) -> AitestRun:
    """`await run(agent, message)`: one turn in the conversation of the test, or of its session class."""
    context = run_context(request.config)
    key = session_key(request.node)
    override = context.model_override
    context.registry.begin(request.node)

    async def run(agent: Agent, message: str) -> Turn:
        if override:
            agent = agent.with_model(override)
        try:
            session = await context.registry.session(key, agent, request.node)
        finally:  # also a session that could not open: the test's result shows it
            held_sessions(request.node)[:] = context.registry.sessions(key)
        return await session.runtime.call_async(session.run_turn, message)

    return run
