"""OpenTelemetry export (`--aitest-otel`, `--aitest-otel-file`): each traced conversation as a trace.

The ids of a conversation's spans are made as it runs (conversation/trace_context.py), so that the model and the
MCP servers join its trace; the spans are built from each test's result where the results are collected (the
controller under pytest-xdist) and exported when the run ends. The mapping to the GenAI semantic conventions is in
`mapping.py`; the OpenTelemetry SDK, an optional extra, only in `sdk.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ...results.attach import REPORT_ATTRIBUTE
from ...results.schema import TestResult
from ...run.context import run_context
from ...whole_files import UnwritablePath, prepare_path, write_file
from . import sdk
from .mapping import Span, test_traces


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    group.addoption(
        "--aitest-otel",
        dest="aitest_otel",
        action="store_true",
        default=None,
        help="export each conversation as an OpenTelemetry trace over OTLP/HTTP (OTEL_EXPORTER_OTLP_* variables; "
        "needs aitest-bdd[otel])",
    )
    parser.addini("aitest_otel", "export OpenTelemetry traces over OTLP/HTTP, like --aitest-otel", type="bool")
    group.addoption(
        "--aitest-otel-file",
        dest="aitest_otel_file",
        metavar="PATH",
        default=None,
        help="write each conversation's OpenTelemetry trace to PATH as OTLP JSON, one line per trace",
    )
    parser.addini("aitest_otel_file", "write OpenTelemetry traces as OTLP JSON lines, like --aitest-otel-file")
    group.addoption(
        "--aitest-otel-content",
        dest="aitest_otel_content",
        action="store_true",
        default=None,
        help="put message contents (prompts, replies, tool arguments and results) in the traces",
    )
    parser.addini("aitest_otel_content", "put message contents in the traces, like --aitest-otel-content", type="bool")


def register(config: pytest.Config) -> None:
    """Export this run's traces, when asked for; a usage error when the `otel` extra is not installed."""
    send = bool(_setting(config, "aitest_otel"))
    file = _setting(config, "aitest_otel_file")
    if not send and not file:
        return
    if not sdk.installed():
        asked = "--aitest-otel" if send else "--aitest-otel-file"
        raise pytest.UsageError(f"{asked} {sdk.EXTRA_MISSING}")
    path = Path(os.path.expanduser(str(file))) if file else None
    content = bool(_setting(config, "aitest_otel_content"))
    config.pluginmanager.register(TraceExport(config, send, path, content), "aitest-otel")


def _setting(config: pytest.Config, name: str) -> object:
    option = config.getoption(name, None)
    return option if option is not None else config.getini(name)


class TraceExport:
    """Maps each test's result to traces as it is reported, and exports them all when the run ends."""

    def __init__(self, config: pytest.Config, send: bool, path: Path | None, content: bool) -> None:
        self.config = config
        self.send = send
        self.path = path
        self.content = content
        self._traces: dict[str, list[Span]] = {}
        """By trace id; a Python API conversation that spans tests is kept as its last test reported it."""
        self._notes: list[tuple[str, bool]] = []

    @property
    def _controller(self) -> bool:
        return not hasattr(self.config, "workerinput")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        if self._controller and self.path is not None:
            try:
                prepare_path(self.path)
            except UnwritablePath as error:
                raise pytest.UsageError(f"--aitest-otel-file {self.path}: {error}") from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, REPORT_ATTRIBUTE, None)
        if data is None or not self._controller:
            return
        self._traces.update(test_traces(TestResult.model_validate(data), self.content))

    def pytest_sessionfinish(self) -> None:
        if not self._controller or self.config.getoption("aitest_steps") or self.config.getoption("aitest_dry_run"):
            return
        traces = list(self._traces.values())
        count = f"{len(traces)} trace{'' if len(traces) == 1 else 's'}"
        if self.path is not None:
            try:
                write_file(self.path, sdk.json_lines(traces))
                self._notes.append((f"aitest otel: {count} written to {self.path}", True))
            except OSError as error:
                self._notes.append((f"aitest otel: {self.path} not written: {error.strerror or error}", False))
        if self.send and traces:
            spans = [span for spans in traces for span in spans]
            why = sdk.send(spans)
            if why is None:
                self._notes.append((f"aitest otel: {count} exported to {sdk.endpoint()}", True))
            else:
                why = run_context(self.config).redactor.text(why)
                self._notes.append((f"aitest otel: {count} not exported to {sdk.endpoint()}: {why}", False))

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        for line, exported in self._notes:
            terminalreporter.write_line(line, red=not exported)
