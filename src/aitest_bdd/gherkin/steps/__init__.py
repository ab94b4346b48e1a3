"""The Gherkin step library.

Every Then step is about the last turn, unless it says `in the conversation` (or `so far`): all turns
of the scenario, or `in turn N`: that turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ...conversation.transcript import format_turns
from ..scopes import Scope

if TYPE_CHECKING:
    from ...conversation.session import AgentSession


def fail(problem: str, session: AgentSession, scope: Scope | None = None) -> None:
    """Fail the step with `problem` and a transcript of the turns in scope (default: the last turn)."""
    turns = scope.turns if scope is not None else [session.last_turn]
    pytest.fail(f"{problem}\n\n{format_turns(turns)}", pytrace=False)


def listed(datatable: list[list[str]] | None, what: str) -> list[str]:
    """The first cell of each row of a one-column table (a header row `| tool |` etc. is skipped)."""
    if not datatable:
        pytest.fail(f"this step needs a table of {what} below it, one per row: | name |", pytrace=False)
    values = [row[0].strip() for row in datatable if row and row[0].strip()]
    if values and values[0].casefold() in {"tool", "tools", "text", "name"}:
        values = values[1:]
    return values


def pairs(datatable: list[list[str]] | None, columns: tuple[str, str], step: str, example: str) -> dict[str, str]:
    """The rows of a two-column table, first cell to second (a header row of the two `columns` is skipped); the
    step fails, naming `step` and showing `example`, when the table has no rows or a row with one cell."""
    rows = [row for row in datatable or [] if row]
    if rows and [cell.strip().casefold() for cell in rows[0][:2]] == list(columns):
        rows = rows[1:]
    if not rows or any(len(row) < 2 for row in rows):
        pytest.fail(
            f'the step "{step}" needs a table of {columns[0]} and {columns[1]} rows, e.g. {example}', pytrace=False
        )
    return {row[0].strip(): row[1].strip() for row in rows}


STEP_MODULES = [
    "aitest_bdd.gherkin.steps.agent_steps",
    "aitest_bdd.gherkin.steps.tool_steps",
    "aitest_bdd.gherkin.steps.response_steps",
    "aitest_bdd.gherkin.steps.judge_steps",
    "aitest_bdd.gherkin.steps.budget_steps",
    "aitest_bdd.gherkin.steps.context_steps",
    "aitest_bdd.gherkin.steps.server_request_steps",
    "aitest_bdd.gherkin.steps.simulated_user_steps",
    "aitest_bdd.gherkin.steps.stub_steps",
]
