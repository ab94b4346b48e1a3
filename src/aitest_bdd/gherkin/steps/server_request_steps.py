"""Steps about what MCP servers ask during tool calls: the user's answers to their questions (elicitation), and
checks on the questions asked and the progress reported."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_bdd import given, parsers, then

from ..scopes import SCOPE, scope_of
from . import fail

if TYPE_CHECKING:
    from ...conversation.session import AgentSession


@given("the user will answer the server's question with:")
def answers_with(aitest_session: AgentSession, datatable: list[list[str]]) -> None:
    rows = [row for row in datatable or [] if row]
    if rows and [cell.strip().casefold() for cell in rows[0][:2]] == ["field", "value"]:
        rows = rows[1:]
    if not rows or any(len(row) < 2 for row in rows):
        pytest.fail(
            'the step "the user will answer the server\'s question with:" needs a table of field and value rows, '
            "e.g. | priority | high |",
            pytrace=False,
        )
    aitest_session.user_answers.answer_with({row[0].strip(): row[1].strip() for row in rows})


@given("the user declines the server's questions")
def declines(aitest_session: AgentSession) -> None:
    aitest_session.user_answers.refuse("decline")


@given("the user cancels the server's questions")
def cancels(aitest_session: AgentSession) -> None:
    aitest_session.user_answers.refuse("cancel")


@then(parsers.re(rf'the server asks the user for "(?P<text>[^"]*)"{SCOPE}'))
def asks_for(aitest_session: AgentSession, text: str, scope: str | None) -> None:
    where = scope_of(aitest_session, scope)
    asked = [question.message for call in where.tool_calls for question in call.elicitations]
    if not any(text.casefold() in message.casefold() for message in asked):
        questions = "; ".join(repr(message) for message in asked) or "no questions"
        fail(
            f'expected an MCP server to ask the user for "{text}" {where.name}, but it asked {questions}',
            aitest_session,
            where,
        )


@then(parsers.re(rf"the server reports progress{SCOPE}"))
def reports_progress(aitest_session: AgentSession, scope: str | None) -> None:
    where = scope_of(aitest_session, scope)
    if not any(call.progress for call in where.tool_calls):
        called = ", ".join(call.name for call in where.tool_calls) or "no tools"
        fail(
            f"expected an MCP server to report progress during a tool call {where.name}; the agent called {called}",
            aitest_session,
            where,
        )
