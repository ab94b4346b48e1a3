"""Steps about the tools the agent called: names, arguments, order, counts and errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_bdd import parsers, then

from ...conversation.turns import ToolCall
from ..matching import PatternError, mismatches
from ..scopes import SCOPE, Scope, scope_of
from . import fail, listed, pairs

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

TOOL = r'"(?P<tool>[^"]*)"'
COUNT_WORDS = {"once": 1, "twice": 2}


def _names(calls: list[ToolCall]) -> str:
    return ", ".join(call.name for call in calls) or "no tools"


def _calls(session: AgentSession, scope_words: str | None) -> tuple[Scope, list[ToolCall]]:
    scope = scope_of(session, scope_words)
    return scope, scope.tool_calls


def _args(call: ToolCall) -> str:
    return json.dumps(call.arguments, ensure_ascii=False, sort_keys=True) if call.arguments else call.raw_arguments


@then(parsers.re(rf"the agent calls {TOOL}{SCOPE}"))
def calls(aitest_session: AgentSession, tool: str, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    if not any(call.name == tool for call in made):
        fail(f'expected the agent to call "{tool}" {where.name}, but it called {_names(made)}', aitest_session, where)


@then(parsers.re(rf"the agent does not call {TOOL}{SCOPE}"))
def does_not_call(aitest_session: AgentSession, tool: str, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    count = sum(call.name == tool for call in made)
    if count:
        fail(
            f'expected the agent not to call "{tool}" {where.name}, but it called it {count} time(s)',
            aitest_session,
            where,
        )


@then(parsers.re(rf"the agent calls no tools{SCOPE}"))
def calls_no_tools(aitest_session: AgentSession, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    if made:
        fail(f"expected no tool calls {where.name}, but the agent called {_names(made)}", aitest_session, where)


def _check_arguments(session: AgentSession, tool: str, scope: str | None, expected: dict[str, str]) -> None:
    where, made = _calls(session, scope)
    candidates = [call for call in made if call.name == tool]
    if not candidates:
        fail(f'expected the agent to call "{tool}" {where.name}, but it called {_names(made)}', session, where)
    try:
        results = [(call, mismatches(expected, call.arguments)) for call in candidates]
    except PatternError as error:
        fail(str(error), session, where)
    if any(not problems for _, problems in results):
        return
    wanted = ", ".join(f"{key}={value}" for key, value in expected.items())
    details = "\n".join(
        f"  call {index} {_args(call)}:\n" + "\n".join(f"    - {problem}" for problem in problems)
        for index, (call, problems) in enumerate(results, 1)
    )
    closest = min((problems for _, problems in results), key=len)
    which = f'the call to "{tool}"' if len(results) == 1 else f'the closest of {len(results)} calls to "{tool}"'
    fail(
        f"{'; '.join(closest)} ({which} {where.name})\n"
        f'expected a call to "{tool}" {where.name} with {wanted}; no call matched:\n{details}',
        session,
        where,
    )


@then(parsers.re(rf"the agent calls {TOOL}{SCOPE} with:"))
def calls_with_table(aitest_session: AgentSession, tool: str, scope: str | None, datatable: list[list[str]]) -> None:
    step = f'the agent calls "{tool}"{scope or ""} with:'
    _check_arguments(aitest_session, tool, scope, pairs(datatable, ("argument", "value"), step, "| amount | 200 |"))


@then(
    parsers.re(
        rf'the agent calls {TOOL} with (?:"(?P<quoted_arg>[^"]+)"|(?P<arg>[\w.]+)) '
        rf'(?:"(?P<quoted_value>[^"]*)"|(?P<value>\S+)){SCOPE}'
    )
)
def calls_with_argument(
    aitest_session: AgentSession,
    tool: str,
    quoted_arg: str | None,
    arg: str | None,
    quoted_value: str | None,
    value: str | None,
    scope: str | None,
) -> None:
    name = quoted_arg if quoted_arg is not None else arg
    wanted = quoted_value if quoted_value is not None else value
    _check_arguments(aitest_session, tool, scope, {str(name): str(wanted)})


@then(
    parsers.re(
        rf"the agent calls {TOOL} (?P<mode>exactly |at least |at most )?"
        rf"(?P<count>once|twice|\d+ times?){SCOPE}"
    )
)
def calls_count(aitest_session: AgentSession, tool: str, mode: str | None, count: str, scope: str | None) -> None:
    wanted = COUNT_WORDS.get(count) or int(count.split()[0])
    rule = (mode or "exactly ").strip()
    where, made = _calls(aitest_session, scope)
    actual = sum(call.name == tool for call in made)
    ok = {"exactly": actual == wanted, "at least": actual >= wanted, "at most": actual <= wanted}[rule]
    if not ok:
        fail(
            f'expected "{tool}" to be called {rule} {wanted} time(s) {where.name}, but it was called {actual} time(s)',
            aitest_session,
            where,
        )


@then(parsers.re(rf'the agent calls {TOOL} before "(?P<later>[^"]*)"{SCOPE}'))
def calls_before(aitest_session: AgentSession, tool: str, later: str, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    names = [call.name for call in made]
    if tool not in names or later not in names:
        missing = [name for name in (tool, later) if name not in names]
        fail(
            f'expected "{tool}" before "{later}" {where.name}, but "{missing[0]}" was not called '
            f"(calls: {_names(made)})",
            aitest_session,
            where,
        )
    if names.index(tool) > len(names) - 1 - names[::-1].index(later):
        fail(
            f'expected "{tool}" before "{later}" {where.name}, but the order was: {_names(made)}', aitest_session, where
        )


def _in_order(expected: list[str], names: list[str]) -> bool:
    remaining = iter(names)
    return all(name in remaining for name in expected)


@then(parsers.re(rf"the agent calls (?P<exact>exactly )?these tools in order{SCOPE}:"))
def calls_in_order(
    aitest_session: AgentSession, exact: str | None, scope: str | None, datatable: list[list[str]]
) -> None:
    expected = listed(datatable, "tool names")
    where, made = _calls(aitest_session, scope)
    names = [call.name for call in made]
    ok = names == expected if exact else _in_order(expected, names)
    if not ok:
        how = "exactly these tools, in this order" if exact else "these tools in this order (others may come between)"
        fail(
            f"expected {how} {where.name}: {', '.join(expected)}; but the agent called: {_names(made)}",
            aitest_session,
            where,
        )


@then(parsers.re(rf"the agent makes at most (?P<limit>\d+) tool calls?{SCOPE}"))
def at_most_calls(aitest_session: AgentSession, limit: str, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    if len(made) > int(limit):
        fail(
            f"expected at most {limit} tool call(s) {where.name}, but the agent made {len(made)}: {_names(made)}",
            aitest_session,
            where,
        )


@then(parsers.re(rf"every tool call succeeds{SCOPE}"))
def every_call_succeeds(aitest_session: AgentSession, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    failed = [call for call in made if call.is_error]
    if failed:
        listing = "\n".join(f"  {call.name}({_args(call)}): {call.result_text}" for call in failed)
        first = failed[0]
        gist = next(iter(first.result_text.strip().splitlines()), "an error")
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        fail(
            f"expected every tool call {where.name} to succeed, but {first.name} failed: {gist}{more}\n"
            f"the failed calls:\n{listing}",
            aitest_session,
            where,
        )


@then(parsers.re(rf"the tool call to {TOOL} fails{SCOPE}"))
def call_fails(aitest_session: AgentSession, tool: str, scope: str | None) -> None:
    where, made = _calls(aitest_session, scope)
    calls_to_tool = [call for call in made if call.name == tool]
    if not calls_to_tool:
        fail(f'expected a failing call to "{tool}" {where.name}, but it was not called', aitest_session, where)
    if not any(call.is_error for call in calls_to_tool):
        fail(f'expected the call to "{tool}" {where.name} to fail, but it succeeded', aitest_session, where)


def _results_of(session: AgentSession, tool: str, scope: str | None, wanted: str) -> tuple[Scope, list[ToolCall]]:
    """The calls to `tool` in scope; a failure that names `wanted` when there is none."""
    where, made = _calls(session, scope)
    calls_to_tool = [call for call in made if call.name == tool]
    if not calls_to_tool:
        fail(f'expected a result of "{tool}" {where.name} that {wanted}, but it was not called', session, where)
    return where, calls_to_tool


@then(parsers.re(rf'the tool result of {TOOL} contains "(?P<text>[^"]*)"{SCOPE}'))
def result_contains(aitest_session: AgentSession, tool: str, text: str, scope: str | None) -> None:
    """The text the model read for a result of the tool (embedded resources' text included) contains `text`,
    ignoring case."""
    where, results = _results_of(aitest_session, tool, scope, f'contains "{text}"')
    if not any(text.casefold() in call.result_text.casefold() for call in results):
        fail(
            f'expected the result of "{tool}" {where.name} to contain "{text}" (ignoring case), but it did not',
            aitest_session,
            where,
        )


@then(parsers.re(rf'the tool result of {TOOL} contains an image(?: of type "(?P<mime_type>[^"]+)")?{SCOPE}'))
def result_contains_image(aitest_session: AgentSession, tool: str, mime_type: str | None, scope: str | None) -> None:
    """A result of the tool holds an image block (of that MIME type, when given)."""
    kind = f'an image of type "{mime_type}"' if mime_type else "an image"
    where, results = _results_of(aitest_session, tool, scope, f"contains {kind}")
    images = [block for call in results for block in call.content if block.type == "image"]
    if not any(mime_type is None or block.mime_type == mime_type for block in images):
        found = ", ".join(str(block.mime_type) for block in images) if images else None
        has = f"it has images of type {found}" if found else "it has no image"
        fail(f'expected the result of "{tool}" {where.name} to contain {kind}, but {has}', aitest_session, where)
