"""`aitest-bdd freeze RESULTS.json`: simulated conversations written back as plain scenarios, to review and keep.

Each test whose conversation had a simulated user becomes a scenario: the steps before the simulated user's step as
they were, then a `When the user says` step per simulated turn, each followed by the tool calls seen in that turn as
`Then the agent calls` steps (or `Then the agent calls no tools`). A comment names the simulated user's goal and how
its conversation ended. Steps after the simulated user's step are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..conversation.turns import Conversation, Turn
from ..results.reading import UnreadableResults, read_results
from ..results.schema import RunResults, StepResult, TestResult
from ..whole_files import write_file
from .merge import USAGE_ERROR

SIMULATED_STEP = "a simulated user "
INDENT = "    "


def frozen_feature(results: RunResults, only: str | None = None) -> str | None:
    """The feature file of the simulated conversations in `results` (of the tests whose id contains `only`), or
    None when there is none."""
    scenarios = [
        scenario
        for test in results.tests
        if only is None or only in test.nodeid
        if (scenario := frozen_scenario(test)) is not None
    ]
    if not scenarios:
        return None
    features = sorted({test.feature for test in results.tests if test.feature})
    title = features[0] if len(features) == 1 else "Simulated conversations"
    return "\n".join([f"Feature: {title} (frozen)", "", *scenarios])


def frozen_scenario(test: TestResult) -> str | None:
    """The scenario of the test's last conversation with a simulated user, or None."""
    conversation = next((each for each in reversed(test.conversations) if each.simulated_users), None)
    if conversation is None:
        return None
    lines = [f"  Scenario: {test.name} (frozen)"]
    lines += _steps_before(test.steps)
    lines += _goal_comments(conversation)
    first = next(number for number, turn in enumerate(conversation.turns) if turn.simulated)
    for turn in conversation.turns[first:]:  # the turns typed between simulated users are part of it too
        lines += _said(turn)
        lines += _tools(turn)
    return "\n".join(lines) + "\n"


def _steps_before(steps: list[StepResult]) -> list[str]:
    """The steps before the first simulated user's step, as they were written (the first one as a Given)."""
    lines = []
    for step in steps:
        if step.text.startswith(SIMULATED_STEP):
            break
        keyword = step.keyword.strip()
        if not lines and keyword in ("And", "But", "*"):
            keyword = "Given"
        lines.append(f"{INDENT}{keyword} {step.text}")
        if step.docstring is not None:
            lines += _docstring(step.docstring)
        for row in step.datatable or []:
            cells = " | ".join(cell.replace("|", "\\|") for cell in row)
            lines.append(f"{INDENT}  | {cells} |")
    return lines


def _goal_comments(conversation: Conversation) -> list[str]:
    lines = []
    for user in conversation.simulated_users:
        ended = user.outcome or "no final word"
        lines.append(f"{INDENT}# The simulated user ({user.persona}) wanted: {user.goal}")
        lines.append(
            f"{INDENT}# It ended after {user.turns} turn(s): {ended}" + (f" ({user.note})" if user.note else "")
        )
    return [" ".join(line.split("\n")) for line in lines]


def _said(turn: Turn) -> list[str]:
    message = turn.user_message
    if "\n" not in message and message == message.strip():
        return [f'{INDENT}When the user says "{message}"']
    return [f"{INDENT}When the user says:", *_docstring(message)]


def _docstring(text: str) -> list[str]:
    fence = '"""' if '"""' not in text else "```"
    return [
        f"{INDENT}  {fence}",
        *(f"{INDENT}  {line}" if line else "" for line in text.splitlines()),
        f"{INDENT}  {fence}",
    ]


def _tools(turn: Turn) -> list[str]:
    names = list(dict.fromkeys(call.name for call in turn.tool_calls))
    if not names:
        return [f"{INDENT}Then the agent calls no tools"]
    return [f'{INDENT}{"Then" if index == 0 else "And"} the agent calls "{name}"' for index, name in enumerate(names)]


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("results", type=Path, metavar="RESULTS.json", help="the --aitest-json results of a run")
    command.add_argument("-o", "--output", type=Path, metavar="OUT.feature", help="write here (default: stdout)")
    command.add_argument("-k", "--test", metavar="TEXT", help="only the tests whose id contains TEXT")


def run(args: argparse.Namespace) -> int:
    """Write the frozen feature; 2 when the results cannot be read or hold no simulated conversation."""
    try:
        text = frozen_feature(read_results(args.results), args.test)
    except UnreadableResults as error:
        print(f"aitest-bdd freeze: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if text is None:
        which = f" among the tests matching {args.test!r}" if args.test else ""
        print(
            f"aitest-bdd freeze: error: {args.results} has no conversation with a simulated user{which}: run the "
            "scenarios with a 'When a simulated user ...' step with --aitest-json, and freeze that file",
            file=sys.stderr,
        )
        return USAGE_ERROR
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_file(args.output, text)
    print(f"aitest-bdd freeze: wrote {args.output}")
    return 0
