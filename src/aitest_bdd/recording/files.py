"""The recording file: one JSON file per test (per Outline row), with each agent session's traffic in order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..errors import problem
from ..unicode import escapes_a_surrogate, valid_data

FORMAT_VERSION = 1
InteractionKind = Literal["model", "tool", "judge", "offers", "prompt", "resource", "user_model"]
"""What an interaction exchanged: see `Interaction`."""


class Interaction(BaseModel):
    """One exchange: a model request and its response, a tool call and its result, a judge call, or what the MCP
    servers offer of one kind, listed with one method (`offers`: prompts, resources or resource templates), a
    prompt a server gave (`prompt`) or a resource it read (`resource`), or a call to the user model that plays a
    simulated user (`user`)."""

    kind: InteractionKind
    turn: int
    request: dict[str, Any] = Field(default_factory=dict)
    response: dict[str, Any] = Field(default_factory=dict)


class SessionRecording(BaseModel):
    """What one agent session exchanged."""

    model: str
    api: Literal["chat", "responses"] = "chat"
    """The model API the agent spoke (`Provider(api=...)`); recordings made before it was kept spoke Chat
    Completions."""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_servers: dict[str, str] = Field(default_factory=dict)
    task_only_tools: dict[str, list[str]] = Field(default_factory=dict)
    """By server, the tools not offered because they run only as MCP tasks."""
    tool_annotations: dict[str, dict[str, Any]] | None = None
    """Each tool's MCP annotations ({} for none); None in recordings made before they were kept."""
    interactions: list[Interaction] = Field(default_factory=list)
    turn_durations_ms: dict[int, float] = Field(default_factory=dict)
    """How long each turn took live, by turn number (absent from recordings made before it was kept)."""


class RecordingFile(BaseModel):
    """The file: metadata, and the sessions by agent name."""

    format: int = FORMAT_VERSION
    test: str
    plugin_version: str
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    models: list[str] = Field(default_factory=list)
    sessions: dict[str, SessionRecording] = Field(default_factory=dict)


class UnusableRecording(ValueError):
    """A recording file that cannot be replayed; the message says what is wrong with it."""


def read_recording(path: Path) -> RecordingFile:
    """The recording at `path`, if it is one in the format this version reads."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except OSError as error:
        raise UnusableRecording(f"cannot be read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UnusableRecording(f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except UnicodeDecodeError as error:
        raise UnusableRecording(f"is not UTF-8 ({error.reason} at offset {error.start})") from None
    if not isinstance(data, dict) or "format" not in data:
        raise UnusableRecording("is not a recording: it has no format version")
    if data["format"] != FORMAT_VERSION:
        raise UnusableRecording(_format_problem(data["format"], data.get("plugin_version")))
    try:
        return RecordingFile.model_validate(valid_data(data) if escapes_a_surrogate(raw) else data)
    except ValidationError as error:
        raise UnusableRecording(f"does not fit recording format {FORMAT_VERSION} ({problem(error)})") from None


def _format_problem(version: object, plugin_version: object) -> str:
    if isinstance(version, int) and version > FORMAT_VERSION:
        return (
            f"is in format {version}, written by aitest-bdd {plugin_version}, and this aitest-bdd reads format "
            f"{FORMAT_VERSION}: upgrade aitest-bdd to replay it"
        )
    return f"has format {version!r}, which aitest-bdd does not know (it reads format {FORMAT_VERSION})"
