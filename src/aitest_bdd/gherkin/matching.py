"""Compare a tool call's arguments with what a spec expects."""

from __future__ import annotations

import json
import re
from typing import Any

MISSING = object()
"""What `lookup` returns for a path that is not there."""


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
        return re.search(expected[1:-1], text) is not None
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
