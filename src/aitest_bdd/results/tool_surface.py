"""The tool surface of a run, as the results keep it: each MCP server's tools, how much of them the tests
exercised, and what the tool lint found in their definitions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, computed_field

from ..conversation.turns import OfferedTool


class ParameterUse(BaseModel):
    """A top-level parameter of a tool's input schema, and how the calls used it."""

    name: str
    required: bool = False
    calls: int = 0
    """Calls that gave it."""
    enum: list[Any] | None = None
    """Its closed set of values, when the schema has one."""
    values_used: list[Any] = Field(default_factory=list)
    """The values of `enum` some call gave."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def values_never_used(self) -> list[Any]:
        return [value for value in self.enum or [] if value not in self.values_used]


class ToolCoverage(BaseModel):
    """One tool of a server: how often it was offered and called, and by which tests."""

    name: str
    offered: int = 0
    """Conversations it was offered in."""
    calls: int = 0
    succeeded: int = 0
    """Calls whose result was not an error."""
    tests: list[str] = Field(default_factory=list)
    """The node ids of the tests that called it."""
    parameters: list[ParameterUse] = Field(default_factory=list)

    @property
    def exercised(self) -> bool:
        """Whether a call of it succeeded: a call that only failed did not run what the tool does."""
        return self.succeeded > 0


class ServerCoverage(BaseModel):
    """The tools one MCP server (by its label) offered in the run, and which of them the tests exercised; or those
    an app offered its model, whose server is not known, under their agent."""

    server: str
    tools: list[ToolCoverage] = Field(default_factory=list)
    agent: str | None = None
    """The agent whose app offered these tools (`server` is then `agent NAME (APP)`); None for an MCP server."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exercised(self) -> int:
        return sum(tool.exercised for tool in self.tools)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def never(self) -> list[str]:
        """The tools no call exercised."""
        return [tool.name for tool in self.tools if not tool.exercised]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share(self) -> float:
        """The share of its tools exercised (1 for a server that offered none)."""
        return self.exercised / len(self.tools) if self.tools else 1.0


class LintFinding(BaseModel):
    """Something in a tool's definition that makes the tool harder for a model to use well, and its fix."""

    rule: str
    server: str
    tool: str
    field: str
    """Where in the definition: `description`, `parameters.account`, `annotations.readOnlyHint`, `name`."""
    problem: str
    fix: str


class ToolSurface(BaseModel):
    """The run's MCP tools: their definitions (once each), their coverage by server, and the lint's findings."""

    servers: list[ServerCoverage] = Field(default_factory=list)
    definitions: list[OfferedTool] = Field(default_factory=list)
    """Every distinct tool definition offered in the run; conversations name theirs by `definition`."""
    findings: list[LintFinding] = Field(default_factory=list)
    not_checked: list[str] = Field(default_factory=list)
    """Lint checks that could not run, and why (tools known only from recordings have no annotations)."""
