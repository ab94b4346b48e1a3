"""Errors a turn or a session can end with, kept apart from the modules that need the heavy SDKs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class TurnError(RuntimeError):
    """A turn that could not finish; the message says why."""


class ToolServerError(RuntimeError):
    """An MCP server that could not start, crashed, or did not answer in time."""


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, or `error` itself."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def cause(error: BaseException) -> str:
    """`ErrorType: first line of its message`, looking inside exception groups."""
    leaf = first_leaf(error)
    lines = str(leaf).strip().splitlines()
    return f"{type(leaf).__name__}: {lines[0]}" if lines else type(leaf).__name__


def problem(error: ValidationError, within: tuple[str | int, ...] = ()) -> str | None:
    """The first thing pydantic found wrong in one line, and how many more there are, or None when nothing is.

    With `within`, only what is wrong inside that place counts, and places are named from there.
    """
    errors = [found for found in error.errors(include_url=False) if found["loc"][: len(within)] == within]
    if not errors:
        return None
    where = ".".join(str(part) for part in errors[0]["loc"][len(within) :])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {errors[0]['msg']}{more}" if where else f"{errors[0]['msg']}{more}"
