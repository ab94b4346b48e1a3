"""Write a run's results as JSON, HTML or Markdown, each file whole or not at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..results.comparison import compare
from ..results.schema import READABLE_SCHEMA_VERSIONS, RunResults
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


def read_baseline(path: str, results: RunResults) -> Baseline:
    """`results` compared with the run in `path` (`--aitest-baseline`), or, when it cannot be read, why."""
    from .html import Baseline  # lazily, like the HTML

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        return Baseline(path, problem=error.strerror or str(error))
    except UnicodeDecodeError:
        return Baseline(path, problem="it is not text: give the --aitest-json file of an earlier run")
    try:
        base = RunResults.model_validate_json(text)
    except ValidationError:
        return Baseline(path, problem="it is not aitest-bdd results: give the --aitest-json file of an earlier run")
    if base.schema_version not in READABLE_SCHEMA_VERSIONS:
        return Baseline(path, problem=f"its schema version {base.schema_version} is not one this version reads")
    return Baseline(path, comparison=compare(base, results))


@dataclass(frozen=True)
class Output:
    """An output a run can write: what it is (for `--help`), and how (with the baseline to compare with, if any)."""

    what: str
    write: Callable[[RunResults, Path, Baseline | None], None]


OUTPUTS = {
    "json": Output("the results as JSON (versioned schema)", write_json),
    "report": Output("a self-contained HTML report", write_html),
    "md": Output("a Markdown summary for CI job summaries", write_markdown),
}
"""Each output by its name in the options: `--aitest-json`, `--aitest-report`, `--aitest-md` and their ini keys."""
