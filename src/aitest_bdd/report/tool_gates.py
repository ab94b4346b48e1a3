"""The run's tool surface on the controller: gathered test by test, shown in the terminal, and its two gates,
`--aitest-min-tool-coverage` (each MCP server's share of exercised tools) and `--aitest-strict-tools` (no lint
finding)."""

from __future__ import annotations

from typing import Any

import pytest

from ..results.coverage import (
    SurfaceTally,
    coverage_lines,
    coverage_shortfalls,
    leave_definitions_out,
    lint_line,
    parse_share,
    ungated_note,
)
from ..results.schema import TestResult
from ..results.tool_surface import ToolSurface


class ToolSurfaceWatch:
    """The tool use of every test, the surface computed from it once, and the gates it fails."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._tally = SurfaceTally()
        self._surface: ToolSurface | None = None
        self.min_coverage: float | None = None
        self.strict = False
        self.failures: list[str] = []

    def read_gates(self) -> None:
        """Read the gates' settings; one that cannot be used is a usage error."""
        asked = self.config.getoption("aitest_min_tool_coverage")
        text, given = (asked, f"--aitest-min-tool-coverage {asked!r}") if asked is not None else (None, "")
        if text is None and (ini := self.config.getini("aitest_min_tool_coverage")):
            text, given = ini, f"aitest_min_tool_coverage = {ini}"
        try:
            self.min_coverage = parse_share(text, given) if text is not None else None
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        self.strict = bool(self.config.getoption("aitest_strict_tools") or self.config.getini("aitest_strict_tools"))

    def add(self, result: TestResult, data: dict[str, Any]) -> None:
        """Note a test's tool use; its tools' parameters and annotations leave `data`, which the outputs keep."""
        self._tally.add(result)
        leave_definitions_out(data)
        self._surface = None

    def surface(self) -> ToolSurface:
        if self._surface is None:
            self._surface = self._tally.surface()
        return self._surface

    def check(self, session: pytest.Session) -> None:
        """Fail a run that passed when a gate is not met (exit status 1, as for a failed test)."""
        surface = self.surface()
        if self.min_coverage is not None:
            self.failures += coverage_shortfalls(surface, self.min_coverage)
        if self.strict and surface.findings:
            self.failures += [
                f"--aitest-strict-tools: {finding.server} {finding.tool} {finding.field}: {finding.problem} "
                f"(fix: {finding.fix})"
                for finding in surface.findings
            ]
        if self.failures and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def summarize(self, terminalreporter: Any) -> None:
        """One line per MCP server (and per agent run by an app), the lint's count, and each gate failure."""
        surface = self.surface()
        for line in coverage_lines(surface):
            terminalreporter.write_line(line)
        if self.min_coverage is not None and (note := ungated_note(surface)):
            terminalreporter.write_line(note)
        if line := lint_line(surface):
            terminalreporter.write_line(line, yellow=not self.strict, red=self.strict)
        for failure in self.failures:
            terminalreporter.write_line(f"aitest tool gate: {failure}", red=True)
