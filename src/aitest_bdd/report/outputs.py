"""Write a run's results as JSON, HTML, Markdown or Cucumber Messages, each file whole or not at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from ..results.comparison import compare
from ..results.reading import UnreadableResults, read_results
from ..results.schema import RunResults
from ..whole_files import write_file

if TYPE_CHECKING:
    from .html import Baseline


def write_json(results: RunResults, path: Path, baseline: Baseline | None = None) -> None:
    write_file(path, results.model_dump_json(indent=1))


def write_html(results: RunResults, path: Path, baseline: Baseline | None = None) -> None:
    from .html import render_html  # lazily: jinja2 is needed only when a report is written

    write_file(path, render_html(results, baseline=baseline))


def write_markdown(results: RunResults, path: Path, baseline: Baseline | None = None) -> None:
    from .markdown import render_markdown  # lazily, like the HTML: it shares the report's tallies

    write_file(path, render_markdown(results, baseline=baseline))


def write_messages(results: RunResults, path: Path, baseline: Baseline | None = None) -> None:
    from .cucumber_ndjson import render_messages  # lazily: cucumber-messages is an optional extra

    write_file(path, render_messages(results))


def messages_unavailable() -> str | None:
    """Why Cucumber Messages cannot be written here: the optional library is not installed."""
    if find_spec("cucumber_messages") is None:
        return "needs the cucumber-messages library: pip install 'aitest-bdd[cucumber]'"
    return None


def read_baseline(path: str, results: RunResults) -> Baseline:
    """`results` compared with the run in `path` (`--aitest-baseline`), or, when it cannot be read, why."""
    from .html import Baseline  # lazily, like the HTML

    try:
        base = read_results(Path(path))
    except UnreadableResults as error:
        return Baseline(path, problem=error.reason)
    return Baseline(path, comparison=compare(base, results))


@dataclass(frozen=True)
class Output:
    """An output a run can write: what it is (for `--help`), and how (with the baseline to compare with, if any)."""

    what: str
    write: Callable[[RunResults, Path, Baseline | None], None]
    unavailable: Callable[[], str | None] = lambda: None
    """Why the output cannot be written in this environment (a missing optional library), or None."""


OUTPUTS = {
    "json": Output("the results as JSON (versioned schema)", write_json),
    "report": Output("a self-contained HTML report", write_html),
    "md": Output("a Markdown summary for CI job summaries", write_markdown),
    "messages": Output("Cucumber Messages (NDJSON) with each step's attachments", write_messages, messages_unavailable),
}
"""Each output by its name in the options: `--aitest-json`, `--aitest-report`, `--aitest-md`, `--aitest-messages`
and their ini keys."""
