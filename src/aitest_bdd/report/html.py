"""Render run results as one self-contained HTML file.

The overview (totals, models, the model x scenario matrix) is rendered here with autoescaping. The tests
themselves travel as JSON in `<script type="application/json">` blocks and are drawn lazily by the page's
script, which only ever sets text (never HTML) from them. Large runs are deflated and base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup
from pydantic import TypeAdapter

from ..results import RunResults, TestResult

PLAIN_LIMIT = 4_000_000
"""Below this many bytes of test JSON the data is embedded as readable JSON; above, deflated."""
CHUNK_TESTS = 1000
"""Tests per data block: blocks are dumped and compressed in parallel."""
COMPRESS_LEVEL = 6

_TESTS = TypeAdapter(list[TestResult])
_EXCLUDE: dict[str, Any] = {
    "__all__": {
        "conversations": {
            "__all__": {
                "turns": {
                    "__all__": {
                        "tool_calls": {"__all__": {"id", "raw_arguments", "structured_content"}},
                        "model_calls": {"__all__": {"content"}},
                    }
                }
            }
        }
    }
}
"""Fields left out of the embedded tests: repeats of other fields. `extras()` adds back the ones that say more."""


@dataclass
class Tally:
    """Counts and sums over a set of tests."""

    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    turns: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    priced_turns: int = 0
    duration_ms: float = 0.0

    def add_test(self, test: TestResult) -> None:
        """Count a test's status and time."""
        self.tests += 1
        setattr(self, test.status, getattr(self, test.status) + 1)
        self.duration_ms += test.duration_ms

    def add_turns(self, test: TestResult, model: str | None = None) -> None:
        """Add the turns of a test's conversations (only those on `model`, if given)."""
        for conversation in test.conversations:
            if model is not None and conversation.model != model:
                continue
            for turn in conversation.turns:
                self.turns += 1
                self.tool_calls += len(turn.tool_calls)
                self.tokens += turn.usage.total_tokens
                if turn.cost_usd is not None:
                    self.cost_usd += turn.cost_usd
                    self.priced_turns += 1

    @property
    def cost(self) -> str:
        """The cost in dollars, "n/a" when no turn had a price, marked partial when some had none."""
        if not self.priced_turns:
            return "n/a"
        text = f"${self.cost_usd:,.4f}"
        return text if self.priced_turns == self.turns else f"{text} (partial)"

    @property
    def pass_rate(self) -> str:
        ran = self.passed + self.failed
        return f"{100 * self.passed / ran:.0f}%" if ran else "n/a"


@dataclass
class Cell:
    """One test in the matrix."""

    index: int
    status: str
    nodeid: str


@dataclass
class MatrixRow:
    """A scenario (with its non-model example values) across models."""

    feature: str
    label: str
    cells: dict[str, list[Cell]] = field(default_factory=dict)


@dataclass
class Matrix:
    """Scenario Outline rows by model."""

    models: list[str]
    rows: list[MatrixRow]
    columns: dict[str, Tally]


def matrix_model(test: TestResult) -> str:
    """The matrix column of a test: its example's `model`, else the models it talked to."""
    return test.example.get("model") or ", ".join(test.models) or "(no model)"


def matrix_label(test: TestResult) -> str:
    """The matrix row of a test: its scenario, with the example's values other than `model`."""
    others = ", ".join(f"{key}={value}" for key, value in test.example.items() if key != "model")
    return f"{test.name} [{others}]" if others else test.name


def build_matrix(tests: list[TestResult]) -> Matrix:
    """The model x scenario matrix of every Scenario Outline row."""
    rows: dict[tuple[str, str], MatrixRow] = {}
    columns: dict[str, Tally] = {}
    for index, test in enumerate(tests):
        if test.kind != "scenario" or not test.example:
            continue
        model, feature = matrix_model(test), test.feature or test.file
        row = rows.setdefault((feature, matrix_label(test)), MatrixRow(feature, matrix_label(test)))
        row.cells.setdefault(model, []).append(Cell(index, test.status, test.nodeid))
        columns.setdefault(model, Tally()).add_test(test)
    return Matrix(sorted(columns), list(rows.values()), columns)


def run_tally(tests: Iterable[TestResult]) -> Tally:
    """Totals over all tests."""
    tally = Tally()
    for test in tests:
        tally.add_test(test)
        tally.add_turns(test)
    return tally


def model_tallies(tests: Iterable[TestResult]) -> dict[str, Tally]:
    """Totals per model a conversation ran on; a test on two models counts for both."""
    tallies: dict[str, Tally] = {}
    for test in tests:
        for model in test.models:
            tally = tallies.setdefault(model, Tally())
            tally.add_test(test)
            tally.add_turns(test, model)
    return dict(sorted(tallies.items()))


def extras(tests: list[TestResult]) -> dict[str, Any]:
    """Left-out fields worth showing, by "test.conversation.turn.kind+call": a model's text before
    its final answer (m), arguments that were not valid JSON (r), structured content without text (s)."""
    found: dict[str, Any] = {}
    for t, test in enumerate(tests):
        for c, conversation in enumerate(test.conversations):
            for u, turn in enumerate(conversation.turns):
                where = f"{t}.{c}.{u}."
                for m, call in enumerate(turn.model_calls):
                    if call.content and call.content != turn.final_response:
                        found[f"{where}m{m}"] = call.content
                for k, tool in enumerate(turn.tool_calls):
                    if tool.raw_arguments and not tool.arguments:
                        found[f"{where}r{k}"] = tool.raw_arguments
                    if tool.structured_content is not None and not tool.result_text:
                        found[f"{where}s{k}"] = tool.structured_content
    return found


def script_safe(text: str) -> str:
    """JSON text that cannot end or confuse the `<script>` element it sits in."""
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def dump_chunks(tests: list[TestResult]) -> list[bytes]:
    """The tests as JSON arrays of up to CHUNK_TESTS tests each."""
    parts = [tests[start : start + CHUNK_TESTS] for start in range(0, len(tests), CHUNK_TESTS)] or [[]]
    return [_TESTS.dump_json(part, exclude=_EXCLUDE) for part in parts]


def deflate(data: bytes) -> str:
    """zlib-compressed, base64-encoded: what the page's DecompressionStream("deflate") reads."""
    return base64.b64encode(zlib.compress(data, COMPRESS_LEVEL)).decode("ascii")


def encode_tests(tests: list[TestResult], compress: bool | None) -> tuple[str, list[str]]:
    """The encoding ("json" or "deflate-base64") and the text of each data block."""
    chunks = dump_chunks(tests)
    if compress is None:
        compress = sum(len(chunk) for chunk in chunks) > PLAIN_LIMIT
    if not compress:
        return "json", [script_safe(chunk.decode("utf-8")) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return "deflate-base64", list(pool.map(deflate, chunks))


@cache
def environment() -> jinja2.Environment:
    """The template environment, autoescaping everything."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aitest_bdd", "report/templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["ms"] = format_ms
    env.filters["count"] = lambda value: f"{value:,}"
    return env


def asset(name: str) -> Markup:
    """A CSS or JS file, inlined as is (it must not contain a closing tag)."""
    source = environment().loader.get_source(environment(), name)[0]  # type: ignore[union-attr]
    if "</" in source:
        raise ValueError(f"{name} contains '</', which would end its element")
    return Markup(source)


def script_hash(source: str) -> str:
    """The Content-Security-Policy source that lets exactly this inline script run, and no other."""
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def format_ms(value: float) -> str:
    """A duration for people: 850 ms, 12.3 s, 4 min 5 s."""
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    minutes, seconds = divmod(round(value / 1000), 60)
    return f"{minutes} min {seconds} s"


def render_html(results: RunResults, *, compress: bool | None = None) -> str:
    """The report as one HTML file. `compress`: deflate the data (None: only when it is large)."""
    tests = results.tests
    encoding, chunks = encode_tests(tests, compress)
    js = asset("report.js")
    meta = {"extras": extras(tests), "created_at": results.created_at.isoformat(), "tool_version": results.tool_version}
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            results=results,
            tally=run_tally(tests),
            scenarios=sum(test.kind == "scenario" for test in tests),
            models=model_tallies(tests),
            matrix=build_matrix(tests),
            encoding=encoding,
            chunks=[Markup(chunk) for chunk in chunks],
            meta=Markup(script_safe(json.dumps(meta, ensure_ascii=False))),
            css=asset("report.css"),
            js=js,
            script_hash=script_hash(js),
        )
    )
