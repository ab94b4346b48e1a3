"""The recording file: one JSON file per test (per Outline row), with each agent session's traffic in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

FORMAT_VERSION = 1


class Interaction(BaseModel):
    """One exchange: a model request and its response, a tool call and its result, or a judge call."""

    kind: Literal["model", "tool", "judge"]
    turn: int
    request: dict[str, Any] = Field(default_factory=dict)
    response: dict[str, Any] = Field(default_factory=dict)


class SessionRecording(BaseModel):
    """What one agent session exchanged."""

    model: str
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_servers: dict[str, str] = Field(default_factory=dict)
    interactions: list[Interaction] = Field(default_factory=list)


class RecordingFile(BaseModel):
    """The file: metadata, and the sessions by agent name."""

    format: int = FORMAT_VERSION
    test: str
    plugin_version: str
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    models: list[str] = Field(default_factory=list)
    sessions: dict[str, SessionRecording] = Field(default_factory=dict)
