"""A stdio MCP server per scenario against one for the whole run, with warm spares on and off.

A project is generated in a temporary directory: `--scenarios` scenarios of `--turns` banking turns (each turn a
model reply with two tool calls, then a text reply), run by plain `pytest` (no xdist) in three variants:

- `scenario`: the stdio banking server with the default scope="scenario" and the default spares
  (`--aitest-mcp-spares 1`): each scenario takes a server started while the one before it ran;
- `scenario/0`: the same with `--aitest-mcp-spares 0`: each scenario starts its server, and stops it, itself;
- `run`: the same server with scope="run": one server for all scenarios (no isolation), the floor.

Each variant runs on a model that takes `--latency-ms` per reply (1 s by default: spare capacity while the model
thinks) and on a model that answers at once (CPU-bound: nothing to hide the start behind). The runs are
interleaved: each round runs every variant on both models once, so a change in the machine's load falls on all
of them alike. It prints, per variant and model, the median wall time with its min–max over the rounds, and the
median of each round's ratio to the same round's `run` variant.

Run: `python benchmarks/mcp_spares.py [--scenarios 8] [--turns 1] [--latency-ms 1000] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import BANKING_TURNS, banking_script, machine

from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

CONFTEST = """
import os
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider


@pytest.fixture
def aitest_agents():
    provider = Provider(model="scripted", base_url=os.environ["AITEST_BENCH_BASE_URL"], max_retries=0, timeout=60)
    banking = MCPServer(name="banking", command=[sys.executable, "-m", "aitest_bdd.testing.servers.banking"])
    return [
        Agent(name="scenario", provider=provider, mcp_servers=[banking]),
        Agent(name="run", provider=provider, mcp_servers=[banking.model_copy(update={"scope": "run"})]),
    ]
"""
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
VARIANTS = {"scenario": ("scenario", "1"), "scenario/0": ("scenario", "0"), "run": ("run", "1")}
"""Each variant's agent and `--aitest-mcp-spares`."""


def feature_text(agent: str, scenarios: int, turns: int) -> str:
    lines = ["Feature: Banking", ""]
    for index in range(scenarios):
        lines += [f"  Scenario: Conversation {index}", f'    Given the agent "{agent}"']
        lines += [f'    When the user says "{user}"' for user, _calls, _answer in BANKING_TURNS[:turns]]
        lines += ['    Then the response contains "hold"', ""]
    return "\n".join(lines)


def run_pytest(root: Path, base_url: str, variant: str) -> float:
    """Run one variant; its wall time in seconds."""
    agent, spares = VARIANTS[variant]
    command = [sys.executable, "-m", "pytest", f"{agent}.feature", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:randomly", "--aitest-mcp-spares", spares]
    env = {**os.environ, "AITEST_BENCH_BASE_URL": base_url}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{variant} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return wall


def spread(values: list[float], digits: int = 2) -> str:
    """`median (min–max)` of `values`."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--turns", type=int, default=1, choices=range(1, len(BANKING_TURNS) + 1))
    parser.add_argument("--latency-ms", type=float, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    models = {f"{args.latency_ms:g}ms": args.latency_ms, "0ms": 0.0}
    walls: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        (root / "pytest.ini").write_text(INI, encoding="utf-8")
        for agent in ("scenario", "run"):
            (root / f"{agent}.feature").write_text(feature_text(agent, args.scenarios, args.turns), encoding="utf-8")
        urls = {
            model: stack.enter_context(ScriptedModelServer(Script.model_validate(banking_script(latency)))).base_url
            for model, latency in models.items()
        }
        for number in range(args.rounds):
            for model, url in urls.items():
                for variant in VARIANTS:
                    wall = run_pytest(root, url, variant)
                    walls.setdefault((model, variant), []).append(wall)
                    print(f"  round {number + 1}: {model} {variant}: {wall:.2f} s", flush=True)
    print(f"{args.scenarios} scenarios x {args.turns} turn(s) x 2 model replies; {args.rounds} interleaved rounds")
    print(f"{'model':<9}{'variant':<12}{'wall s':<22}over run (same round)")
    for (model, variant), values in walls.items():
        floor = walls[(model, "run")]
        ratios = [wall / base for wall, base in zip(values, floor, strict=True)]
        print(f"{model:<9}{variant:<12}{spread(values):<22}{spread([(r - 1) * 100 for r in ratios], 1)} %")
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
