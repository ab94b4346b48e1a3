"""Scripted OpenAI-compatible chat-completions server, for hermetic tests and offline demos.

A :class:`Script` maps user messages to canned assistant replies (text, tool calls or faults) and
:class:`ScriptedModelServer` serves it over real HTTP, so any OpenAI client can talk to it::

    with ScriptedModelServer(Script.load("script.yaml")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")

The server keeps no conversation state: it reads the position in the conversation from the request's
messages, so many conversations can run against it at once.
Serve a script from a shell with ``python -m aitest_bdd.testing.scripted_model SCRIPT``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aitest_bdd.conversation.turns import SCRIPTED_MODEL_PREFIX
from aitest_bdd.gherkin.matching import MISSING, lookup
from aitest_bdd.models.sse import chat_events, response_events

MODEL_ID = SCRIPTED_MODEL_PREFIX
HANG_SECONDS = 3600.0
_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_RESPONSES_PATHS = frozenset({"/v1/responses", "/responses", "/openai/responses"})
"""The Responses API's paths: OpenAI's, and Azure OpenAI's (`/openai/responses?api-version=...`)."""
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
_MODELS_PATHS = frozenset({"/v1/models", "/models"})
_PLACEHOLDER = re.compile(r"\{(user|result|authorization|images)(?::([^{}]*))?\}")
TRICKLE_GAP_SECONDS = 0.25
"""A trickled body arrives in pieces this far apart: each read is quick, only the whole is slow."""
_MALFORMED_BODY = b'this is not JSON {"choices": ['


class ScriptError(ValueError):
    """A script file cannot be read or is not a valid script."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScriptedToolCall(_Strict):
    """A tool call made by the scripted model; ``raw_arguments`` is sent verbatim, even if not JSON."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None

    def wire_arguments(self) -> str:
        """The ``function.arguments`` string sent to the client."""
        return self.raw_arguments if self.raw_arguments is not None else json.dumps(self.arguments)


class HTTPFault(_Strict):
    """An HTTP error response; with ``times``, only the first N requests reaching the reply fail."""

    status: int = Field(ge=400, le=599)
    message: str = "scripted HTTP fault"
    retry_after: float | None = Field(default=None, ge=0)
    times: int | None = Field(default=None, ge=1)


class ScriptedReply(_Strict):
    """One assistant reply: text and/or tool calls, or a misbehaviour (fault, bad body, hang).

    `finish_reason` overrides the one the reply implies (`stop` or `tool_calls`); `refusal` sends a refusal
    instead of content; `trickle_seconds` spreads the body over that many seconds, a piece at a time.
    `reasoning_tokens` and `cached_tokens` are reported in the usage (the reasoning tokens added to the output),
    and on the Responses API `reasoning` comes back as a reasoning item with that summary.
    """

    content: str | None = None
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    refusal: str | None = None
    finish_reason: str | None = None
    reasoning: str | None = None
    reasoning_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    latency_ms: float = Field(default=0, ge=0)
    trickle_seconds: float = Field(default=0, ge=0)
    error: HTTPFault | None = None
    malformed_body: bool = False
    no_choices: bool = False
    hang: bool = False

    @model_validator(mode="after")
    def _at_most_one_misbehaviour(self) -> Self:
        chosen = [name for name in ("malformed_body", "no_choices", "hang") if getattr(self, name)]
        if len(chosen) > 1:
            raise ValueError(f"a reply can set only one of malformed_body, no_choices, hang; got {chosen}")
        return self


class ScriptRule(_Strict):
    """Replies for user messages matching ``user`` (exact) or ``user_regex``, optionally only at ``turn``.

    A rule with a ``chance`` answers only that share of the conversations it matches (a model that gets a
    rule right some of the time); otherwise the next matching rule answers. The draws follow the script's
    ``seed``, so a run can be repeated exactly. A rule that ``rotates`` gives its next reply to each request it
    answers (counted like the draws), instead of the Nth reply to the Nth request of a turn: a judge asked the
    same question several times can answer differently each time.
    """

    user: str | None = None
    user_regex: str | None = None
    system_regex: str | None = None
    """Match only requests whose system message matches this regular expression (ignoring case): e.g. the user
    model's prompt, so that the rule plays a simulated user."""
    turn: int | None = Field(default=None, ge=1)
    chance: float | None = Field(default=None, ge=0, le=1)
    rotates: bool = False
    replies: list[ScriptedReply] = Field(min_length=1)

    @field_validator("user_regex", "system_regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _exactly_one_matcher(self) -> Self:
        if (self.user is None) == (self.user_regex is None):
            raise ValueError("a rule needs exactly one of 'user' (exact text) or 'user_regex' (regex)")
        return self

    def matches(self, text: str, turn: int, system: str = "") -> bool:
        """Whether this rule applies to user message ``text``, the ``turn``-th user message, in a request whose
        system message is ``system``."""
        if self.turn is not None and self.turn != turn:
            return False
        if self.system_regex is not None and not re.search(self.system_regex, system, re.IGNORECASE):
            return False
        if self.user is not None:
            return text.strip() == self.user.strip()
        return re.search(self.user_regex or "", text, re.IGNORECASE) is not None

    def reply_position(self, reply_index: int) -> int:
        """Index into ``replies`` for the Nth reply; past the end, the last reply repeats."""
        return min(reply_index, len(self.replies) - 1)


class Script(_Strict):
    """A named list of rules; the first rule matching the current user message answers it."""

    name: str = "scripted"
    rules: list[ScriptRule] = Field(min_length=1)
    latency_ms: float = Field(default=0, ge=0)
    seed: int = 0

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read a script from a ``.json``, ``.yaml`` or ``.yml`` file; raise ScriptError if invalid."""
        path = Path(path)
        data = _read_script_data(path)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScriptError(f"invalid script file {path}: {exc}") from exc

    def find_rule(
        self, text: str, turn: int, draw: Callable[[int], float] = lambda rule: 0.0, system: str = ""
    ) -> int | None:
        """Index of the first rule matching user message ``text`` at ``turn`` (with system message ``system``), or None.

        ``draw(rule index)`` gives a number in [0, 1) that decides whether a rule with a ``chance`` answers.
        """
        return next(
            (
                i
                for i, rule in enumerate(self.rules)
                if rule.matches(text, turn, system) and (rule.chance is None or draw(i) < rule.chance)
            ),
            None,
        )


def _read_script_data(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ScriptError(f"script file {path} must have a .json, .yaml or .yml extension")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read script file {path}: {exc}") from exc
    if suffix != ".json":
        return _parse_yaml(path, text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"script file {path} is not valid JSON: {exc}") from exc


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        import yaml  # optional: only YAML scripts need it
    except ImportError as exc:
        raise ScriptError(
            f"script file {path} is YAML but PyYAML is not installed; install PyYAML or use a .json script"
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"script file {path} is not valid YAML: {exc}") from exc


def _text(content: Any) -> str:
    """Text of a message's content, given as a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _said_by_user(messages: list[dict[str, Any]], index: int) -> bool:
    """Whether message `index` is the user's: a user-role message right after a tool message carries the images of
    the tool results, and belongs to the tool round."""
    return messages[index].get("role") == "user" and not (index and messages[index - 1].get("role") == "tool")


@dataclass(frozen=True)
class _Turn:
    """The current user message, its 1-based turn number, the messages after it, and the request's credentials."""

    user: str
    number: int
    tail: list[dict[str, Any]]
    authorization: str = ""
    opening: str = ""
    system: str = ""

    @classmethod
    def of(cls, messages: list[dict[str, Any]], authorization: str = "") -> _Turn | None:
        """The current turn of a conversation, or None when it has no user message."""
        user_positions = [i for i, message in enumerate(messages) if _said_by_user(messages, i)]
        if not user_positions:
            return None
        last = user_positions[-1]
        user = _text(messages[last].get("content"))
        opening = _text(messages[user_positions[0]].get("content"))
        system = "\n".join(_text(message.get("content")) for message in messages if message.get("role") == "system")
        return cls(user, len(user_positions), messages[last + 1 :], authorization, opening, system)

    @property
    def reply_index(self) -> int:
        """How many assistant replies were already given in this turn."""
        return sum(1 for message in self.tail if message.get("role") == "assistant")

    @property
    def image_count(self) -> int:
        """How many image parts were sent in this turn, after tool results."""
        return sum(
            1
            for message in self.tail
            if message.get("role") == "user" and isinstance(message.get("content"), list)
            for part in message["content"]
            if isinstance(part, dict) and part.get("type") == "image_url"
        )

    def tool_result(self, tool_name: str | None) -> str | None:
        """Content of the last tool message in this turn, optionally only one answering ``tool_name``."""
        names = {
            call.get("id"): (call.get("function") or {}).get("name")
            for message in self.tail
            if message.get("role") == "assistant"
            for call in message.get("tool_calls") or []
        }
        for message in reversed(self.tail):
            if message.get("role") != "tool":
                continue
            if tool_name is None or names.get(message.get("tool_call_id")) == tool_name:
                return _text(message.get("content"))
        return None

    def render(self, template: str) -> str:
        """Fill ``{user}``, ``{result}``, ``{result:TOOL}``, ``{result:TOOL.field.path}``, ``{images}`` (how many
        image parts this turn sent after tool results) and ``{authorization}`` (the request's Authorization header,
        to test that echoed credentials are redacted).

        Unknown or unavailable placeholders stay as they are.
        """
        return _PLACEHOLDER.sub(self._substitute, template)

    def _substitute(self, match: re.Match[str]) -> str:
        kind, argument = match.group(1), match.group(2)
        if kind == "user" and argument is None:
            return self.user
        if kind == "authorization" and argument is None:
            return self.authorization
        if kind == "images" and argument is None:
            return str(self.image_count)
        if kind != "result":
            return match.group(0)
        tool_name, _, path = (argument or "").partition(".")
        value = self.tool_result(tool_name or None)
        if value is not None and path:
            value = _json_field(value, path)
        return match.group(0) if value is None else value


def _json_field(text: str, path: str) -> str | None:
    """The field at dotted ``path`` in a JSON text (list items by index), or None."""
    try:
        value: Any = lookup(json.loads(text), path)
    except json.JSONDecodeError:
        return None
    if value is MISSING:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _responses_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A Responses request's `instructions` and `input` items as chat messages: function calls as an assistant
    message's tool calls (a round's calls in one message), their outputs as tool messages. A ValueError says what
    the input lacks."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("the request needs an 'input' text or list of input items")
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    keeps_nothing = body.get("store") is False
    for item in items:
        kind = item.get("type", "message")
        if kind == "reasoning":
            if keeps_nothing and not item.get("encrypted_content"):
                raise ValueError(
                    f"Item with id {item.get('id')!r} not found. Items are not persisted when `store` is set to "
                    "false. Try again with `store` set to true, or send the item's encrypted content."
                )
        elif kind == "function_call":
            function = {"name": item.get("name"), "arguments": item.get("arguments")}
            call = {"id": item.get("call_id"), "type": "function", "function": function}
            last = messages[-1] if messages else {}
            if last.get("role") == "assistant" and last.get("tool_calls") is not None:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": _output_text(item)})
        elif kind == "message":
            role = "system" if item.get("role") == "developer" else item.get("role")
            messages.append({"role": role, "content": _chat_content(item.get("content"))})
        else:
            raise ValueError(f"the scripted model does not take input items of type {kind!r}")
    return messages


def _chat_content(content: Any) -> Any:
    """Responses message content as chat content: text as it is, input parts as text and `image_url` parts."""
    if not isinstance(content, list):
        return content
    return [
        {"type": "image_url", "image_url": {"url": part.get("image_url", "")}}
        if part.get("type") == "input_image"
        else {"type": "text", "text": part.get("text", "")}
        for part in content
        if isinstance(part, dict)
    ]


def _output_text(item: dict[str, Any]) -> str:
    output = item.get("output")
    return output if isinstance(output, str) else _text(_chat_content(output))


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    trickle_seconds: float = 0


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers or {})


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def _error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> _Response:
    """An OpenAI-style error body."""
    error = {"message": message, "type": _error_type(status), "param": None, "code": code}
    return _json_response(status, {"error": error}, headers)


def _fault_response(fault: HTTPFault, turn: _Turn) -> _Response:
    headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    return _error_response(fault.status, turn.render(fault.message), "scripted_fault", headers)


def _usage(messages: list[dict[str, Any]], reply: ScriptedReply, content: str | None) -> dict[str, int]:
    """Deterministic token estimate: about four characters per token."""
    prompt = len(json.dumps(messages)) // 4 + 1
    calls = sum(len(call.name) + len(call.wire_arguments()) for call in reply.tool_calls)
    produced = len(content or "") + calls
    completion = produced // 4 + 1 + reply.reasoning_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "prompt_tokens_details": {"cached_tokens": min(reply.cached_tokens, prompt)},
    }


class ScriptedModelServer:
    """Serves a :class:`Script` as an OpenAI-compatible API on a background thread.

    Connections are kept alive (HTTP/1.1); only the ``keep_requests`` most recent request bodies are kept.
    """

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0, keep_requests: int = 1000) -> None:
        self.script = script
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: deque[dict[str, Any]] = deque(maxlen=keep_requests)
        self._request_headers: deque[dict[str, str]] = deque(maxlen=keep_requests)
        self._fault_counts: dict[tuple[int, int], int] = {}
        self._draw_counts: dict[tuple[int, str, int], int] = {}
        self._answer_counts: dict[tuple[int, str, int], int] = {}
        self._last_id = 0
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (useful with ``port=0``)."""
        if self._httpd is None:
            raise RuntimeError("the scripted model server is not running; call start() first")
        return self._httpd.server_port

    @property
    def base_url(self) -> str:
        """Base URL for OpenAI clients, ending in ``/v1``."""
        return f"http://{self._address[0]}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the most recent chat-completions request bodies, oldest first (at most ``keep_requests``)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The headers of the most recent model requests (names in lower case), oldest first, like ``requests``."""
        with self._lock:
            return list(self._request_headers)

    def _note_headers(self, headers: dict[str, str]) -> None:
        with self._lock:
            self._request_headers.append({name.lower(): value for name, value in headers.items()})

    def start(self) -> None:
        """Bind the port and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("the scripted model server is already running")
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-model",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; wakes up replies that hang or wait for latency and ends idle connections."""
        if self._httpd is None or self._thread is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def _handle_chat(self, body: dict[str, Any], authorization: str = "") -> _Response:
        """Answer one chat-completions request body; may block for latency or a hang."""
        with self._lock:
            self._requests.append(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
            message = "the request needs a 'messages' list of message objects"
            return _error_response(400, message, "invalid_messages")
        turn = _Turn.of(messages, authorization)
        if turn is None:
            return _error_response(400, "the request has no message with role 'user'", "no_user_message")
        return self._answer(turn, messages, str(body.get("model") or "default"), stream=bool(body.get("stream")))

    def _handle_responses(self, body: dict[str, Any], authorization: str = "") -> _Response:
        """Answer one Responses API request body: its input items read as chat messages for the rules, the reply
        sent as a response object. Reasoning items sent back must carry their encrypted content when the request
        asks the server to keep nothing (`store: false`), as on OpenAI."""
        with self._lock:
            self._requests.append(body)
        try:
            messages = _responses_messages(body)
        except ValueError as exc:
            return _error_response(400, str(exc), "invalid_input")
        turn = _Turn.of(messages, authorization)
        if turn is None:
            return _error_response(400, "the request has no input message with role 'user'", "no_user_message")
        encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
        model = str(body.get("model") or "default")
        return self._answer(turn, messages, model, responses=encrypted, stream=bool(body.get("stream")))

    def _answer(
        self,
        turn: _Turn,
        messages: list[dict[str, Any]],
        model: str,
        responses: bool | None = None,
        stream: bool = False,
    ) -> _Response:
        """The reply to a conversation: a chat completion, or with `responses` a Responses API response (True: its
        reasoning items with their encrypted content); with `stream`, as server-sent events, after the latency."""
        rule_index = self.script.find_rule(turn.user, turn.number, lambda rule: self._draw(rule, turn), turn.system)
        if rule_index is None:
            message = (
                f'no script rule matches user message "{turn.user}" (turn {turn.number}) in script '
                f'"{self.script.name}"; add a rule with user/user_regex for it'
            )
            return _error_response(400, message, "no_matching_rule")
        rule = self.script.rules[rule_index]
        position = rule.reply_position(self._answered(rule_index, turn) if rule.rotates else turn.reply_index)
        reply = rule.replies[position]
        fault = self._active_fault(reply.error, (rule_index, position))
        self._stopping.wait((self.script.latency_ms + reply.latency_ms) / 1000)
        if fault is not None:
            return _fault_response(fault, turn)
        return self._reply_response(reply, turn, messages, model, responses, stream)

    def _draw(self, rule_index: int, turn: _Turn) -> float:
        """The next number in [0, 1) for a rule's chance in conversations that open like this one, at this turn.

        Draws are counted per (rule, opening message, turn), so conversations that run in parallel do not
        change each other's draws: repeated attempts of one scenario get the same draws in every run.
        """
        key = (rule_index, turn.opening, turn.number)
        with self._lock:
            count = self._draw_counts.get(key, 0)
            self._draw_counts[key] = count + 1
        return random.Random(f"{self.script.seed}:{rule_index}:{turn.opening}:{turn.number}:{count}").random()

    def _answered(self, rule_index: int, turn: _Turn) -> int:
        """How many requests the rule answered before, in conversations that open like this one, at this turn."""
        key = (rule_index, turn.opening, turn.number)
        with self._lock:
            count = self._answer_counts.get(key, 0)
            self._answer_counts[key] = count + 1
        return count

    def _active_fault(self, fault: HTTPFault | None, key: tuple[int, int]) -> HTTPFault | None:
        """``fault`` if it fires for this request, counting requests per (rule, reply) ``key``."""
        if fault is None or fault.times is None:
            return fault
        with self._lock:
            count = self._fault_counts.get(key, 0)
            self._fault_counts[key] = count + 1
        return fault if count < fault.times else None

    def _reply_response(
        self,
        reply: ScriptedReply,
        turn: _Turn,
        messages: list[dict[str, Any]],
        model: str,
        responses: bool | None,
        stream: bool = False,
    ) -> _Response:
        if reply.hang:
            self._stopping.wait(HANG_SECONDS)
            return _error_response(503, "the scripted hang reply ended", "hang_ended")
        if reply.malformed_body:
            return _Response(200, _MALFORMED_BODY)
        completion = self._completion(reply, turn, messages, model)
        if responses is not None:
            completion = self._response_object(completion, reply, encrypted=responses)
        if stream:
            events = response_events(completion) if responses is not None else chat_events(completion)
            return _Response(200, events, {"Content-Type": "text/event-stream"}, reply.trickle_seconds)
        return _Response(200, json.dumps(completion).encode(), trickle_seconds=reply.trickle_seconds)

    def _response_object(self, completion: dict[str, Any], reply: ScriptedReply, encrypted: bool) -> dict[str, Any]:
        """The chat completion `completion` of `reply` as a Responses API response object."""
        output: list[dict[str, Any]] = []
        message = completion["choices"][0]["message"] if completion["choices"] else {}
        if completion["choices"] and reply.reasoning is not None:
            reasoning_id = f"rs_scripted_{self._new_id()}"
            summary = [{"type": "summary_text", "text": reply.reasoning}]
            item: dict[str, Any] = {"type": "reasoning", "id": reasoning_id, "summary": summary}
            if encrypted:
                item["encrypted_content"] = f"scripted-encrypted:{reasoning_id}"
            output.append(item)
        parts = [{"type": "output_text", "text": message["content"], "annotations": []}]
        if message.get("refusal") is not None:
            parts = [{"type": "refusal", "refusal": message["refusal"]}]
        if message.get("content") or message.get("refusal") is not None:
            message_id = f"msg_scripted_{self._new_id()}"
            output.append(
                {"type": "message", "id": message_id, "role": "assistant", "status": "completed", "content": parts}
            )
        output += [
            {"type": "function_call", "id": f"fc_{call['id']}", "call_id": call["id"], "status": "completed"}
            | call["function"]
            for call in message.get("tool_calls") or []
        ]
        usage = completion["usage"]
        reason = _INCOMPLETE_REASONS.get(reply.finish_reason or "")
        return {
            "id": completion["id"].replace("chatcmpl", "resp"),
            "object": "response",
            "created_at": completion["created"],
            "model": completion["model"],
            "status": "incomplete" if reason else "completed",
            "incomplete_details": {"reason": reason} if reason else None,
            "error": None,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {**usage["prompt_tokens_details"], "cache_write_tokens": 0},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": usage["completion_tokens_details"],
                "total_tokens": usage["total_tokens"],
            },
        }

    def _completion(
        self, reply: ScriptedReply, turn: _Turn, messages: list[dict[str, Any]], model: str
    ) -> dict[str, Any]:
        content = None if reply.content is None and reply.tool_calls else turn.render(reply.content or "")
        if reply.refusal is not None:
            content = None
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": reply.refusal}
        if reply.tool_calls:
            message["tool_calls"] = [self._wire_tool_call(call) for call in reply.tool_calls]
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"),
            "logprobs": None,
        }
        return {
            "id": f"chatcmpl-scripted-{self._new_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"{MODEL_ID}:{model}",
            "choices": [] if reply.no_choices else [choice],
            "usage": _usage(messages, reply, content),
        }

    def _wire_tool_call(self, call: ScriptedToolCall) -> dict[str, Any]:
        function = {"name": call.name, "arguments": call.wire_arguments()}
        return {"id": f"call_{self._new_id()}", "type": "function", "function": function}

    def _new_id(self) -> int:
        with self._lock:
            self._last_id += 1
            return self._last_id


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections, so that closing the server ends idle keep-alive connections too."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: ScriptedModelServer) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Close the listening socket and end every connection's input, so idle keep-alive handlers return."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RD)
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def parse_request(self) -> bool:
        """Parse the request line and headers; once the server is stopping, answer 503 and close instead."""
        if not super().parse_request():
            return False
        if not self.server.app._stopping.is_set():
            return True
        self.close_connection = True
        self._send(_error_response(503, "the scripted model server is stopping", "server_stopping"))
        return False

    def do_GET(self) -> None:
        if self._route() in _MODELS_PATHS:
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "aitest-bdd"}
            self._send(_json_response(200, {"object": "list", "data": [model]}))
        else:
            self._send(self._not_found())

    def do_POST(self) -> None:
        route = self._route()
        if route not in _CHAT_PATHS | _RESPONSES_PATHS:
            self.close_connection = True  # the body is left unread, so the connection cannot carry another request
            self._send(self._not_found())
            return
        body = self._read_json_object()
        self.server.app._note_headers(dict(self.headers))
        handle = self.server.app._handle_chat if route in _CHAT_PATHS else self.server.app._handle_responses
        authorization = self.headers.get("Authorization") or self.headers.get("api-key", "")
        if body is None:
            self._send(_error_response(400, "the request body must be a JSON object", "invalid_json"))
        else:
            self._send(handle(body, authorization))

    def log_message(self, *args: Any) -> None:
        """Keep stderr quiet: no per-request log lines."""

    def _route(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def _not_found(self) -> _Response:
        message = (
            f"unknown path {self.command} {self.path}; try POST /v1/chat/completions, POST /v1/responses or "
            "GET /v1/models"
        )
        return _error_response(404, message, "not_found")

    def _read_json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None; without a valid Content-Length the connection closes after the reply."""
        length = self.headers.get("Content-Length", "")
        if not length.isdecimal():
            self.close_connection = True
            return None
        try:
            body = json.loads(self.rfile.read(int(length)))
        except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
            return None
        return body if isinstance(body, dict) else None

    def _send(self, response: _Response) -> None:
        """Write the status line, headers and body in one send, or the body a piece at a time when trickled."""
        try:
            if not response.trickle_seconds:
                self.wfile.write(self._head(response) + response.body)
                return
            self.wfile.write(self._head(response))
            pieces = max(2, round(response.trickle_seconds / TRICKLE_GAP_SECONDS))
            size = -(-len(response.body) // pieces)
            for start in range(0, len(response.body), size):
                if self.server.app._stopping.wait(response.trickle_seconds / pieces):
                    self.close_connection = True
                    return
                self.wfile.write(response.body[start : start + size])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, e.g. on a timeout

    def _head(self, response: _Response) -> bytes:
        headers = {"Content-Type": "application/json", "Content-Length": str(len(response.body)), **response.headers}
        if self.close_connection:
            headers["Connection"] = "close"
        reason = self.responses.get(response.status, ("",))[0]
        lines = [f"{self.protocol_version} {response.status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def main(argv: list[str] | None = None) -> int:
    """Serve a script until Ctrl-C; prints the base URL on the first line of stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m aitest_bdd.testing.scripted_model",
        description="Serve a scripted OpenAI-compatible chat-completions API.",
    )
    parser.add_argument("script", type=Path, help="script file (.json, .yaml or .yml)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any free one (default: 8000)")
    args = parser.parse_args(argv)
    try:
        server = ScriptedModelServer(Script.load(args.script), args.host, args.port, keep_requests=0)
        server.start()
    except (ScriptError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(server.base_url, flush=True)
    print(f"serving script {server.script.name!r}; press Ctrl-C to stop", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
