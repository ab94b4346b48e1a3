"""Steps about what MCP servers ask during tool calls: the user's answers to their questions (elicitation), and
checks on the questions asked and the progress reported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_bdd import given, parsers, then

from ..scopes import SCOPE, scope_of
from . import fail, pairs

if TYPE_CHECKING:
    from ...conversation.session import AgentSession


@given("the user will answer the server's question with:")
def answers_with(aitest_session: AgentSession, datatable: list[list[str]]) -> None:
    """The user answers the questions MCP servers ask (elicitation) with these field values, converted to the
    types each question asks for."""
    step = "the user will answer the server's question with:"
    aitest_session.user_answers.answer_with(pairs(datatable, ("field", "value"), step, "| priority | high |"))


@given("the user declines the server's questions")
def declines(aitest_session: AgentSession) -> None:
    """The user declines every question MCP servers ask."""
    aitest_session.user_answers.refuse("decline")


@given("the user cancels the server's questions")
def cancels(aitest_session: AgentSession) -> None:
    """The user cancels every question MCP servers ask."""
    aitest_session.user_answers.refuse("cancel")


@then(parsers.re(rf'the server asks the user for "(?P<text>[^"]*)"{SCOPE}'))
def asks_for(aitest_session: AgentSession, text: str, scope: str | None) -> None:
    """An MCP server asked the user a question that contains the text (any case) during a tool call."""
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
    """An MCP server sent progress notifications during a tool call."""
    where = scope_of(aitest_session, scope)
    if not any(call.progress for call in where.tool_calls):
        called = ", ".join(call.name for call in where.tool_calls) or "no tools"
        fail(
            f"expected an MCP server to report progress during a tool call {where.name}; the agent called {called}",
            aitest_session,
            where,
        )
