"""Render run results as Markdown for a CI job summary: totals, failed tests, models, the model matrix."""

from __future__ import annotations

import re

from ..conversation.turns import Conversation, Turn
from ..results.coverage import ungated_note
from ..results.schema import RunResults, StepResult, TestResult
from ..results.tool_surface import ToolSurface
from .html import (
    Baseline,
    Matrix,
    ModelRate,
    Tally,
    build_matrix,
    format_ms,
    model_rates,
    model_tallies,
    outcome_text,
    run_sources,
    run_tally,
    saved_attempts,
)
from .server_requests import asked_in, task_only_lines, task_only_tools

MAX_FAILED_ROWS = 50
MAX_ROWS = 50
"""The rows of a table of tests or of lint findings shown; the rest are counted, and left to the HTML report."""
MAX_MATRIX_ROWS = 50
MESSAGE_LENGTH = 160
_SPECIAL = re.compile(r"([\\`*_\[\]|])")
_ICONS = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


def cell(text: str, limit: int = MESSAGE_LENGTH) -> str:
    """`text` on one line, cut to `limit` characters, safe inside a table cell (no Markdown, no HTML)."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", flat)


def first_line(text: str) -> str:
    """The first line of a message: its gist (a step's failure is followed by the turn's transcript)."""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def label_of(test: TestResult) -> str:
    """Feature › scenario [example] (file:line), or the Python test's name and location."""
    example = ", ".join(f"{key}={value}" for key, value in test.example.items())
    name = f"{test.feature} › {test.name}" if test.feature else test.name
    where = test.file if test.line is None else f"{test.file}:{test.line}"
    return f"{name} [{example}] ({where})" if example else f"{name} ({where})"


def failing_step(test: TestResult) -> StepResult | None:
    return next((step for step in test.steps if step.status in ("failed", "undefined")), None)


def failed_section(tests: list[TestResult]) -> list[str]:
    """A table of the failed tests with the failing step and the first line of its message."""
    failed = [test for test in tests if test.status == "failed"]
    if not failed:
        return []
    lines = ["### Failed tests", "", row("Test", "Failing step", "Message"), row("---", "---", "---")]
    for test in failed[:MAX_FAILED_ROWS]:
        step = failing_step(test)
        where = f"{step.keyword} {step.text}" if step else "(no step)"
        message = (step.message if step else None) or test.message or "failed"
        if test.verdict:  # where it breaks most often, and the verdict from all attempts
            breaks = test.verdict.step_failures[:1]
            where = "; ".join(f"{item.keyword} {item.text} ({item.failed} of {item.ran} failed)" for item in breaks)
            where, message = where or "(no step)", test.verdict.summary
        lines.append(row(cell(label_of(test), 200), cell(where, 120), cell(first_line(message))))
    if len(failed) > MAX_FAILED_ROWS:
        lines += ["", f"… and {len(failed) - MAX_FAILED_ROWS} more failed tests: see the HTML report."]
    return [*lines, ""]


def answers_line(sources: dict[str, int]) -> list[str]:
    """Where the answers came from, in words: live, replayed from recordings, or the scripted model."""
    if not sources:
        return []
    if len(sources) == 1:
        return [f"Answers: {cell(next(iter(sources)), 300)}", ""]
    parts = (f"{cell(phrase, 300)} ({count:,} test{'s' * (count != 1)})" for phrase, count in sources.items())
    return [f"Answers: {'; '.join(parts)}", ""]


def totals_section(tally: Tally) -> list[str]:
    """The counts, the agent's tokens and cost, and the judge's when it gave verdicts."""
    header = ["Tests", "Passed", "Failed", "Skipped", "Turns", "Tool calls", "Agent tokens", "Agent cost"]
    values = (tally.tests, tally.passed, tally.failed, tally.skipped, tally.turns, tally.tool_calls, tally.tokens)
    cells = [*(f"{value:,}" for value in values), cell(tally.cost)]
    if tally.judgements:
        header += ["Judge tokens", "Judge cost"]
        cells += [f"{tally.judge_tokens:,}", tally.judge_cost]
    if tally.user_model_calls:
        header += ["User model tokens", "User model cost"]
        cells += [f"{tally.user_model_tokens:,}", tally.user_model_cost]
    return [row(*header, "Time"), row(*["---:"] * (len(header) + 1)), row(*cells, format_ms(tally.duration_ms)), ""]


def models_section(tallies: dict[str, Tally]) -> list[str]:
    """Per model: tests, pass rate, tokens, cost."""
    if len(tallies) < 2:
        return []
    lines = ["### Models", "", row("Model", "Tests", "Passed", "Failed", "Pass rate", "Tokens", "Cost")]
    lines.append(row("---", "---:", "---:", "---:", "---:", "---:", "---:"))
    for model, tally in tallies.items():
        numbers = (f"{tally.tests:,}", f"{tally.passed:,}", f"{tally.failed:,}", tally.pass_rate, f"{tally.tokens:,}")
        lines.append(row(cell(model, 80), *numbers, tally.cost))
    return [*lines, ""]


def matrix_section(matrix: Matrix) -> list[str]:
    """Scenario Outline rows by model, a mark per test."""
    if not matrix.rows:
        return []
    lines = ["### Model × scenario", "", row("Scenario", *(cell(model, 60) for model in matrix.models))]
    lines.append(row("---", *[":-:"] * len(matrix.models)))
    for matrix_row in matrix.rows[:MAX_MATRIX_ROWS]:
        marks = (
            " ".join(
                _ICONS.get(item.status, item.status) + (f" {item.passed}/{item.attempts}" if item.attempts > 1 else "")
                for item in matrix_row.cells.get(model, [])
            )
            or "–"
            for model in matrix.models
        )
        lines.append(row(cell(matrix_row.label, 120), *marks))
    if len(matrix.rows) > MAX_MATRIX_ROWS:
        lines += ["", f"… and {len(matrix.rows) - MAX_MATRIX_ROWS} more rows: see the HTML report."]
    return [*lines, ""]


def repeats_section(tests: list[TestResult], rates: list[ModelRate]) -> list[str]:
    """Per model, the pooled pass@1 with its interval and pass^k; each repeated scenario's verdict line."""
    if not rates:
        return []
    lines = ["### Repeated attempts", "", row("Model", "Scenarios", "Attempts", "pass@1 (95 % CI)", "pass^k")]
    lines.append(row("---", "---:", "---:", "---", "---:"))
    for rate in rates:
        pass_hat = f"pass^{rate.fewest} {round(rate.pass_hat_k * 100)} %"
        lines.append(row(cell(rate.model, 80), f"{rate.scenarios:,}", f"{rate.attempts:,}", rate.pass_at_1, pass_hat))
    if saved := saved_attempts(tests):
        lines += ["", f"Early stop saved {saved:,} attempt{'s' * (saved != 1)}."]
    lines += ["", row("Scenario", "Verdict"), row("---", "---")]
    repeated = [test for test in tests if test.verdict]
    for test in repeated[:MAX_FAILED_ROWS]:
        lines.append(row(cell(label_of(test), 200), cell(test.verdict.summary, 300)))
    if len(repeated) > MAX_FAILED_ROWS:
        lines += ["", f"… and {len(repeated) - MAX_FAILED_ROWS} more repeated scenarios: see the HTML report."]
    return [*lines, ""]


def baseline_section(baseline: Baseline | None) -> list[str]:
    """The changes from the baseline run: the overall verdict, then the scenarios that changed."""
    if baseline is None:
        return []
    lines = ["### Changes from the baseline", "", cell(baseline.verdict, 400), ""]
    if baseline.changed:
        lines += [row("Scenario", "Baseline", "Now", "Fisher p (Holm)", "First changed turn"), row(*["---"] * 5)]
        for change in baseline.changed[:MAX_FAILED_ROWS]:
            p_value = "–" if change.p_value is None else f"{change.p_value:.3g}"
            before, now = outcome_text(change.base_status, change.base), outcome_text(change.new_status, change.new)
            turn = cell(change.trajectory or "–")
            lines.append(row(cell(change.nodeid, 200), cell(before), cell(now), p_value, turn))
        lines.append("")
    return lines


def tool_surface_section(surface: ToolSurface | None) -> list[str]:
    """Each MCP server's share of exercised tools (and each app's, under its agent), and the tool lint's findings."""
    if surface is None or not (surface.servers or surface.findings):
        return []
    apps = [server.server for server in surface.servers if server.agent is not None]
    header = row("MCP server or agent" if apps else "MCP server", "Exercised", "Never exercised")
    lines = ["### Tool coverage", "", header, row("---", "---:", "---")]
    for server in surface.servers:
        exercised = f"{server.exercised} of {len(server.tools)}"
        lines.append(row(cell(server.server, 80), exercised, cell(", ".join(server.never) or "–", 300)))
    if apps:
        lines += ["", f"{cell(ungated_note(surface) or '', 400)}."]
    lines += ["", "### Tool lint", ""]
    if not surface.findings:
        lines += [f"No findings in the definitions of {len(surface.definitions):,} tools.", ""]
    else:
        lines += [row("Server", "Tool", "Field", "Problem", "Fix"), row(*["---"] * 5)]
        for finding in surface.findings[:MAX_ROWS]:
            where = (cell(finding.server, 80), cell(finding.tool, 80), cell(finding.field, 80))
            lines.append(row(*where, cell(finding.problem), cell(finding.fix)))
        if len(surface.findings) > MAX_ROWS:
            lines += ["", f"… and {len(surface.findings) - MAX_ROWS} more findings: see the HTML report."]
        lines.append("")
    return [*lines, *(f"{cell(note, 400)}\n" for note in surface.not_checked)]


def agents_section(tests: list[TestResult]) -> list[str]:
    """What ran each agent, when an app ran some: its turns and tool calls, or that its tool calls were not seen."""
    latest: dict[tuple[object, ...], Conversation] = {}  # a Python session's tests each hold its conversation so far
    for test in tests:
        for index, conversation in enumerate(test.conversations):
            session = test.kind == "python" and test.session
            key = (test.session, conversation.agent, conversation.attempt) if session else (test.nodeid, index)
            if len(conversation.turns) >= len(latest.get(key, conversation).turns):
                latest[key] = conversation
    agents: dict[tuple[str, str, str], list[Turn]] = {}
    for conversation in latest.values():
        key = (conversation.agent, conversation.app or "aitest-bdd", conversation.model)
        agents.setdefault(key, []).extend(conversation.turns)
    if all(app == "aitest-bdd" for _agent, app, _model in agents):
        return []
    lines = ["### Agents", "", row("Agent", "Run by", "Model", "Turns", "Tool calls"), row(*["---"] * 3, "---:", "---")]
    for (agent, app, model), turns in agents.items():
        lines.append(row(cell(agent, 80), cell(app, 80), cell(model, 80), f"{len(turns):,}", _tool_calls_text(turns)))
    return [*lines, ""]


def _tool_calls_text(turns: list[Turn]) -> str:
    hidden = sum(turn.hidden_tool_calls is not None for turn in turns)
    if hidden and hidden == len(turns):
        return "tool calls not exposed by this agent"
    calls = f"{sum(len(turn.tool_calls) for turn in turns):,}"
    return f"{calls} (not exposed in {hidden:,} turn{'s' * (hidden != 1)})" if hidden else calls


def context_section(tests: list[TestResult]) -> list[str]:
    """The MCP prompts each test ran and the resources it put in the context, in order."""
    used = [(test, _brought_in(test)) for test in tests]
    used = [(test, items) for test, items in used if items]
    if not used:
        return []
    lines = ["### MCP prompts and resources", "", row("Test", "Brought into the conversation"), row("---", "---")]
    for test, items in used[:MAX_ROWS]:
        lines.append(row(cell(label_of(test), 200), cell("; ".join(items), 300)))
    if len(used) > MAX_ROWS:
        lines += ["", f"… and {len(used) - MAX_ROWS} more tests: see the HTML report."]
    return [*lines, ""]


def _brought_in(test: TestResult) -> list[str]:
    items = []
    for turn in (turn for conversation in test.conversations for turn in conversation.turns):
        items += [f"resource {resource.uri}" for resource in turn.resources]
        if turn.prompt:
            arguments = ", ".join(f"{name}={value}" for name, value in turn.prompt.arguments.items())
            items.append(f"prompt {turn.prompt.name}" + (f" ({arguments})" if arguments else ""))
    return items


def server_requests_section(tests: list[TestResult]) -> list[str]:
    """What MCP servers asked during tool calls (questions for the user, sampling), by test; the tools they run only
    as tasks, which were not offered."""
    lines = []
    notes = task_only_lines(task_only_tools(conversation for test in tests for conversation in test.conversations))
    if notes:
        lines += ["### MCP tools not offered", "", *(f"- {cell(note, 400)}" for note in notes), ""]
    found = [(test, items) for test in tests if (items := asked_in(test))]
    if found:
        lines += ["### What MCP servers asked", "", row("Test", "Asked during tool calls"), row("---", "---")]
        for test, items in found[:MAX_ROWS]:
            lines.append(row(cell(label_of(test), 200), cell("; ".join(items), 400)))
        if len(found) > MAX_ROWS:
            lines += ["", f"… and {len(found) - MAX_ROWS} more tests: see the HTML report."]
        lines.append("")
    return lines


def render_markdown(results: RunResults, *, baseline: Baseline | None = None) -> str:
    """The run's summary in GitHub-flavoured Markdown, with the changes from `baseline` when given."""
    tally = run_tally(results.tests)
    icon = "❌" if tally.failed else "✅"
    title = f"## {icon} aitest-bdd: {tally.failed:,} failed, {tally.passed:,} passed of {tally.tests:,} tests"
    lines = [title, ""]
    lines += answers_line(run_sources(results.tests))
    lines += totals_section(tally)
    lines += baseline_section(baseline)
    lines += failed_section(results.tests)
    lines += models_section(model_tallies(results.tests))
    lines += repeats_section(results.tests, model_rates(results.tests))
    lines += matrix_section(build_matrix(results.tests))
    lines += agents_section(results.tests)
    lines += context_section(results.tests)
    lines += tool_surface_section(results.tool_surface)
    lines += server_requests_section(results.tests)
    return "\n".join(lines).rstrip() + "\n"
