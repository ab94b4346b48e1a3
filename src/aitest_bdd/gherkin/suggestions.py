"""Suggest the closest known step when a step has no definition."""

from __future__ import annotations

import difflib
import re

from pytest_bdd.steps import step_function_context_registry

_QUOTED_GROUP = re.compile(r'"\(\?P<(\w+)>[^)]*\)"')


def readable(pattern: str) -> str:
    """A step pattern as a person reads it: `the agent calls "<tool>"`."""
    text = _QUOTED_GROUP.sub(r'"<\1>"', pattern)
    out, depth, name = [], 0, ""
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("(?P<", index) and depth == 0:
            end = text.index(">", index)
            name = text[index + 4 : end]
            depth, index = 1, end + 1
            continue
        if depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                out.append(f"<{name}>")
                if index + 1 < len(text) and text[index + 1] == "?":
                    index += 1
        else:
            out.append(char)
        index += 1
    text = "".join(out).replace("<scope>", "")
    text = re.sub(r'\(\?:"?<\w+>"?\|"?<(\w+)>"?\)', r"<\1>", text)
    text = re.sub(r"(\w)\?", r"\1", text)
    return re.sub(r"\\(.)", r"\1", text)


def closest_steps(step_type: str, text: str, limit: int = 3) -> list[str]:
    """The known steps of `step_type` most like `text`, in readable form."""
    known = sorted(
        {
            readable(context.parser.name)
            for context in list(step_function_context_registry.values())
            if context.type in (step_type, None)
        }
    )
    return difflib.get_close_matches(text, known, n=limit, cutoff=0.5)
