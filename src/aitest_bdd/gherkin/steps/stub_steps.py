"""Steps that stub tools and inject faults for one scenario: what a tool returns or fails with, how long it takes,
tools no server has, and MCP servers that are down (see docs/tool-stubs.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from pytest_bdd import given, parsers

from ...tools.stubs import answer_from_fields, answer_from_text, failure
from . import pairs

if TYPE_CHECKING:
    from ...conversation.session import AgentSession
    from ...tools.answers import ToolAnswer

TOOL = r'the tool "(?P<tool>[^"]*)"'
THEN = r"(?P<then>then )?"


def _own_loop(session: AgentSession) -> None:
    """Fail the step when an app runs the agent: its tools are called by the app, out of the stubs' reach."""
    app = session.agent.app
    if app is not None:
        pytest.fail(
            f"tool stubs and faults need aitest-bdd's own tool loop: agent {session.agent.name!r} is run by its "
            f"{app.label}, which calls its tools itself (stub them in the app, e.g. with a test MCP server)",
            pytrace=False,
        )


def _known(session: AgentSession, tool: str) -> None:
    """Fail the step when the agent has no tool `tool`: no server offers it and the scenario has not declared it."""
    _own_loop(session)
    names = [offered.name for offered in session.conversation.tools] + list(session.tool_stubs.declared)
    if tool not in names:
        pytest.fail(
            f'agent {session.agent.name!r} has no tool "{tool}" (its tools: {", ".join(names) or "none"}): fix the '
            f'name, or declare a tool no server has with Given the tool "{tool}" with the schema:',
            pytrace=False,
        )


def _stub(session: AgentSession, tool: str, answer: ToolAnswer, then: str | None) -> None:
    _known(session, tool)
    session.tool_stubs.returns(tool, answer, then=bool(then))


@given(parsers.re(rf"{TOOL} {THEN}returns:"))
def returns_block(
    aitest_session: AgentSession,
    tool: str,
    then: str | None,
    docstring: str | None = None,
    datatable: list[list[str]] | None = None,
) -> None:
    """The tool answers with the docstring (a JSON object becomes structured content, other text stays text) or
    with a table of | field | value | rows (an object)."""
    if docstring is not None:
        answer = answer_from_text(docstring)
    else:
        step = f'the tool "{tool}" returns:'
        answer = answer_from_fields(pairs(datatable, ("field", "value"), step, "| balance | 1500.0 |"))
    _stub(aitest_session, tool, answer, then)


@given(parsers.re(rf'{TOOL} {THEN}returns "(?P<text>[^"]*)"'))
def returns_text(aitest_session: AgentSession, tool: str, then: str | None, text: str) -> None:
    """The tool answers with this text."""
    _stub(aitest_session, tool, answer_from_text(text), then)


@given(parsers.re(rf'{TOOL} returns "(?P<first>[^"]*)" the first time, and "(?P<after>[^"]*)" after that'))
def returns_in_turn(aitest_session: AgentSession, tool: str, first: str, after: str) -> None:
    """The tool's first call answers `first`, every later call `after`."""
    _stub(aitest_session, tool, answer_from_text(first), None)
    _stub(aitest_session, tool, answer_from_text(after), "then ")


@given(parsers.re(rf'{TOOL} {THEN}fails with "(?P<text>[^"]*)"'))
def fails_with(aitest_session: AgentSession, tool: str, then: str | None, text: str) -> None:
    """The tool answers with an MCP error result (isError) with this text."""
    _stub(aitest_session, tool, failure(text), then)


@given(parsers.re(rf"{TOOL} takes (?P<seconds>\d+(?:\.\d+)?) seconds?"))
def takes(aitest_session: AgentSession, tool: str, seconds: str) -> None:
    """Each call of the tool (stubbed or real) answers this much later."""
    _known(aitest_session, tool)
    aitest_session.tool_stubs.delay(tool, float(seconds))


@given(parsers.re(rf'{TOOL}(?: described as "(?P<description>[^"]*)")? with the schema:'))
def declares(aitest_session: AgentSession, tool: str, description: str | None, docstring: str | None = None) -> None:
    """Offer a tool no server has, with the docstring as its JSON input schema."""
    _own_loop(aitest_session)
    step = f'Given the tool "{tool}" with the schema:'
    servers = [offered.server for offered in aitest_session.conversation.tools if offered.name == tool]
    if servers:
        pytest.fail(
            f'MCP server {servers[0]!r} already offers the tool "{tool}", with its own schema: leave out "{step}", '
            f'and stub it with Given the tool "{tool}" returns:',
            pytrace=False,
        )
    problem = None
    try:
        aitest_session.tool_stubs.declare(tool, description or "", json.loads(docstring or ""))
    except ValueError as error:  # also json.JSONDecodeError
        problem = str(error)
    if problem is not None:
        pytest.fail(
            f'the step "{step}" needs a JSON schema of the tool\'s arguments in a docstring below it, e.g. '
            f'{{"type": "object", "properties": {{"id": {{"type": "string"}}}}}} ({problem})',
            pytrace=False,
        )


@given(parsers.re(r'the MCP server "(?P<server>[^"]*)" is down'))
def server_down(aitest_session: AgentSession, server: str) -> None:
    """The agent runs as if the MCP server had failed to start: its tools are not offered, and a call of one
    gets the error of a tool that does not exist."""
    _own_loop(aitest_session)
    labels = [config.label for config in aitest_session.agent.mcp_servers]
    if server not in labels:
        pytest.fail(
            f'agent {aitest_session.agent.name!r} has no MCP server "{server}" (its servers: '
            f"{', '.join(labels) or 'none'})",
            pytrace=False,
        )
    aitest_session.tool_stubs.take_down(server)
    conversation = aitest_session.conversation
    conversation.down_servers = list(aitest_session.tool_stubs.down)
    conversation.tools = [tool for tool in conversation.tools if tool.server not in conversation.down_servers]
