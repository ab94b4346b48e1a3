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
import re
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup
from pydantic import TypeAdapter

from ..conversation.turns import SCRIPTED_MODEL_PREFIX, Conversation, Turn, is_scripted
from ..results.comparison import Comparison, Outcome, ScenarioChange
from ..results.schema import RunResults, TestResult
from ..results.verdicts import percent
from ..stats.comparison import fisher_exact
from ..stats.intervals import wilson
from ..stats.labels import label
from ..stats.pass_at_k import pass_hat_k
from .server_requests import task_only_lines, task_only_tools

PLAIN_LIMIT = 4_000_000
"""Below this many bytes of test JSON the data is embedded as readable JSON; above, deflated."""
CHUNK_TESTS = 500
"""Tests per data block: blocks are dumped and compressed in parallel."""
COMPRESS_LEVEL = 6
"""The zlib level of deflated data blocks."""
SCRIPTED = "scripted demo model (not a real LLM)"
"""How the scripted test model names itself in its answers."""
THUMBNAIL_CHARS = 200_000
"""An image returned by a tool is embedded as a thumbnail up to this many characters of base64 (about 150 KB)."""
IMAGES_CHARS = 5_000_000
"""The images embedded in one report, in characters of base64 (about 3.7 MB): later ones are described only."""

_LOADER = jinja2.PackageLoader("aitest_bdd", "report/templates")
_TESTS = TypeAdapter(list[TestResult])
_EXCLUDE: dict[str, Any] = {
    "__all__": {
        "conversations": {
            "__all__": {
                "tools": {"__all__": {"parameters", "annotations", "definition"}},
                "turns": {
                    "__all__": {
                        "tool_calls": {
                            "__all__": {
                                "id": True,
                                "raw_arguments": True,
                                "structured_content": True,
                                "content": {"__all__": {"data"}},
                            }
                        },
                        "model_calls": {"__all__": {"content"}},
                    }
                }
            }
        }
    }
}
"""Fields left out of the embedded tests: repeats of other fields. `extras()` adds back the ones that say more."""
_DURATION_DIGITS = re.compile(rb'("duration_ms":-?\d+\.\d)\d{3,}')
"""A measured duration's digits past 0.1 ms: noise that does not compress (about a tenth of the data).
Only a key can match: inside a JSON string its quotes would be escaped."""


def scripted(turn: Turn) -> bool:
    """Whether the scripted test model answered the turn: its cost is hypothetical."""
    return any(is_scripted(call.model) for call in turn.model_calls)


def dollars(amount: float) -> str:
    """An amount in dollars, to a hundredth of a cent."""
    return f"${amount:,.4f}"


@dataclass
class Tally:
    """Counts and sums over a set of tests. Tokens and cost are the agent's; the judge's are apart."""

    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    turns: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    priced_turns: int = 0
    hypothetical_usd: float = 0.0
    """Prices of the scripted model's turns: what a real model of that name would have cost."""
    hypothetical_turns: int = 0
    duration_ms: float = 0.0
    judgements: int = 0
    judge_tokens: int = 0
    judge_cost_usd: float = 0.0
    hypothetical_judgements: int = 0
    priced_judgements: int = 0
    user_model_calls: int = 0
    """Calls to the user model, which plays simulated users: their tokens and cost are apart from the agent's."""
    user_model_tokens: int = 0
    user_model_cost_usd: float = 0.0
    priced_user_model_calls: int = 0
    hypothetical_user_model_calls: int = 0

    def add_test(self, test: TestResult) -> None:
        """Count a test's status and time."""
        self.tests += 1
        setattr(self, test.status, getattr(self, test.status) + 1)
        self.duration_ms += test.duration_ms

    def add_turns(self, test: TestResult, model: str | None = None) -> None:
        """Add the turns of a test's conversations (only those on `model`, if given), and their user model calls."""
        for conversation in test.conversations:
            if model is not None and conversation.model != model:
                continue
            for call in conversation.user_model_calls:
                self.user_model_calls += 1
                self.user_model_tokens += call.usage.total_tokens
                if call.cost_usd is not None:
                    self.user_model_cost_usd += call.cost_usd
                    self.priced_user_model_calls += 1
                    self.hypothetical_user_model_calls += is_scripted(call.model)
            for turn in conversation.turns:
                self.turns += 1
                self.tool_calls += len(turn.tool_calls)
                self.tokens += turn.usage.total_tokens
                if turn.cost_usd is not None:
                    self.priced_turns += 1
                    if scripted(turn):
                        self.hypothetical_usd += turn.cost_usd
                        self.hypothetical_turns += 1
                    else:
                        self.cost_usd += turn.cost_usd
                for verdict in turn.judgements:
                    self.judgements += 1
                    self.judge_tokens += verdict.usage.total_tokens
                    if verdict.cost_usd is not None:
                        self.judge_cost_usd += verdict.cost_usd
                        self.priced_judgements += 1
                        self.hypothetical_judgements += is_scripted(verdict.model)

    @property
    def cost(self) -> str:
        """The agent's cost in dollars, "n/a" when no turn had a price, marked partial when some had none.

        What the scripted model's turns would have cost is told apart, as hypothetical."""
        if not self.priced_turns:
            return "n/a"
        parts = [dollars(self.cost_usd)] if self.priced_turns > self.hypothetical_turns else []
        if self.hypothetical_turns:
            parts.append(f"{dollars(self.hypothetical_usd)} hypothetical (scripted model)")
        text = " + ".join(parts)
        return text if self.priced_turns == self.turns else f"{text} (partial)"

    @property
    def judge_cost(self) -> str:
        """The judge's cost in dollars, like `cost` (hypothetical when the scripted model judged)."""
        if not self.priced_judgements:
            return "n/a"
        text = dollars(self.judge_cost_usd)
        if self.hypothetical_judgements:
            text += " hypothetical (scripted model)"
        return text if self.priced_judgements == self.judgements else f"{text} (partial)"

    @property
    def user_model_cost(self) -> str:
        """The user model's cost in dollars, like `judge_cost`."""
        if not self.priced_user_model_calls:
            return "n/a"
        text = dollars(self.user_model_cost_usd)
        if self.hypothetical_user_model_calls:
            text += " hypothetical (scripted model)"
        return text if self.priced_user_model_calls == self.user_model_calls else f"{text} (partial)"

    @property
    def pass_rate(self) -> str:
        ran = self.passed + self.failed
        return f"{100 * self.passed / ran:.0f}%" if ran else "n/a"

    @property
    def summary(self) -> str:
        """Turns, tool calls, tokens, cost and time on one line."""
        turns = f"{self.turns:,} turn{'s' * (self.turns != 1)}"
        tool_calls = f"{self.tool_calls:,} tool call{'s' * (self.tool_calls != 1)}"
        return f"{turns} · {tool_calls} · {self.tokens:,} tokens · {self.cost} · {format_ms(self.duration_ms)}"


def answered_by(conversation: Conversation) -> str | None:
    """Where a conversation's answers came from, in words; None when it has no turns."""
    if not conversation.turns:
        return None
    models = sorted({call.model for turn in conversation.turns for call in turn.model_calls}) or [conversation.model]
    replayed = any(turn.source == "replayed" for turn in conversation.turns)
    date = conversation.recorded_at.strftime("%Y-%m-%d") if conversation.recorded_at else "an unknown date"
    if any(map(is_scripted, models)):
        return f"{SCRIPTED}, replayed from recordings made on {date}" if replayed else SCRIPTED
    if replayed:
        return f"replayed from recordings made on {date} with {', '.join(models)}"
    return f"live on {', '.join(models)}"


def test_sources(test: TestResult) -> list[str]:
    """Where a test's answers came from: one phrase per kind of conversation it held."""
    return sorted({phrase for conversation in test.conversations if (phrase := answered_by(conversation))})


def run_sources(tests: list[TestResult]) -> dict[str, int]:
    """Each phrase of `test_sources` and how many tests it is true of, most first."""
    counts: dict[str, int] = {}
    for index in conversation_holders(tests):
        for phrase in test_sources(tests[index]):
            counts[phrase] = counts.get(phrase, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def sources_data(tests: list[TestResult]) -> dict[str, Any]:
    """What the page needs to say per test where its answers came from: the phrases, and per test their indices."""
    phrases: dict[str, int] = {}
    per_test = [[phrases.setdefault(phrase, len(phrases)) for phrase in test_sources(test)] for test in tests]
    return {"phrases": list(phrases), "tests": per_test}


def interval_text(passed: int, attempts: int) -> str:
    """A pass rate with its 95 % Wilson interval: `3/5 passed (60 %, 95 % CI 23–88 %)`."""
    low, high = wilson(passed, attempts)
    return f"{passed}/{attempts} passed ({percent(passed / attempts)}, 95 % CI {round(low * 100)}–{percent(high)})"


@dataclass
class Cell:
    """One test in the matrix, with its attempts: one for a test that ran once, none for a skipped one."""

    index: int
    status: str
    nodeid: str
    summary: str
    passed: int = 0
    attempts: int = 0

    @property
    def heat(self) -> int | None:
        """The pass rate in tenths (0 to 10), the cell's color; None for a skipped test."""
        return round(10 * self.passed / self.attempts) if self.attempts else None

    @property
    def mark(self) -> str:
        """The shape that tells the pass rate without its color: all, some or none of the attempts passed."""
        return "✓" if self.passed == self.attempts else "✗" if not self.passed else "◐"

    @property
    def rate_title(self) -> str:
        """The pass rate, its interval and its label, for the cell's hover text."""
        if not self.attempts:
            return self.nodeid
        return f"{interval_text(self.passed, self.attempts)}, {label(self.passed, self.attempts)} · {self.nodeid}"


@dataclass
class MatrixRow:
    """A scenario (with its non-model example values) across models."""

    feature: str
    label: str
    cells: dict[str, list[Cell]] = field(default_factory=dict)

    @property
    def tests(self) -> int:
        return sum(len(cells) for cells in self.cells.values())


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
    """The matrix row of a test: its scenario, with the example's values other than `model`.

    A model named in the scenario's name reads `<model>` again (where it stands as a word of its own)."""
    model = test.example.get("model")
    name = re.sub(rf"(?<![\w.-]){re.escape(model)}(?![\w.-])", "<model>", test.name) if model else test.name
    others = ", ".join(f"{key}={value}" for key, value in test.example.items() if key != "model")
    return f"{name} [{others}]" if others else name


def build_matrix(tests: list[TestResult]) -> Matrix:
    """The model x scenario matrix of every Scenario Outline row."""
    rows: dict[tuple[str, str, str], MatrixRow] = {}
    columns: dict[str, Tally] = {}
    for index, test in enumerate(tests):
        if test.kind != "scenario" or not test.example:
            continue
        model, feature = matrix_model(test), test.feature or test.file
        others = tuple((key, value) for key, value in test.example.items() if key != "model")
        key = (feature, f"{test.file}:{test.line}", repr(others))  # one row per Outline and other values
        row = rows.setdefault(key, MatrixRow(feature, matrix_label(test)))
        own = Tally()
        own.add_test(test)
        own.add_turns(test)
        outcome = Outcome.of(test) if test.status != "skipped" else Outcome(0, 0)
        cell = Cell(index, test.status, test.nodeid, own.summary, outcome.passed, outcome.attempts)
        row.cells.setdefault(model, []).append(cell)
        columns.setdefault(model, Tally()).add_test(test)
    return Matrix(sorted(columns), list(rows.values()), columns)


@dataclass
class ModelRate:
    """A model's attempts pooled over its scenarios: pass@1 with its interval, and pass^k."""

    model: str
    scenarios: int = 0
    passed: int = 0
    attempts: int = 0
    fewest: int = 0
    """The fewest attempts of any of its scenarios: the k of pass^k."""
    pass_hat_k: float = 0.0
    """pass^k averaged over its scenarios, for k = `fewest`."""

    @property
    def pass_at_1(self) -> str:
        return interval_text(self.passed, self.attempts)


def model_rates(tests: list[TestResult]) -> list[ModelRate]:
    """Per model (as in the matrix), the pooled pass rate of its scenarios that ran; empty without repeats."""
    if not any(test.verdict for test in tests):
        return []
    outcomes: dict[str, list[Outcome]] = {}
    for test in tests:
        if test.kind == "scenario" and test.status != "skipped":
            outcomes.setdefault(matrix_model(test), []).append(Outcome.of(test))
    rates = []
    for model, runs in sorted(outcomes.items()):
        fewest = min(run.attempts for run in runs)
        rate = ModelRate(model, len(runs), sum(run.passed for run in runs), sum(run.attempts for run in runs), fewest)
        rate.pass_hat_k = sum(pass_hat_k(run.attempts, run.passed, fewest) for run in runs) / len(runs)
        rates.append(rate)
    return rates


def saved_attempts(tests: list[TestResult]) -> int:
    """The attempts early stop did not need to run."""
    return sum(test.verdict.limit - test.verdict.attempts for test in tests if test.verdict and test.verdict.early_stop)


@dataclass
class ModelPair:
    """Two models on the same Outline rows: their pooled pass rates, and Fisher's exact test of the difference."""

    first: str
    second: str
    rows: int
    first_rate: str
    second_rate: str
    p_value: float


def model_pairs(matrix: Matrix) -> list[ModelPair]:
    """Each pair of the matrix's models, over the rows both ran on (the same scenario and other example values)."""
    pairs = []
    for position, first in enumerate(matrix.models):
        for second in matrix.models[position + 1 :]:
            shared = [row for row in matrix.rows if _ran(row, first) and _ran(row, second)]
            if not shared:
                continue
            a_passed, a_attempts = _pooled(shared, first)
            b_passed, b_attempts = _pooled(shared, second)
            pairs.append(
                ModelPair(
                    first,
                    second,
                    len(shared),
                    interval_text(a_passed, a_attempts),
                    interval_text(b_passed, b_attempts),
                    fisher_exact(a_passed, a_attempts, b_passed, b_attempts),
                )
            )
    return pairs


def _ran(row: MatrixRow, model: str) -> bool:
    return any(cell.attempts for cell in row.cells.get(model, []))


def _pooled(rows: list[MatrixRow], model: str) -> tuple[int, int]:
    cells = [cell for row in rows for cell in row.cells.get(model, [])]
    return sum(cell.passed for cell in cells), sum(cell.attempts for cell in cells)


@dataclass(frozen=True)
class Baseline:
    """The run this one is compared with (`--aitest-baseline`): the comparison, or why there is none."""

    path: str
    comparison: Comparison | None = None
    problem: str | None = None

    @property
    def changed(self) -> list[ScenarioChange]:
        """The scenarios whose verdict, pass rate or tool calls changed."""
        return self.comparison.changed if self.comparison is not None else []

    @property
    def verdict(self) -> str:
        """The overall verdict and the tests it rests on, in words."""
        if self.comparison is None:
            return f"The baseline {self.path} was not used: {self.problem}"
        comparison = self.comparison
        overall = comparison.overall.capitalize()
        return f"{overall}: {len(comparison.changes)} scenarios in both runs; {comparison.evidence}"


def outcome_text(status: str, outcome: Outcome) -> str:
    """A scenario's result in one run: its status, or its pass rate when it was repeated."""
    return status if outcome.attempts == 1 else f"{outcome.passed}/{outcome.attempts} ({percent(outcome.rate)})"


def conversation_holders(tests: list[TestResult]) -> set[int]:
    """Indices of the tests whose turns count: every scenario, and for each Python session the test
    holding its whole conversation (the session's tests each hold the conversation so far)."""
    holders: dict[str, int] = {}
    for index, test in enumerate(tests):
        key = test.nodeid if test.kind == "scenario" else test.session or test.nodeid
        if key not in holders or test.turn_count >= tests[holders[key]].turn_count:
            holders[key] = index
    return set(holders.values())


def run_tally(tests: list[TestResult]) -> Tally:
    """Totals over all tests."""
    tally = Tally()
    holders = conversation_holders(tests)
    for index, test in enumerate(tests):
        tally.add_test(test)
        if index in holders:
            tally.add_turns(test)
    return tally


def model_tallies(tests: list[TestResult]) -> dict[str, Tally]:
    """Totals per model a conversation ran on; a test on two models counts for both."""
    tallies: dict[str, Tally] = {}
    holders = conversation_holders(tests)
    for index, test in enumerate(tests):
        for model in test.models:
            tally = tallies.setdefault(model, Tally())
            tally.add_test(test)
            if index in holders:
                tally.add_turns(test, model)
    return dict(sorted(tallies.items()))


def extras(tests: list[TestResult]) -> dict[str, Any]:
    """Left-out fields worth showing, by "test.conversation.turn.kind+call": a model's text before
    its final answer (m), arguments that were not valid JSON (r), structured content without text (s), and
    by "...i+call-block" the data of the images tools returned, within THUMBNAIL_CHARS each and IMAGES_CHARS in all."""
    found: dict[str, Any] = {}
    budget = IMAGES_CHARS
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
                    for b, block in enumerate(tool.content):
                        if block.type == "image" and block.data and len(block.data) <= min(THUMBNAIL_CHARS, budget):
                            found[f"{where}i{k}-{b}"] = block.data
                            budget -= len(block.data)
    return found


def script_safe(text: str) -> str:
    """JSON text that cannot end or confuse the `<script>` element it sits in."""
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def parts(tests: list[TestResult]) -> list[list[TestResult]]:
    """The tests in slices of CHUNK_TESTS, one data block each."""
    return [tests[start : start + CHUNK_TESTS] for start in range(0, len(tests), CHUNK_TESTS)] or [[]]


def dump(tests: list[TestResult]) -> bytes:
    """The tests as a JSON array, without the left-out fields, durations cut to 0.1 ms."""
    return _DURATION_DIGITS.sub(lambda match: match[1], _TESTS.dump_json(tests, exclude=_EXCLUDE))


def deflate(data: bytes) -> str:
    """zlib-compressed, base64-encoded: what the page's DecompressionStream("deflate") reads."""
    return base64.b64encode(zlib.compress(data, COMPRESS_LEVEL)).decode("ascii")


def encode_tests(tests: list[TestResult], compress: bool | None) -> tuple[str, list[str]]:
    """The encoding ("json" or "deflate-base64") and the text of each data block.

    With `compress` None, blocks are deflated once the JSON passes PLAIN_LIMIT bytes. Deflating runs in
    threads (zlib releases the GIL) while the next blocks are dumped.
    """
    blocks: list[bytes] = []
    deflated: list[Future[str]] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for part in parts(tests):
            blocks.append(dump(part))
            if compress is None and sum(len(block) for block in blocks) > PLAIN_LIMIT:
                compress = True
            if compress:
                deflated += [pool.submit(deflate, block) for block in blocks[len(deflated) :]]
        if compress:
            return "deflate-base64", [future.result() for future in deflated]
    return "json", [script_safe(block.decode("utf-8")) for block in blocks]


@cache
def environment() -> jinja2.Environment:
    """The template environment, autoescaping everything."""
    env = jinja2.Environment(loader=_LOADER, autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["ms"] = format_ms
    env.filters["count"] = lambda value: f"{value:,}"
    env.filters["percent"] = percent
    env.globals["outcome_text"] = outcome_text
    return env


def asset(name: str) -> Markup:
    """A CSS or JS file, inlined as is (it must not contain a closing tag)."""
    source = _LOADER.get_source(environment(), name)[0]
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


def render_html(results: RunResults, *, compress: bool | None = None, baseline: Baseline | None = None) -> str:
    """The report as one HTML file. `compress`: deflate the data (None: only when it is large).

    `baseline`: the run to show the changes from."""
    tests = results.tests
    encoding, chunks = encode_tests(tests, compress)
    js = asset("report.js")
    matrix = build_matrix(tests)
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            results=results,
            tally=run_tally(tests),
            scenarios=sum(test.kind == "scenario" for test in tests),
            models=model_tallies(tests),
            matrix=matrix,
            pairs=model_pairs(matrix),
            rates=model_rates(tests),
            saved=saved_attempts(tests),
            baseline=baseline,
            encoding=encoding,
            chunks=[Markup(chunk) for chunk in chunks],
            extras=Markup(script_safe(json.dumps(extras(tests), ensure_ascii=False))),
            task_only=task_only_lines(task_only_tools(c for test in tests for c in test.conversations)),
            sources=run_sources(tests),
            sources_data=Markup(script_safe(json.dumps(sources_data(tests), ensure_ascii=False))),
            scripted_prefix=SCRIPTED_MODEL_PREFIX,
            css=asset("report.css"),
            js=js,
            script_hash=script_hash(js),
        )
    )
