"""The `aitest-bdd` command: `aitest-bdd diff BASE.json NEW.json`, `aitest-bdd merge OUT.json SHARD.json...`,
`aitest-bdd freeze RESULTS.json`."""

from __future__ import annotations

import argparse
import sys

from . import diff, freeze, merge


def main(argv: list[str] | None = None) -> int:
    command = argparse.ArgumentParser(prog="aitest-bdd", description="Work with aitest-bdd's JSON results.")
    commands = command.add_subparsers(dest="command", required=True)
    diff.add_arguments(
        commands.add_parser("diff", help="compare two runs", description="Compare two runs scenario by scenario.")
    )
    commands.add_parser("merge", help="merge JSON results (as aitest-bdd-merge)", add_help=False)
    freeze.add_arguments(
        commands.add_parser(
            "freeze",
            help="write simulated conversations as plain scenarios",
            description="Write the simulated conversations of a run's JSON results as a feature file of plain "
            "scenarios: what the simulated user said, and the tools the agent called.",
        )
    )
    args, rest = command.parse_known_args(argv)
    if args.command == "merge":
        return merge.main(rest)
    if rest:
        command.error(f"unrecognized arguments: {' '.join(rest)}")
    return freeze.run(args) if args.command == "freeze" else diff.run(args)


if __name__ == "__main__":
    sys.exit(main())
