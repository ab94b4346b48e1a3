"""An agent that aitest-bdd does not run itself: an app runs one turn of it and says what happened.

`Agent(name=..., provider=..., app=MyApp())` makes `Given the agent "NAME"` talk to the app instead of aitest-bdd's own
tool loop. The app's agent sends its model calls to `AppRequest.model`, aitest-bdd's model proxy, which forwards them
to the agent's provider, records and replays them, and reads the tool calls from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal


class AppError(RuntimeError):
    """An app's turn failed for a reason it can name: the turn fails with this message."""


@dataclass(frozen=True)
class ModelEndpoint:
    """Where an app's agent sends its model calls: the model proxy of its conversation.

    `api_key` is a token of the proxy, never the provider's key.
    """

    base_url: str
    api_key: str
    model: str
    api: Literal["chat", "responses"] = "chat"

    def environment(self) -> dict[str, str]:
        """The variables that point the `openai` SDK (and most agent frameworks) at the proxy."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": self.api_key, "OPENAI_MODEL": self.model}


@dataclass(frozen=True)
class AppRequest:
    """One turn for an app to run."""

    message: str
    """What the user says."""
    history: list[dict[str, str]]
    """The conversation before this turn as chat messages: each turn's user message and the agent's reply."""
    state: Any
    """What the app returned as `AppTurn.state` after the last turn that succeeded; None before the first."""
    model: ModelEndpoint
    conversation_id: str
    """The same for every turn of one conversation, and new for the next (an attempt, a scenario)."""


@dataclass(frozen=True)
class AppToolCall:
    """A tool call the agent made, as its framework reports it."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: str = ""
    is_error: bool = False
    id: str = ""


@dataclass(frozen=True)
class AppTurn:
    """What happened in a turn."""

    reply: str
    """The agent's answer to the user."""
    state: Any = None
    """Whatever the app needs next turn (its framework's message history, a thread id); handed back in `AppRequest`."""
    tool_calls: list[AppToolCall] | None = None
    """The tool calls in the order they happened; None when the app cannot see them (aitest-bdd then reads them from
    the model calls through its proxy, or says that this agent does not expose its tool calls)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    """Token usage, where the agent reports it and its model calls do not go through the proxy."""


class AgentApp(ABC):
    """An agent under test that aitest-bdd does not run itself.

    `start` is awaited when a conversation opens, `turn` once per user message, `stop` when the conversation ends
    (also when it failed). All three run on aitest-bdd's event loop.
    """

    label: str = "app"
    """How messages and the report name this kind of app."""

    async def start(self, model: ModelEndpoint) -> None:  # noqa: B027 - most apps need no start
        """Prepare a conversation whose model calls go to `model`."""

    @abstractmethod
    async def turn(self, request: AppRequest) -> AppTurn:
        """Run the agent on `request.message` and say what happened; raise AppError for a failure it can name."""

    async def stop(self) -> None:  # noqa: B027 - most apps hold nothing
        """Release what `start` acquired."""

    def secrets(self) -> list[str]:
        """The secrets in the app's settings (keys, header values): masked in every message, report and recording."""
        return []
