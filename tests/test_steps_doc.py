"""docs/steps.md and the registered steps cannot drift apart."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from pytest_bdd.steps import step_function_context_registry

from aitest_bdd.gherkin.steps import STEP_MODULES

STEPS_PAGE = Path(__file__).parent.parent / "docs" / "steps.md"
EXAMPLE = re.compile(r"^(Given|When|Then|And|But) (.+)$")


def documented_examples() -> list[tuple[str, str]]:
    """(step type, text) of every step line in the page's gherkin code blocks."""
    examples, in_gherkin = [], False
    for line in STEPS_PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_gherkin = line.strip() == "```gherkin"
            continue
        match = EXAMPLE.match(line.strip()) if in_gherkin else None
        if match:
            examples.append((match.group(1).lower(), match.group(2)))
    return examples


def library_steps() -> list:
    modules = {importlib.import_module(name).__name__ for name in STEP_MODULES}
    return [context for context in step_function_context_registry.values() if context.step_func.__module__ in modules]


def test_every_registered_step_is_documented() -> None:
    examples = documented_examples()
    undocumented = [
        context.parser.name
        for context in library_steps()
        if not any(kind == context.type and context.parser.is_matching(text) for kind, text in examples)
    ]
    assert len(library_steps()) >= 30
    assert not undocumented, f"steps missing from docs/steps.md: {undocumented}"


def test_every_documented_step_exists() -> None:
    steps = library_steps()
    unknown = [
        f"{kind} {text}"
        for kind, text in documented_examples()
        if kind in ("given", "when", "then")
        and sum(context.type == kind and context.parser.is_matching(text) for context in steps) != 1
    ]
    assert len(documented_examples()) >= 30
    assert not unknown, f"documented steps that match no library step, or more than one: {unknown}"
