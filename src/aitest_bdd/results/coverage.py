"""Tool-surface coverage: for each MCP server, which of its tools the tests offered, called and exercised.

The tools an app offered its model have no known server: they are covered under their agent (`agent NAME (APP)`),
apart from the MCP servers and from `--aitest-min-tool-coverage`.

It is computed from the tests' results alone (their conversations' offered tools and tool calls), so a
serial run, a run under pytest-xdist and `aitest-bdd-merge` of shards come to the same coverage.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..conversation.turns import Conversation, OfferedTool
from .schema import TestResult
from .tool_lint import closed_values, lint
from .tool_surface import ParameterUse, ServerCoverage, ToolCoverage, ToolSurface

UNKNOWN_SERVER = "(server not recorded)"
_SHARE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<percent>%?)")

ToolKey = tuple[str, str]
"""A tool by (server label, tool name)."""


@dataclass(frozen=True)
class CallUse:
    """What coverage keeps of a tool call: whose tool it was, whether it succeeded, its top-level arguments."""

    tool: ToolKey
    turn: int
    succeeded: bool
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ConversationUse:
    """What coverage keeps of a conversation. `key` is the same for every test that holds it (a Python session's
    tests each hold the conversation so far)."""

    key: tuple[Any, ...]
    offered: frozenset[ToolKey]
    calls: tuple[CallUse, ...]
    definitions: frozenset[tuple[ToolKey, str]] = frozenset()
    """Each offered tool with its definition's digest."""
    app_agent: str | None = None
    """The agent, when an app ran it: its tools are grouped under it."""


@dataclass(frozen=True)
class TestToolUse:
    """What coverage keeps of a test."""

    __test__ = False

    nodeid: str
    turns: int
    conversations: tuple[ConversationUse, ...]


@dataclass
class SurfaceTally:
    """The tool use of every test (a test reported again replaces its earlier report) and every tool definition."""

    uses: dict[str, TestToolUse] = field(default_factory=dict)
    definitions: dict[str, OfferedTool] = field(default_factory=dict)

    def add(self, test: TestResult) -> None:
        """Note the test's offered tools and tool calls, and the definitions it carries."""
        self.uses[test.nodeid] = use_of(test)
        self.know(tool for conversation in test.conversations for tool in conversation.tools)

    def know(self, definitions: Iterable[OfferedTool]) -> None:
        """Keep each definition that carries its parameters, once by its digest."""
        for tool in definitions:
            if tool.definition and tool.parameters is not None and tool.definition not in self.definitions:
                self.definitions[tool.definition] = tool

    def surface(self) -> ToolSurface:
        """The coverage by server, the definitions and the lint's findings."""
        definitions = sorted(
            self.definitions.values(), key=lambda tool: (tool.server or "", tool.name, tool.definition)
        )
        findings, not_checked = lint(definitions)
        return ToolSurface(
            servers=coverage(self.uses.values(), definitions),
            definitions=definitions,
            findings=findings,
            not_checked=not_checked,
        )


def tool_surface(tests: list[TestResult], definitions: Iterable[OfferedTool] = ()) -> ToolSurface:
    """The tool surface of `tests`, with `definitions` known from elsewhere (the results file's own)."""
    tally = SurfaceTally()
    tally.know(definitions)
    for test in tests:
        tally.add(test)
    return tally.surface()


def leave_definitions_out(test: dict[str, Any]) -> None:
    """Drop the parameters and annotations of a test's offered tools (as JSON), which the run keeps once each."""
    for conversation in test.get("conversations", []):
        for tool in conversation.get("tools", []):
            if tool.get("definition"):
                tool["parameters"] = tool["annotations"] = None


def use_of(test: TestResult) -> TestToolUse:
    """What coverage needs of `test`."""
    return TestToolUse(
        test.nodeid,
        test.turn_count,
        tuple(_conversation_use(test, index, conversation) for index, conversation in enumerate(test.conversations)),
    )


def app_label(conversation: Conversation) -> str:
    """The group an app's tools are covered in: `agent banking (LangGraph graph)`."""
    return f"agent {conversation.agent} ({conversation.app})"


def _conversation_use(test: TestResult, index: int, conversation: Conversation) -> ConversationUse:
    unknown = UNKNOWN_SERVER if conversation.app is None else app_label(conversation)
    owner = {tool.name: tool.server or unknown for tool in conversation.tools}
    if test.kind == "python" and test.session:
        key: tuple[Any, ...] = (test.session, conversation.agent, conversation.attempt)
    else:
        key = (test.nodeid, index)
    calls = tuple(
        CallUse(
            (owner[call.name], call.name),
            turn.number,
            not call.is_error,
            {
                name: value if isinstance(value, str | int | float | bool) else None
                for name, value in call.arguments.items()
            },
        )
        for turn in conversation.turns
        for call in turn.tool_calls
        if call.name in owner and not call.stubbed  # a stub answered: the server's tool did not run
    )
    offered = frozenset((server, name) for name, server in owner.items())
    digests = frozenset(
        ((owner[tool.name], tool.name), tool.definition) for tool in conversation.tools if tool.definition
    )
    return ConversationUse(key, offered, calls, digests, conversation.agent if conversation.app is not None else None)


def coverage(uses: Iterable[TestToolUse], definitions: list[OfferedTool]) -> list[ServerCoverage]:
    """Each server's tools, sorted by server and name; a conversation's turn counts once, for the first test
    (in turns) that holds it."""
    offered: Counter[ToolKey] = Counter()
    calls: dict[ToolKey, list[tuple[str, CallUse]]] = defaultdict(list)
    seen_conversations: set[tuple[Any, ...]] = set()
    seen_turns: set[tuple[tuple[Any, ...], int]] = set()
    apps: dict[str, str] = {}
    keys_of: dict[str, set[ToolKey]] = defaultdict(set)
    for use in sorted(uses, key=lambda use: (use.turns, use.nodeid)):
        for conversation in use.conversations:
            for tool, digest in conversation.definitions:
                keys_of[digest].add(tool)
            if conversation.app_agent is not None:
                apps.update((server, conversation.app_agent) for server, _name in conversation.offered)
            if conversation.key not in seen_conversations:
                seen_conversations.add(conversation.key)
                offered.update(conversation.offered)
            new = {call.turn for call in conversation.calls if (conversation.key, call.turn) not in seen_turns}
            for call in conversation.calls:
                if call.turn in new:
                    calls[call.tool].append((use.nodeid, call))
            seen_turns.update((conversation.key, turn) for turn in new)
    schemas: dict[ToolKey, list[dict[str, Any]]] = defaultdict(list)
    for tool in definitions:
        for key in keys_of.get(tool.definition or "", ()):
            schemas[key].append(tool.parameters or {})
    servers: dict[str, list[ToolCoverage]] = defaultdict(list)
    for key in sorted(offered):
        made = calls.get(key, [])
        servers[key[0]].append(
            ToolCoverage(
                name=key[1],
                offered=offered[key],
                calls=len(made),
                succeeded=sum(call.succeeded for _nodeid, call in made),
                tests=sorted({nodeid for nodeid, _call in made}),
                parameters=_parameters(schemas.get(key, []), [call for _nodeid, call in made]),
            )
        )
    return [ServerCoverage(server=server, tools=tools, agent=apps.get(server)) for server, tools in servers.items()]


def _parameters(schemas: list[dict[str, Any]], calls: list[CallUse]) -> list[ParameterUse]:
    """The top-level parameters of the tool's definitions (all of them, when it had several), and their use."""
    found: dict[str, ParameterUse] = {}
    for schema in schemas:
        required = set(schema.get("required") or [])
        for name, spec in (schema.get("properties") or {}).items():
            known = found.setdefault(name, ParameterUse(name=name))
            known.required |= name in required
            values = closed_values(spec, schema) if isinstance(spec, dict) else None
            if values is not None:
                known.enum = [*(known.enum or []), *(value for value in values if value not in (known.enum or []))]
    for call in calls:
        for name, value in call.arguments.items():
            if name in found:
                parameter = found[name]
                parameter.calls += 1
                if parameter.enum and value in parameter.enum and value not in parameter.values_used:
                    parameter.values_used.append(value)
    for parameter in found.values():
        parameter.values_used.sort(key=(parameter.enum or []).index)
    return sorted(found.values(), key=lambda parameter: parameter.name)


def parse_share(text: str, given: str) -> float:
    """`80%` or `0.8` → 0.8: a share above 0 and at most 1. `given` says where the text came from."""
    found = _SHARE.fullmatch(text.strip())
    share = float(found["number"]) / (100 if found["percent"] else 1) if found else 0.0
    if not 0 < share <= 1:
        raise ValueError(f"{given} is not a share of tools: write one above 0 and at most 1 (100%), such as 80% or 0.8")
    return share


def coverage_lines(surface: ToolSurface) -> list[str]:
    """One line per server: `bank: 7 of 9 tools exercised; never: close_account, export_csv`."""
    lines = []
    for server in surface.servers:
        line = f"{server.server}: {server.exercised} of {len(server.tools)} tools exercised"
        never = [
            tool.name + (" (every call failed)" if tool.calls else "") for tool in server.tools if not tool.exercised
        ]
        lines.append(line + (f"; never: {', '.join(never)}" if never else ""))
    return lines


def coverage_shortfalls(surface: ToolSurface, share: float) -> list[str]:
    """Why the run fails `--aitest-min-tool-coverage`: each MCP server whose share of exercised tools is below it
    (an app's tools, whose server is not known, do not count)."""
    return [
        f"MCP server {server.server!r} exercised {server.exercised} of {len(server.tools)} tools "
        f"({server.share:.0%}), below --aitest-min-tool-coverage {share:.0%}: never exercised {', '.join(server.never)}"
        for server in surface.servers
        if server.agent is None and server.share < share
    ]


def ungated_note(surface: ToolSurface) -> str | None:
    """What `--aitest-min-tool-coverage` leaves out: the tools of agents run by apps; None when there are none."""
    agents = [server.agent for server in surface.servers if server.agent is not None]
    if not agents:
        return None
    return (
        "--aitest-min-tool-coverage counts MCP servers only, not the tools an app offered its model "
        f"(agent{'s' * (len(agents) > 1)} {', '.join(agents)}): their servers are not known"
    )


def lint_line(surface: ToolSurface) -> str | None:
    """How many findings the tool lint has, on how many tools; None when no tool was offered."""
    if not surface.findings:
        checked = len({(tool.server, tool.name) for tool in surface.definitions})
        return f"tool lint: no findings on {checked} tool{'s' * (checked != 1)}" if checked else None
    tools = {(finding.server, finding.tool) for finding in surface.findings}
    count = len(surface.findings)
    return (
        f"tool lint: {count} finding{'s' * (count != 1)} on {len(tools)} tool{'s' * (len(tools) != 1)} "
        "(see the report, or tool_surface.findings in --aitest-json)"
    )
