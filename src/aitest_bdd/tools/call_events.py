"""What an MCP server sent during a tool call besides its result: progress, log messages, questions for the user
(elicitation) and requests for the client's model (sampling). Times count from the start of the call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..config import Provider


class ProgressNote(BaseModel):
    """A progress notification."""

    progress: float
    total: float | None = None
    message: str | None = None
    at_ms: float = 0.0


class ServerLog(BaseModel):
    """A log message (`notifications/message`)."""

    level: str
    logger: str | None = None
    data: Any = None
    """The message's data as text: a string as the server sent it, anything else as its JSON (so that what the server
    chose as names is redacted like the rest), cut to a few thousand characters."""
    at_ms: float = 0.0


class Elicitation(BaseModel):
    """A question the server asked the user, and the answer the feature gave.

    `problem` says why the feature could not answer (no answer given, or a value that does not fit the
    question): the server was told the user cancelled, and the turn fails with it."""

    message: str
    requested_schema: dict[str, Any] = Field(default_factory=dict)
    action: Literal["accept", "decline", "cancel"] = "cancel"
    content: dict[str, Any] | None = None
    problem: str | None = None
    at_ms: float = 0.0


class Sampling(BaseModel):
    """A request for the client's model (`sampling/createMessage`), and the model's answer.

    `messages` are the chat messages sent to `model`; `problem` says why there is no answer (the server got an
    error, and the turn fails with it)."""

    messages: list[dict[str, Any]] = Field(default_factory=list)
    max_tokens: int | None = None
    model: str = ""
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    duration_ms: float = 0.0
    cost_usd: float | None = None
    """What the answer cost, priced on `model` once the call is on its turn; None when the price is unknown."""
    problem: str | None = None
    at_ms: float = 0.0


class CallEvents(BaseModel):
    """Everything of the above that one call brought, in the order of arrival within each kind: the fields of a
    tool answer and of a tool call. A server that sends more than a call keeps (see `server_requests`) has the rest
    counted in `left_out`."""

    progress: list[ProgressNote] = Field(default_factory=list)
    """The server's progress notifications during the call."""
    logs: list[ServerLog] = Field(default_factory=list)
    """The server's log messages during the call (at MCPServer(log_level=...) and above)."""
    elicitations: list[Elicitation] = Field(default_factory=list)
    """The questions the server asked the user during the call, with the feature's answers."""
    samplings: list[Sampling] = Field(default_factory=list)
    """The server's requests for the client's model during the call, with the model's answers."""
    left_out: dict[str, int] = Field(default_factory=dict)
    """How many progress notifications (`progress`) and log messages (`logs`) the server sent beyond those kept."""

    def events(self) -> dict[str, Any]:
        """These fields by name, to copy onto another `CallEvents`."""
        return {name: getattr(self, name) for name in CallEvents.model_fields}


def without_times(answer: dict[str, Any]) -> dict[str, Any]:
    """A recorded tool answer without what varies between runs of the same call: its duration, and the times
    and durations of what the server sent during it."""
    kept = {**answer, "duration_ms": 0}
    for key in CallEvents.model_fields:
        if isinstance(kept.get(key), list):
            kept[key] = [{**item, "at_ms": 0, "duration_ms": 0} for item in kept[key]]
    return kept


@dataclass(frozen=True)
class Answerers:
    """How the conversation answers a server during a tool call: plain callables, so that this layer does not
    need the conversation's.

    `elicit(message, requested_schema)` gives the feature's answer to a question; `sample(messages, max_tokens,
    model)` asks a model (`model` is the server's `sampling_model`, None for the agent's) and gives its answer.
    """

    elicit: Callable[[str, dict[str, Any]], Elicitation]
    sample: Callable[[list[dict[str, Any]], int, Provider | str | None], Awaitable[Sampling]]
