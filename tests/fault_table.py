"""A fault table: scenarios that must fail with a given message, or pass, checked in one run."""

from __future__ import annotations

HEALTHY = """
  Scenario: healthy
    Given the agent "plain"
    When the user says "hello"
    Then the response contains "hello"
"""
"""A scenario that must pass beside the faults: a fault must not cost the others."""

OUTPUTS = ("--aitest-json", "results.json", "--aitest-report", "report.html", "--aitest-md", "summary.md")

Table = dict[str, tuple[str, str | None]]
"""Scenario name: (its steps, one per line; a fragment of its failure message, or None when it must pass)."""


def feature_of(title: str, table: Table) -> str:
    """The feature file of the table's scenarios, and the healthy one."""
    text = f"Feature: {title}\n"
    for name, (steps, _) in table.items():
        text += f"\n  Scenario: {name}\n" + "".join(f"    {line}\n" for line in steps.splitlines())
    return text + HEALTHY


def mismatches(table: Table, tests: dict[str, dict]) -> list[str]:
    """How the results (by scenario name, from the JSON) differ from the table; the healthy scenario must pass."""
    problems = []
    for name, (_, expected) in table.items():
        test = tests[name]
        if expected is None and test["status"] != "passed":
            problems.append(f"{name}: should pass: {test['message']}")
        if expected is not None and (test["status"] != "failed" or expected not in (test["message"] or "")):
            problems.append(f"{name}: {test['status']}: {test['message']}")
    if tests["healthy"]["status"] != "passed":
        problems.append(f"healthy: a fault cost another scenario: {tests['healthy']['message']}")
    return problems
