"""MCP prompts and resources: the user runs a prompt, a resource is put in the context, what the servers offer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pytest
from pytest_bdd import given, parsers, then, when

from ...conversation.mcp_context import OfferError, named_server, offered
from ...conversation.transcript import format_turn
from ...errors import ToolServerError
from ...recording.cassette import RecordingMismatch
from ...tools.offers import Listing, ListMethod

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
    rows = [row for row in datatable or [] if row]
    if rows and [cell.strip().casefold() for cell in rows[0][:2]] == ["argument", "value"]:
        rows = rows[1:]
    if not rows or any(len(row) < 2 for row in rows):
        pytest.fail(
            f'the step "runs the prompt {name} with:" needs a table of argument and value rows, e.g. | account | '
            "checking |",
            pytrace=False,
        )
    _run_prompt(aitest_session, name, {row[0].strip(): row[1].strip() for row in rows}, server)


@given(parsers.re(rf'the resource "(?P<uri>[^"]*)"{FROM} is in the context'))
def resource_in_context(aitest_session: AgentSession, uri: str, server: str | None) -> None:
    """Read the MCP resource URI (resources/read) and put it in the conversation before the next user message."""
    _asked(lambda: aitest_session.add_resource(uri, server))


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
    turn = _asked(lambda: session.run_prompt(name, arguments, server))
    if turn.error:
        pytest.fail(f"the agent could not answer: {turn.error}\n\n{format_turn(turn, show_error=False)}", pytrace=False)


def _check_offered(session: AgentSession, method: ListMethod, what: str, key: str, server: str | None) -> None:
    listing = _asked(lambda: session.listing(method))
    if server is not None:
        _asked(lambda: named_server(list(listing.servers), server, session.agent.name))
    servers = {label: items for label, items in listing.servers.items() if server in (None, label)}
    if not any(item.key == key for items in servers.values() for item in items):
        who = f"MCP server {server!r}" if server else f"an MCP server of agent {session.agent.name!r}"
        plural = "prompts" if what == "prompt" else f"{what}s"
        pytest.fail(
            f'expected {who} to offer the {what} "{key}", but none does; the {plural} offered: '
            f"{offered(Listing(servers=servers))}",
            pytrace=False,
        )


def _asked(ask: Callable[[], T]) -> T:
    """What `ask` returns; a prompt or resource not offered, a server's failure or a recording that does not fit
    fails the step with its message."""
    try:
        return ask()
    except (OfferError, ToolServerError, RecordingMismatch) as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)
