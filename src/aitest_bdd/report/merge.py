"""`aitest-bdd-merge OUT.json [--html OUT.html] [--md OUT.md] SHARD.json...`: one run from several JSON results.

Shards are read in order; a test (by nodeid) in a later shard replaces the same test from an earlier one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..results.coverage import tool_surface
from ..results.reading import UnreadableResults, read_results
from ..results.schema import RunResults, TestResult
from ..version import package_version
from .outputs import write_html, write_json, write_markdown

USAGE_ERROR = 2


def merge(shards: list[RunResults]) -> RunResults:
    """All shards' tests, in first-seen order; a later shard's test wins on the same nodeid. The tool surface is
    computed again from the merged tests, with every shard's tool definitions."""
    tests: dict[str, TestResult] = {}
    for shard in shards:
        for test in shard.tests:
            tests[test.nodeid] = test
    definitions = [tool for shard in shards if shard.tool_surface for tool in shard.tool_surface.definitions]
    merged = list(tests.values())
    return RunResults(tool_version=package_version(), tests=merged, tool_surface=tool_surface(merged, definitions))


def parser() -> argparse.ArgumentParser:
    """The command line."""
    command = argparse.ArgumentParser(
        prog="aitest-bdd-merge",
        description="Merge aitest-bdd JSON results (e.g. from CI shards) into one, and render it.",
    )
    command.add_argument("output", type=Path, metavar="OUT.json", help="where to write the merged JSON")
    command.add_argument("shards", type=Path, nargs="+", metavar="SHARD.json", help="results to merge, in order")
    command.add_argument("--html", type=Path, metavar="OUT.html", help="also write the HTML report")
    command.add_argument("--md", type=Path, metavar="OUT.md", help="also write the Markdown summary")
    return command


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 on success, 2 when a shard cannot be merged."""
    args = parser().parse_args(argv)
    try:
        merged = merge([read_results(path) for path in args.shards])
    except UnreadableResults as error:
        print(f"aitest-bdd-merge: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    for path, write in ((args.output, write_json), (args.html, write_html), (args.md, write_markdown)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(merged, path)
    print(f"aitest-bdd-merge: {len(merged.tests)} tests from {len(args.shards)} files into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
