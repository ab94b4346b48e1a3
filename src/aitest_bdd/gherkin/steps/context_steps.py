"""MCP prompts and resources: the user runs a prompt, a resource is put in the context, what the servers offer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest
from pytest_bdd import given, parsers, then, when

from ...conversation.mcp_context import OfferError, offered
from ...conversation.transcript import format_turn
from ...errors import ToolServerError
from ...recording.cassette import RecordingMismatch
from ...tools.offers import OfferMethod
from . import fail, pairs

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

FROM = r'(?: from the server "(?P<server>[^"]*)")?'
SERVER = r'the server(?: "(?P<server>[^"]*)")?'
T = TypeVar("T")


@when(parsers.re(rf'the user runs the prompt "(?P<name>[^"]*)"{FROM}'))
def runs_prompt(aitest_session: AgentSession, name: str, server: str | None) -> None:
    """Run the MCP prompt NAME (prompts/get) as the user's turn; the agent answers it."""
    _run_prompt(aitest_session, name, {}, server)


@when(parsers.re(rf'the user runs the prompt "(?P<name>[^"]*)"{FROM} with:'))
def runs_prompt_with(aitest_session: AgentSession, name: str, server: str | None, datatable: list[list[str]]) -> None:
    """Run the MCP prompt NAME with the arguments of the table: | argument | value | rows."""
    step = f'the user runs the prompt "{name}"' + (f' from the server "{server}"' if server else "") + " with:"
    arguments = pairs(datatable, ("argument", "value"), step, "| account | checking |")
    _run_prompt(aitest_session, name, arguments, server)


@given(parsers.re(rf'the resource "(?P<uri>[^"]*)"{FROM} is in the context'))
def resource_in_context(aitest_session: AgentSession, uri: str, server: str | None) -> None:
    """Read the MCP resource URI (resources/read) and put it in the conversation before the next user message."""
    _asked(aitest_session, lambda: aitest_session.add_resource(uri, server))


@then(parsers.re(rf'{SERVER} offers the prompt "(?P<key>[^"]*)"'))
def offers_prompt(aitest_session: AgentSession, server: str | None, key: str) -> None:
    """Some MCP server of the agent (or the server NAME) lists the prompt (prompts/list)."""
    _check_offered(aitest_session, "prompts/list", "prompt", key, server)


@then(parsers.re(rf'{SERVER} offers the resource "(?P<key>[^"]*)"'))
def offers_resource(aitest_session: AgentSession, server: str | None, key: str) -> None:
    """Some MCP server of the agent (or the server NAME) lists the resource (resources/list)."""
    _check_offered(aitest_session, "resources/list", "resource", key, server)


@then(parsers.re(rf'{SERVER} offers the resource template "(?P<key>[^"]*)"'))
def offers_resource_template(aitest_session: AgentSession, server: str | None, key: str) -> None:
    """Some MCP server of the agent (or the server NAME) lists the URI template (resources/templates/list)."""
    _check_offered(aitest_session, "resources/templates/list", "resource template", key, server)


def _run_prompt(session: AgentSession, name: str, arguments: dict[str, str], server: str | None) -> None:
    turn = _asked(session, lambda: session.run_prompt(name, arguments, server))
    if turn.error:
        pytest.fail(f"the agent could not answer: {turn.error}\n\n{format_turn(turn, show_error=False)}", pytrace=False)


def _check_offered(session: AgentSession, method: OfferMethod, what: str, key: str, server: str | None) -> None:
    offers = _asked(session, lambda: session.offers(method, server))
    if not any(item.key == key for items in offers.servers.values() for item in items):
        who = f"MCP server {server!r}" if server else f"an MCP server of agent {session.agent.name!r}"
        plural = "prompts" if what == "prompt" else f"{what}s"
        _fail(
            f'expected {who} to offer the {what} "{key}", but {"it does not" if server else "none does"}; the '
            f"{plural} offered: {offered(offers)}",
            session,
        )


def _asked(session: AgentSession, ask: Callable[[], T]) -> T:
    """What `ask` returns; a prompt or resource not offered, a server's failure or a recording that does not fit
    fails the step with its message."""
    try:
        return ask()
    except (OfferError, ToolServerError, RecordingMismatch) as error:
        problem = str(error)
    _fail(problem, session)


def _fail(problem: str, session: AgentSession) -> NoReturn:
    """Fail the step with `problem`, and the last turn's transcript when there has been a turn."""
    if session.turns:
        fail(problem, session)
    pytest.fail(problem, pytrace=False)
