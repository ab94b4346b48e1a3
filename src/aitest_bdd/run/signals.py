"""SIGTERM ends a run the way Ctrl-C does: the session finishes, the outputs are written, the servers close."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

Handler = Callable[[int, FrameType | None], Any] | int
PREVIOUS_HANDLER_KEY = pytest.StashKey[Handler]()


def interrupt_on_sigterm(config: pytest.Config) -> None:
    """Make SIGTERM raise KeyboardInterrupt in the controller process, until `restore_sigterm`.

    Only the main thread can set a handler; an xdist worker keeps the default and is stopped by its controller.
    """
    if hasattr(config, "workerinput") or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    config.stash[PREVIOUS_HANDLER_KEY] = signal.SIG_DFL if previous is None else previous


def restore_sigterm(config: pytest.Config) -> None:
    """Put back the SIGTERM handler the run found."""
    previous = config.stash.get(PREVIOUS_HANDLER_KEY, None)
    if previous is not None:
        del config.stash[PREVIOUS_HANDLER_KEY]
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt("the run received SIGTERM")
