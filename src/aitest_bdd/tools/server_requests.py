"""What an MCP server asks and sends during a tool call: the callbacks given to `mcp.Client`, and what they keep.

A connection may serve many scenarios (a shared server), so the callbacks are made once, at connect time, and
look up the call in progress when the server asks: its `Answerers` come from the scenario that made the call.
Progress and log messages are kept on that call; a log message that arrives outside a call is dropped, and so is
one below the server's `log_level` (all of them when it is None), whatever the server was asked for.

A call keeps at most MAX_NOTES progress notifications and as many log messages (the rest are counted in its
`left_out`). Long texts are kept cut: a log's data and a progress message to NOTE_CHARS, a question and what a
sampling request sent and got to TEXT_CHARS.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from typing import Any, get_args

import mcp_types
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..config import LoggingLevel, Provider
from .call_events import Answerers, CallEvents, Elicitation, ProgressNote, Sampling, ServerLog

OUTSIDE_A_CALL = "aitest-bdd answers a server's requests only during a tool call"
LEVELS: tuple[LoggingLevel, ...] = get_args(LoggingLevel)
"""The log levels, least severe first."""
MAX_NOTES = 100
NOTE_CHARS = 4000
TEXT_CHARS = 20_000


class CallInProgress:
    """One tool call while it runs: who answers the server, and what the server sent."""

    def __init__(self, answerers: Answerers | None) -> None:
        self.answerers = answerers
        self.started = time.perf_counter()
        self.events = CallEvents()

    def since_start_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        message = cut(message, NOTE_CHARS) if message is not None else None
        note = ProgressNote(progress=progress, total=total, message=message, at_ms=self.since_start_ms())
        self._keep("progress", self.events.progress, note)

    def log(self, params: mcp_types.LoggingMessageNotificationParams) -> None:
        data = params.data if isinstance(params.data, str) else json.dumps(params.data, ensure_ascii=False)
        entry = ServerLog(
            level=params.level, logger=params.logger, data=cut(data, NOTE_CHARS), at_ms=self.since_start_ms()
        )
        self._keep("logs", self.events.logs, entry)

    def _keep(self, kind: str, kept: list[Any], item: Any) -> None:
        if len(kept) < MAX_NOTES:
            kept.append(item)
        else:
            self.events.left_out[kind] = self.events.left_out.get(kind, 0) + 1

    def fields(self) -> dict[str, Any]:
        """The events, as the fields of a tool answer."""
        return self.events.events()


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters: a longer one cut and marked with its full size."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[cut: the server sent {len(text):,} characters; the first {limit:,} are kept]"


def client_options(
    current: Callable[[], CallInProgress | None],
    roots: list[str],
    log_level: LoggingLevel | None,
    sampling_model: Provider | str | None,
) -> dict[str, Any]:
    """The keyword arguments of `mcp.Client` that declare elicitation and sampling (and roots, when there are any)
    and answer them; `current()` is the call in progress, if any."""
    kept_levels = frozenset(LEVELS[LEVELS.index(log_level) :] if log_level is not None else ())

    async def elicit(context: Any, params: mcp_types.ElicitRequestParams) -> mcp_types.ElicitResult:
        call = current()
        if call is None or call.answerers is None:
            return mcp_types.ElicitResult(action="cancel")
        schema = params.requested_schema if isinstance(params, mcp_types.ElicitRequestFormParams) else {}
        answer = call.answerers.elicit(params.message, dict(schema))
        if isinstance(params, mcp_types.ElicitRequestURLParams) and answer.action == "accept":
            answer = answer.model_copy(update={"action": "cancel", "content": None, "problem": _url_problem(params)})
        call.events.elicitations.append(_kept_question(answer, call.since_start_ms()))
        return mcp_types.ElicitResult(action=answer.action, content=answer.content)

    async def sample(
        context: Any, params: mcp_types.CreateMessageRequestParams
    ) -> mcp_types.CreateMessageResult | mcp_types.ErrorData:
        call = current()
        if call is None or call.answerers is None:
            return mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=OUTSIDE_A_CALL)
        at_ms = call.since_start_ms()
        messages, problem = chat_messages(params)
        if problem is None:
            answer = await call.answerers.sample(messages, params.max_tokens, sampling_model)
        else:
            answer = Sampling(messages=messages, max_tokens=params.max_tokens, problem=problem)
        call.events.samplings.append(_kept_sampling(answer, at_ms))
        if answer.problem is not None:
            return mcp_types.ErrorData(code=mcp_types.INTERNAL_ERROR, message=answer.problem)
        return mcp_types.CreateMessageResult(
            role="assistant",
            content=mcp_types.TextContent(type="text", text=answer.text),
            model=answer.model,
            stop_reason="endTurn",
        )

    async def log(params: mcp_types.LoggingMessageNotificationParams) -> None:
        call = current()
        if call is not None and params.level in kept_levels:
            call.log(params)

    options: dict[str, Any] = {
        "elicitation_callback": elicit,
        "sampling_callback": sample,
        "logging_callback": log,
        "log_level": log_level,
    }
    if roots:
        listed = mcp_types.ListRootsResult(roots=[mcp_types.Root(uri=uri) for uri in roots])

        async def list_roots(context: Any) -> mcp_types.ListRootsResult:
            return listed

        options["list_roots_callback"] = list_roots
    return options


def _kept_question(answer: Elicitation, at_ms: float) -> Elicitation:
    return answer.model_copy(update={"message": cut(answer.message, TEXT_CHARS), "at_ms": at_ms})


def _kept_sampling(answer: Sampling, at_ms: float) -> Sampling:
    messages = [{**message, "content": cut(message["content"], TEXT_CHARS)} for message in answer.messages]
    return answer.model_copy(update={"messages": messages, "text": cut(answer.text, TEXT_CHARS), "at_ms": at_ms})


def chat_messages(params: mcp_types.CreateMessageRequestParams) -> tuple[list[dict[str, Any]], str | None]:
    """A sampling request as chat messages (its system prompt first), and what in it cannot be sent, if anything:
    this client answers with text only, from text messages, without tools."""
    messages: list[dict[str, Any]] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    problem = None
    if params.tools or params.tool_choice:
        problem = "the server asked the model to use tools while sampling, which aitest-bdd does not support"
    for message in params.messages:
        blocks = message.content if isinstance(message.content, list) else [message.content]
        texts = [block.text for block in blocks if isinstance(block, mcp_types.TextContent)]
        if len(texts) != len(blocks):
            kinds = sorted({block.type for block in blocks if not isinstance(block, mcp_types.TextContent)})
            problem = f"the server sent {', '.join(kinds)} content to sample from; aitest-bdd samples from text only"
        messages.append({"role": message.role, "content": "\n".join(texts)})
    return messages, problem


def _url_problem(params: mcp_types.ElicitRequestURLParams) -> str:
    return (
        f"the server asked the user to open a URL ({params.message!r}), which a test cannot do: add "
        "'Given the user declines the server's questions' to the scenario if that is what you expect"
    )


async def ask_for_logs(client: Any, level: LoggingLevel | None) -> None:
    """On a handshake-era connection to a server that logs, ask for log messages at `level` and above
    (`logging/setLevel`); later connections ask on each request, through `mcp.Client(log_level=...)`."""
    capabilities = client.server_capabilities
    if level is None or client.protocol_version in MODERN_PROTOCOL_VERSIONS or capabilities.logging is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)  # the deprecation is of 2026 protocol versions
        await client.set_logging_level(level)
