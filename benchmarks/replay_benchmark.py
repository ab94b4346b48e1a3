"""Replay benchmark: record 1,000 turns once, then time replaying them with no model and no MCP server.

Run: python benchmarks/replay_benchmark.py [--scenarios 200] [--turns 5] [--rounds 1]

Records a generated feature (200 scenarios x 5 turns, 2 tool calls per turn) against the scripted model
and one shared banking MCP server, then runs it again with `--aitest-record=none`: every model reply and
tool result comes from the recordings. Prints the replay wall time, the time per turn, and the pytest
start-up time measured on an empty run, so the replay cost itself can be read off. With `--rounds N`, the
empty run and the replay alternate N times after the one recording, and each figure is the median (min–max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

CONFTEST = """
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

@pytest.fixture
def aitest_agents():
    bank = MCPServer(name="banking", command=[sys.executable, "-m", "aitest_bdd.testing.servers.banking"], scope="run")
    return [Agent(name="banking", provider=Provider(model="gpt-4.1-mini", base_url={url!r}), mcp_servers=[bank])]
"""

SCRIPT = {
    "rules": [
        {
            "user_regex": "^balances",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "get_balance", "arguments": {"account": "checking"}},
                        {"name": "get_balance", "arguments": {"account": "savings"}},
                    ]
                },
                {"content": "Checking and savings: {result:get_balance.formatted}."},
            ],
        }
    ]
}


def feature(scenarios: int, turns: int) -> str:
    lines = ["Feature: Replay benchmark"]
    for index in range(scenarios):
        lines += [f"  Scenario: conversation {index}", '    Given the agent "banking"']
        for turn in range(turns):
            lines += [f'    When the user says "balances, please ({turn})"']
            lines += ['    Then the agent calls "get_balance" twice']
    return "\n".join(lines) + "\n"


def pytest_run(project: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 5):
        sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def spread(values: list[float], digits: int = 2) -> str:
    """`median (min–max)` of `values`, or the value alone if there is one."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="empty run and replay, alternated (default 1)")
    args = parser.parse_args()

    from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

    print(f"load before: {load_average()}")
    with tempfile.TemporaryDirectory() as directory, ScriptedModelServer(Script.model_validate(SCRIPT)) as server:
        project = Path(directory)
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "conftest.py").write_text(CONFTEST.format(url=server.base_url))
        (project / "replay.feature").write_text(feature(args.scenarios, args.turns))

        record_time, _ = pytest_run(project, "--aitest-record=all")
        server.stop()
        empty_times, replay_times = [], []
        for _ in range(args.rounds):
            empty_times.append(pytest_run(project, "-k", "no_such_test")[0])
            replay_times.append(pytest_run(project, "--aitest-record=none", "--aitest-json", "replay.json")[0])

        results = json.loads((project / "replay.json").read_text())["tests"]
        turns = [t for r in results for c in r["conversations"] for t in c["turns"]]
        size = sum(p.stat().st_size for p in (project / "recordings").rglob("*.json"))

    assert all(turn["source"] == "replayed" for turn in turns), "every turn must come from the recordings"
    beyond = [replay - empty for replay, empty in zip(replay_times, empty_times, strict=True)]
    per_turn = [seconds / len(turns) * 1000 for seconds in beyond]
    rounds = f" ({args.rounds} rounds, median (min–max))" if args.rounds > 1 else ""
    print(f"scenarios x turns:        {args.scenarios} x {args.turns} = {len(turns)} turns replayed{rounds}")
    print(f"recording (live, scripted model, one shared MCP server): {record_time:.2f} s")
    print(f"replay, whole pytest run: {spread(replay_times)} s")
    print(f"pytest start-up (empty run of the same project): {spread(empty_times)} s")
    print(f"replay beyond start-up:   {spread(beyond)} s, {spread(per_turn)} ms per turn (each round's pair)")
    print(f"recordings on disk:       {size / 1e6:.1f} MB in {args.scenarios} files")
    if len(turns) >= 1000:
        per_thousand = statistics.median(replay_times) * 1000 / len(turns)
        print(f"target: 1,000 turns replayed in under 10 s: {'met' if per_thousand < 10 else 'missed'}")
    print(f"load after: {load_average()}")


if __name__ == "__main__":
    main()
