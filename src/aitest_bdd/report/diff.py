"""`aitest-bdd diff BASE.json NEW.json`: what changed between two runs, and whether it is more than chance."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..conversation.pricing import format_usd
from ..results.comparison import Comparison, ScenarioChange, compare
from ..results.reading import UnreadableResults, read_results
from ..results.verdicts import percent
from ..whole_files import write_file
from .merge import USAGE_ERROR

REGRESSION = 1


def summary_lines(comparison: Comparison) -> list[str]:
    """The comparison in plain lines, the most important first."""
    lines = [
        f"overall: {comparison.overall} ({len(comparison.changes)} scenarios in both runs; {comparison.evidence})",
        f"tokens {comparison.tokens:+,}, cost {_signed_usd(comparison.cost_usd)}, "
        f"time {comparison.duration_ms / 1000:+.1f} s",
    ]
    lines += [f"only in the base run: {nodeid}" for nodeid in comparison.only_in_base]
    lines += [f"only in the new run: {nodeid}" for nodeid in comparison.only_in_new]
    return lines


def _rate(change: ScenarioChange, which: str) -> str:
    outcome = change.base if which == "base" else change.new
    status = change.base_status if which == "base" else change.new_status
    if outcome.attempts == 1:
        return status
    return f"{outcome.passed}/{outcome.attempts} ({percent(outcome.rate)})"


def _evidence(change: ScenarioChange) -> str:
    return "" if change.p_value is None else f"Fisher p = {change.p_value:.3g} (Holm)"


def _signed_usd(amount: float) -> str:
    return ("-" if amount < 0 else "+") + format_usd(abs(amount))


def render_text(comparison: Comparison) -> str:
    lines = summary_lines(comparison)
    for change in comparison.changed:
        lines.append(f"{change.nodeid}: {_rate(change, 'base')} → {_rate(change, 'new')} {_evidence(change)}".rstrip())
        if change.trajectory:
            lines.append(f"    {change.trajectory}")
    return "\n".join(lines) + "\n"


def render_markdown(comparison: Comparison) -> str:
    """A PR comment: the summary, then a table of the scenarios that changed."""
    lines = ["## aitest-bdd: changes from the base run", "", *(f"- {line}" for line in summary_lines(comparison))]
    rows = comparison.changed
    if rows:
        lines += ["", "| scenario | before | now | evidence | first changed turn |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| `{change.nodeid}` | {_rate(change, 'base')} | {_rate(change, 'new')} | {_evidence(change)} "
            f"| {(change.trajectory or '').replace('|', '&#124;')} |"
            for change in rows
        ]
    return "\n".join(lines) + "\n"


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("base", type=Path, metavar="BASE.json", help="results of the run to compare against")
    command.add_argument("new", type=Path, metavar="NEW.json", help="results of the new run")
    command.add_argument("--md", type=Path, metavar="OUT.md", help="also write the comparison as Markdown")
    command.add_argument(
        "--fail-on",
        choices=["regression", "never"],
        default="never",
        help="exit with status 1 on a significant regression (default: never)",
    )


def run(args: argparse.Namespace) -> int:
    """Compare, print, write the Markdown; 1 on a significant regression with --fail-on=regression."""
    try:
        comparison = compare(read_results(args.base), read_results(args.new))
    except UnreadableResults as error:
        print(f"aitest-bdd diff: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    sys.stdout.write(render_text(comparison))
    if args.md is not None:
        try:
            args.md.parent.mkdir(parents=True, exist_ok=True)
            write_file(args.md, render_markdown(comparison))
        except OSError as error:
            print(f"aitest-bdd diff: error: {args.md}: cannot be written: {error.strerror or error}", file=sys.stderr)
            return USAGE_ERROR
    return REGRESSION if args.fail_on == "regression" and comparison.overall == "regression" else 0
