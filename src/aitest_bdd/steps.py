"""The Gherkin steps every feature can use.

Every Then step is about the last turn.
"""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, then, when

from .agents import start_session
from .session import AgentSession
from .transcript import format_turn

QUOTED = r'"(?P<{}>[^"]*)"'


def _re(template: str, *names: str) -> parsers.re:
    return parsers.re(template.format(*(QUOTED.format(name) for name in names)))


def fail(problem: str, session: AgentSession) -> None:
    """Fail the step with `problem` and the transcript of the last turn."""
    pytest.fail(f"{problem}\n\n{format_turn(session.last_turn)}", pytrace=False)


@given(_re("the agent {}", "name"), target_fixture="aitest_session")
def the_agent(request: pytest.FixtureRequest, name: str) -> AgentSession:
    return start_session(request, name)


@given(_re("the agent {} using model {}", "name", "model"), target_fixture="aitest_session")
def the_agent_using_model(request: pytest.FixtureRequest, name: str, model: str) -> AgentSession:
    return start_session(request, name, model=model)


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
        pytest.fail(f"the agent could not answer: {turn.error}\n\n{format_turn(turn)}", pytrace=False)


@then(_re("the agent calls {}", "tool"))
def the_agent_calls(aitest_session: AgentSession, tool: str) -> None:
    turn = aitest_session.last_turn
    if not turn.tool_was_called(tool):
        called = ", ".join(call.name for call in turn.tool_calls) or "no tools"
        fail(f'expected the agent to call "{tool}" in turn {turn.number}, but it called {called}', aitest_session)


@then(_re("the agent does not call {}", "tool"))
def the_agent_does_not_call(aitest_session: AgentSession, tool: str) -> None:
    turn = aitest_session.last_turn
    count = turn.tool_call_count(tool)
    if count:
        fail(
            f'expected the agent not to call "{tool}" in turn {turn.number}, but it called it {count} time(s)',
            aitest_session,
        )


@then(_re("the response contains {}", "text"))
def the_response_contains(aitest_session: AgentSession, text: str) -> None:
    turn = aitest_session.last_turn
    if text.casefold() not in turn.final_response.casefold():
        fail(f'expected the response of turn {turn.number} to contain "{text}" (ignoring case)', aitest_session)
