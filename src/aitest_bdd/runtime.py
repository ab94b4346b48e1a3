"""One event loop, in a thread, that all async work of a run goes through.

pytest-bdd calls steps synchronously, and MCP clients must be entered and exited in the same task,
so every async operation is handed to this loop through an anyio blocking portal.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, ExitStack
from typing import TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")


class Runtime:
    """The run's event loop thread, started on first use."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._lock = threading.Lock()

    @property
    def portal(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._portal = self._stack.enter_context(start_blocking_portal())
            return self._portal

    def call(self, func: Callable[..., Awaitable[T]], *args: object) -> T:
        """Run `func(*args)` on the loop and wait for its result."""
        return self.portal.call(func, *args)

    async def call_async(self, func: Callable[..., Awaitable[T]], *args: object) -> T:
        """Await `func(*args)` on the runtime's loop from another event loop."""
        return await asyncio.wrap_future(self.portal.start_task_soon(func, *args))

    def hold(self, cm: AbstractAsyncContextManager[T]) -> AbstractContextManager[T]:
        """A sync context manager whose enter and exit run in one task on the loop."""
        return self.portal.wrap_async_context_manager(cm)

    def close(self) -> None:
        """Stop the loop thread."""
        with self._lock:
            self._stack.close()
            self._portal = None
