"""Tool stubs and faults a scenario sets: what a tool answers instead of its server, how long it takes, tools no
server has, and servers that are down.

Stubs act in front of the MCP servers, for one conversation: a stubbed tool keeps the name, description and
input schema its server gives it, and its arguments are checked against that schema as a server would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from jsonschema import exceptions as schema_errors
from jsonschema.validators import validator_for

from ..errors import ToolServerError, TurnError
from .answers import ToolAnswer

RETURNS_STEP = 'Given the tool "{name}" returns:'


def answer_from_text(text: str) -> ToolAnswer:
    """A result given as text: a JSON object becomes the result's structured content (and its JSON its text);
    anything else is the result's text as it is."""
    text = text.strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return ToolAnswer(text=text)
    if not isinstance(value, dict):
        return ToolAnswer(text=text)
    return ToolAnswer(text=json.dumps(value, ensure_ascii=False), structured_content=value)


def answer_from_fields(fields: dict[str, str]) -> ToolAnswer:
    """A result given as field values: an object whose values are lists, objects, or numbers, true, false and null
    written as JSON writes them (`7`, `12.5`); any other value is text (`7.00` too, to keep its digits)."""
    return answer_from_text(json.dumps({name: _json_or_text(value) for name, value in fields.items()}))


def failure(text: str) -> ToolAnswer:
    """A tool's failure: an MCP error result (`isError`) with `text`."""
    return ToolAnswer(text=text, is_error=True)


def _json_or_text(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return value
    return parsed if isinstance(parsed, dict | list) or json.dumps(parsed) == value else value


def invalid_arguments(name: str, schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """Why `arguments` do not fit the input `schema` of tool `name`, as a server says it; None when they fit."""
    try:
        validator_for(schema).check_schema(schema)
        validator = validator_for(schema)(schema)
        error = schema_errors.best_match(validator.iter_errors(arguments))
    except Exception as broken:  # a schema jsonschema cannot use: its own errors, or `referencing`'s for a bad $ref
        raise ToolServerError(
            f"the input schema of tool {name!r} cannot be used to check a stubbed call's arguments ({broken}): fix "
            "the tool's schema, or declare the tool with a schema that works"
        ) from None
    if error is None:
        return None
    where = "".join(f"[{part!r}]" for part in error.absolute_path)
    return f"Input validation error: {error.message}" + (f" (at arguments{where})" if where else "")


class ToolStubs:
    """The stubs and faults of one conversation: they hold for it alone, whatever the scope of its servers."""

    def __init__(self) -> None:
        self.answers: dict[str, list[ToolAnswer]] = {}
        """By tool, its answers in order: call N gets answer N, and the last repeats."""
        self.delays: dict[str, float] = {}
        """By tool, the seconds each call waits before it answers."""
        self.declared: dict[str, dict[str, Any]] = {}
        """Tools no server has, in the OpenAI `tools` format."""
        self.down: list[str] = []
        """The labels of the MCP servers that are down: their tools are not offered."""
        self._calls: dict[str, int] = {}

    def returns(self, name: str, answer: ToolAnswer, then: bool = False) -> None:
        """Let the tool `name` answer `answer`: from now on, or (`then`) after the answers given before it."""
        answer = answer.model_copy(update={"stubbed": True})
        if then:
            self.answers.setdefault(name, []).append(answer)
        else:
            self.answers[name] = [answer]
            self._calls[name] = 0

    def delay(self, name: str, seconds: float) -> None:
        """Make each call of `name` take `seconds` longer."""
        self.delays[name] = seconds

    def declare(self, name: str, description: str, schema: Any) -> None:
        """Offer the tool `name`, which no server has, with this description and input schema; a ValueError that
        says why when `schema` is not a JSON schema of an object's properties."""
        if not isinstance(schema, dict):
            raise ValueError(f"an input schema is a JSON object, not {type(schema).__name__}")
        try:
            validator_for(schema).check_schema(schema)
        except schema_errors.SchemaError as error:
            raise ValueError(f"not a valid JSON schema: {error.message}") from None
        function = {"name": name, "description": description, "parameters": schema}
        self.declared[name] = {"type": "function", "function": function}

    def take_down(self, server: str) -> None:
        """Act as if the MCP server labelled `server` had not started: its tools are not offered."""
        if server not in self.down:
            self.down.append(server)

    def owners(self, owners: dict[str, str]) -> dict[str, str | None]:
        """Each tool offered now, with its server's label (None for a declared tool), from the servers' `owners`."""
        offered: dict[str, str | None] = {name: label for name, label in owners.items() if label not in self.down}
        return offered | dict.fromkeys(self.declared)

    def offered(self, tools: list[dict[str, Any]], owners: dict[str, str]) -> list[dict[str, Any]]:
        """The servers' `tools` (OpenAI format) without those of servers that are down, and the declared tools."""
        up = [tool for tool in tools if owners.get(tool["function"]["name"]) not in self.down]
        return up + [tool for name, tool in self.declared.items() if name not in owners]

    def is_stubbed(self, name: str) -> bool:
        """Whether calls of `name` are answered here rather than by a server."""
        return name in self.answers or name in self.declared

    async def call(
        self,
        name: str,
        arguments: dict[str, Any],
        schema: dict[str, Any],
        server: str | None,
        call_timeout: float | None,
        real: Callable[[], Awaitable[ToolAnswer]],
        wait: bool = True,
    ) -> ToolAnswer:
        """The answer to a call: a stubbed one (when its arguments fit `schema`), or the `real` server's; after the
        tool's delay (unless not to `wait`: a replay keeps the recorded duration), within the server's
        `call_timeout` (when it has a delay and a server)."""
        started = time.perf_counter()
        delay = self.delays.get(name, 0.0) if wait else 0.0
        try:
            with anyio.fail_after(call_timeout if delay and call_timeout else None):
                await anyio.sleep(delay)
                answer = self._stubbed(name, arguments, schema, server) if self.is_stubbed(name) else await real()
        except TimeoutError:
            raise ToolServerError(
                f"tool {name!r} on MCP server {server!r} did not answer within call_timeout={call_timeout:g}s (it "
                "takes longer, as the scenario says): raise MCPServer(call_timeout=...), or shorten the delay"
            ) from None
        if answer.stubbed or delay:
            answer = answer.model_copy(update={"duration_ms": (time.perf_counter() - started) * 1000})
        return answer

    def _stubbed(self, name: str, arguments: dict[str, Any], schema: dict[str, Any], server: str | None) -> ToolAnswer:
        problem = invalid_arguments(name, schema, arguments)
        if problem is not None:
            return ToolAnswer(text=problem, is_error=True, server=server, stubbed=True)
        answers = self.answers.get(name)
        if not answers:
            raise TurnError(
                f"the agent called {name!r}, which the scenario declares without a result: add "
                f'{RETURNS_STEP.format(name=name)} (or fails with "...") before the turn'
            )
        number = self._calls.get(name, 0)
        self._calls[name] = number + 1
        return answers[min(number, len(answers) - 1)].model_copy(update={"server": server})
