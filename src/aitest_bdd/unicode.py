"""Text from outside made valid Unicode once, where it enters: a lone surrogate becomes U+FFFD.

JSON may carry lone surrogates (`"\\ud800"`), and Python decodes them into a `str` that cannot be encoded
as UTF-8: writing a result, report or recording with one would fail long after the text arrived.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def valid_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text) if not text.isascii() else text


def escapes_a_surrogate(raw: bytes) -> bool:
    """Whether JSON text (UTF-8) may decode to a lone surrogate: only an escape (`\\ud800` to `\\udfff`) can make
    one, so text without such an escape needs no `valid_data`."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def valid_data(value: Any) -> Any:
    """`value` (parsed JSON) with every string made valid, at any depth (dict keys included)."""
    kind = type(value)  # exact types, as JSON parsing makes them: this runs on every answer of every turn
    if kind is str:
        return valid_text(value)
    if kind is dict:
        return {valid_text(key) if type(key) is str else key: valid_data(item) for key, item in value.items()}
    if kind is list:
        return [valid_data(item) for item in value]
    return value
