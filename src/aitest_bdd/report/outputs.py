"""Write a run's results as JSON, HTML or Markdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..results.schema import RunResults


def write_json(results: RunResults, path: Path) -> None:
    path.write_text(results.model_dump_json(indent=1), encoding="utf-8")


def write_html(results: RunResults, path: Path) -> None:
    from .html import render_html  # lazily: jinja2 is needed only when a report is written

    path.write_text(render_html(results), encoding="utf-8")


def write_markdown(results: RunResults, path: Path) -> None:
    from .markdown import render_markdown  # lazily, like the HTML: it shares the report's tallies

    path.write_text(render_markdown(results), encoding="utf-8")


@dataclass(frozen=True)
class Output:
    """An output a run can write: what it is (for `--help`), and how."""

    what: str
    write: Callable[[RunResults, Path], None]


OUTPUTS = {
    "json": Output("the results as JSON (versioned schema)", write_json),
    "report": Output("a self-contained HTML report", write_html),
    "md": Output("a Markdown summary for CI job summaries", write_markdown),
}
"""Each output by its name in the options: `--aitest-json`, `--aitest-report`, `--aitest-md` and their ini keys."""
