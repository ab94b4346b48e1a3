"""The results of a run: one result per test, with its Gherkin steps and its conversations.

This is the documented, versioned schema of `--aitest-json`; the HTML report is rendered from it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..conversation.turns import Conversation, Usage
from .tool_surface import ToolSurface

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = frozenset({1, 2})
"""Version 2 added repeated attempts: a test's `conversations` hold every attempt's, and `attempts` and `verdict`."""

Status = Literal["passed", "failed", "skipped"]
StepStatus = Literal["passed", "failed", "skipped", "undefined"]


class StepResult(BaseModel):
    """A Gherkin step as it ran. `turns_before` tells where it sits in the conversation."""

    keyword: str
    text: str
    line: int
    status: StepStatus = "skipped"
    message: str | None = None
    duration_ms: float = 0.0
    turns_before: int = 0
    docstring: str | None = None
    datatable: list[list[str]] | None = None


class Attempt(BaseModel):
    """One attempt of a scenario run more than once: a fresh conversation, with its own steps."""

    number: int
    status: Status
    message: str | None = None
    duration_ms: float = 0.0
    steps: list[StepResult] = Field(default_factory=list)


class StepFailures(BaseModel):
    """How often a step failed across the attempts that ran it: where the scenario breaks."""

    keyword: str
    text: str
    line: int
    failed: int
    ran: int


class Verdict(BaseModel):
    """A scenario's verdict from its attempts, with what it rests on (see docs/statistics.md)."""

    attempts: int = Field(ge=1)
    passed: int
    limit: int
    early_stop: bool = False
    gate: float | None = None
    """The pass rate the scenario must reach; None: every attempt must pass."""
    decision: Literal["passed", "failed"]
    low: float
    high: float
    """The pass rate's 95 % Wilson interval."""
    label: str
    pass_at_k: list[float] = Field(default_factory=list)
    """pass@k for k = 1 … attempts, at index k − 1: the chance that at least one of k attempts passes."""
    pass_hat_k: list[float] = Field(default_factory=list)
    """pass^k for k = 1 … attempts: the chance that all of k attempts pass."""
    step_failures: list[StepFailures] = Field(default_factory=list)
    summary: str = ""
    """The verdict in words, as the terminal shows it: `4/5 passed (80 %, 95 % CI 38–96 %)`."""


class TestResult(BaseModel):
    """One test: a scenario (or an Outline row), or a test of the Python API."""

    __test__ = False

    nodeid: str
    kind: Literal["scenario", "python"]
    name: str
    feature: str | None = None
    feature_description: str | None = None
    file: str
    line: int | None = None
    tags: list[str] = Field(default_factory=list)
    example: dict[str, str] = Field(default_factory=dict)
    session: str | None = None
    status: Status = "passed"
    message: str | None = None
    duration_ms: float = 0.0
    steps: list[StepResult] = Field(default_factory=list)
    conversations: list[Conversation] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    """Every attempt of a repeated scenario (`steps` are the last attempt's); empty when it ran once."""
    verdict: Verdict | None = None

    @property
    def models(self) -> list[str]:
        return sorted({conversation.model for conversation in self.conversations})

    @property
    def usage(self) -> Usage:
        total = Usage()
        for conversation in self.conversations:
            total = total + conversation.usage
        return total

    @property
    def turn_count(self) -> int:
        return sum(len(conversation.turns) for conversation in self.conversations)

    @property
    def tool_call_count(self) -> int:
        return sum(len(conversation.tool_calls) for conversation in self.conversations)


class RunResults(BaseModel):
    """Everything `--aitest-json` writes."""

    schema_version: int = SCHEMA_VERSION
    tool: str = "aitest-bdd"
    tool_version: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tests: list[TestResult] = Field(default_factory=list)
    tool_surface: ToolSurface | None = None
    """The MCP servers' tools: coverage, definitions and lint (absent from results written before it was kept)."""
    root_dir: Path | None = Field(default=None, exclude=True)
    """The directory the tests' `file`s are relative to, while the run writes its outputs (not written itself)."""
