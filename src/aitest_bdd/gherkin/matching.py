"""Compare a tool call's arguments with what a spec expects."""

from __future__ import annotations

import json
from typing import Any

import regex

MISSING = object()
"""What `lookup` returns for a path that is not there."""
PATTERN_SECONDS = 1.0
"""How long a pattern from a feature may search one text: long enough for any sane pattern."""


class PatternError(ValueError):
    """A pattern from a feature that is not a regular expression, or that takes too long to search."""


def search(pattern: str, text: str, flags: int = 0) -> bool:
    """Whether `pattern` (a regular expression from a feature) occurs in `text`, within PATTERN_SECONDS."""
    try:
        return regex.search(pattern, text, flags, timeout=PATTERN_SECONDS) is not None
    except regex.error as error:
        raise PatternError(f'"{pattern}" is not a valid regular expression: {error}') from None
    except TimeoutError:
        raise PatternError(
            f'the pattern "{pattern}" took more than {PATTERN_SECONDS:g} s on a text of {len(text):,} characters '
            "(nested repetition such as (a+)+ backtracks without end): simplify it"
        ) from None


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted `path` (`filter.city`, `items.0.id`) in JSON data, or MISSING."""
    value: Any = data
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
    return value


def value_matches(expected: str, actual: Any) -> bool:
    """Whether `actual` fits the spec text `expected`.

    `/regex/` searches the value's text; otherwise the text is read as JSON when it can be
    ("200" matches 200, "true" matches True) and compared, else compared as a string.
    """
    if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
        text = actual if isinstance(actual, str) else json.dumps(actual)
        return search(expected[1:-1], text)
    try:
        parsed = json.loads(expected)
    except json.JSONDecodeError:
        parsed = MISSING
    if parsed is not MISSING and _same(parsed, actual):
        return True
    return isinstance(actual, str) and actual == expected


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return expected == actual


def mismatches(expected: dict[str, str], arguments: dict[str, Any]) -> list[str]:
    """What differs between the expected argument values and a call's arguments; empty when all fit."""
    problems = []
    for path, want in expected.items():
        actual = lookup(arguments, path)
        if actual is MISSING:
            problems.append(f"{path}: missing (expected {want})")
        elif not value_matches(want, actual):
            problems.append(f"{path}: expected {want}, got {json.dumps(actual, ensure_ascii=False)}")
    return problems
