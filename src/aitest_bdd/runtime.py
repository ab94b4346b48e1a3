"""One event loop, in a thread, that all async work of a run goes through.

pytest-bdd calls steps synchronously, and MCP clients must be entered and exited in the same task,
so every async operation is handed to this loop through an anyio blocking portal.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

T = TypeVar("T")
C = TypeVar("C", bound="AsyncClosable")


class AsyncClosable(Protocol):
    """Anything closed with `await obj.aclose()`."""

    async def aclose(self) -> None: ...


class Runtime:
    """The run's event loop thread, started on first use."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._lock = threading.Lock()
        self._shared: dict[str, AsyncClosable] = {}

    @property
    def portal(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                from anyio.from_thread import start_blocking_portal  # lazily: a run without agents needs no loop

                portal = self._stack.enter_context(start_blocking_portal())
                # What still runs on the loop when it stops has no one waiting for it (a server start that
                # Ctrl-C cut short from the caller's side): cancel it, so that it ends and closes what it opened.
                self._stack.callback(portal.call, portal.stop, True)
                self._portal = portal
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

    def shared(self, name: str, factory: Callable[[], C]) -> C:
        """The run's one `name` object, made by `factory` on first use and closed on the loop with the run."""
        with self._lock:
            if name not in self._shared:
                self._shared[name] = factory()
            return self._shared[name]  # type: ignore[return-value]

    def close(self) -> None:
        """Close the shared objects on the loop, then stop the loop thread."""
        with self._lock:
            shared, self._shared = list(self._shared.values()), {}
        try:
            for resource in shared:
                self.portal.call(resource.aclose)
        finally:
            with self._lock:
                self._stack.close()
                self._portal = None
