"""Errors a turn or a session can end with, kept apart from the modules that need the heavy SDKs."""

from __future__ import annotations


class TurnError(RuntimeError):
    """A turn that could not finish; the message says why."""


class ToolServerError(RuntimeError):
    """An MCP server that could not start, crashed, or did not answer in time."""


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, or `error` itself."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
