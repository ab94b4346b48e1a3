"""Choosing the agent, and what the user says."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_bdd import given, parsers, when

from ...conversation.transcript import format_turn
from ..binding import start_session

if TYPE_CHECKING:
    from ...conversation.session import AgentSession


@given(parsers.re(r'the agent "(?P<name>[^"]*)"'))
def the_agent(request: pytest.FixtureRequest, name: str) -> None:
    start_session(request, name)


@given(parsers.re(r'the agent "(?P<name>[^"]*)" using model "(?P<model>[^"]*)"'))
def the_agent_using_model(request: pytest.FixtureRequest, name: str, model: str) -> None:
    start_session(request, name, model=model)


@when(parsers.re(r'the user says "(?P<message>.*)"'))
def the_user_says(aitest_session: AgentSession, message: str) -> None:
    run_turn(aitest_session, message)


@when("the user says:")
def the_user_says_docstring(aitest_session: AgentSession, docstring: str) -> None:
    run_turn(aitest_session, docstring)


def run_turn(session: AgentSession, message: str) -> None:
    """Run a turn; a turn that fails fails the step with its transcript."""
    turn = session.say(message)
    if turn.error:
        pytest.fail(f"the agent could not answer: {turn.error}\n\n{format_turn(turn, show_error=False)}", pytrace=False)
