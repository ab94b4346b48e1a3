"""pytest-xdist scaling: 64 scenarios x 3 turns, 200 ms per model reply, at -n 0, 4 and 8.

A project is generated in a temporary directory. Each turn is the banking turn of `turn_overhead.py`: a
model reply with two tool calls, then a text reply, so 2 replies (400 ms of model latency) per turn and
1.2 s per scenario. One scripted model server, in this process, answers every worker.

Variants:
- `mcp`: the agent has the banking MCP server (stdio), started and stopped by every scenario;
- `no-mcp`: the agent has no MCP server; the tool calls come back to the model as "no such tool" errors,
  so the model latency per scenario is the same;
- `http-mcp` (only with `--variants`): one banking server over streamable HTTP on 127.0.0.1, started once
  by this script; every scenario connects to it (real tool calls, no process start per scenario);
- `mcp-run`: the stdio banking server with `MCPServer(scope="run")`, one server
  per pytest process (per xdist worker) shared by its scenarios.

Then `no-mcp/0ms` runs the no-mcp variant on a model with no latency: the cost of pytest, xdist workers
and the plugin alone at each -n (skip it with --no-floor).

The runs are interleaved: each round runs every variant at every -n once, so a change in the machine's load
falls on all of them alike. For every variant and -n it prints the median wall time with its min–max over
the rounds, the median speed-up over -n 0 (each round's -n k against the same round's -n 0) with its
min–max, and the median CPU seconds used by pytest, its workers and their MCP servers (with 2 cores, CPU
seconds / 2 is a floor on the wall time).

With PYTHONDONTWRITEBYTECODE=1 (set on some CI machines and in many container images), pytest cannot cache
the assertion rewriting of plugin modules, so every process (each xdist worker) redoes it. `--write-bytecode`
runs pytest without that setting, after a warm-up run that writes the caches.

Run: `python benchmarks/xdist_scaling.py [--scenarios 64] [--latency-ms 200] [--workers 0 4 8] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from _common import BANKING_TURNS, banking_script, http_banking_server, machine

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
    agents = [
        Agent(name="mcp", provider=provider, mcp_servers=[banking], system_prompt="You are a banking assistant."),
        Agent(name="no-mcp", provider=provider, system_prompt="You are a banking assistant."),
    ]
    pooled = banking.model_copy(update={"scope": "run"})
    agents.append(Agent(name="mcp-run", provider=provider, mcp_servers=[pooled]))
    if os.environ.get("AITEST_BENCH_MCP_URL"):
        shared = MCPServer(name="banking", url=os.environ["AITEST_BENCH_MCP_URL"])
        agents.append(Agent(name="http-mcp", provider=provider, mcp_servers=[shared]))
    return agents
"""
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
VARIANTS = ("mcp", "no-mcp", "http-mcp", "mcp-run")
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "--aitest-record", "live"]


@dataclass
class Run:
    """One timed pytest run."""

    variant: str
    workers: int
    wall: float
    cpu: float
    summary: str
    round: int = 0


def feature_text(agent: str, scenarios: int) -> str:
    """A feature of `scenarios` three-turn conversations with `agent`."""
    lines = ["Feature: Scaling", ""]
    for index in range(scenarios):
        lines += [f"  Scenario: Conversation {index}", f'    Given the agent "{agent}"']
        lines += [f'    When the user says "{user}"' for user, _calls, _answer in BANKING_TURNS]
        lines += ['    Then the response contains "savings"', ""]
    return "\n".join(lines)


def make_project(root: Path, scenarios: int) -> None:
    """Write the conftest, the ini file and one feature per variant."""
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    for agent in VARIANTS:
        (root / f"{agent.replace('-', '_')}.feature").write_text(feature_text(agent, scenarios), encoding="utf-8")


def children_cpu() -> float:
    """CPU seconds (user + system) of all reaped descendants so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pytest(root: Path, env: dict[str, str], variant: str, workers: int) -> Run:
    """Run one variant's feature with `-n workers`; time it."""
    feature = f"{variant.replace('-', '_')}.feature"
    command = [sys.executable, "-m", "pytest", feature, "-n", str(workers), *PYTEST_ARGS]
    env = {name: value for name, value in {**os.environ, **env}.items() if value}
    cpu_before, started = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu_before
    lines = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    return Run(variant, workers, wall, cpu, lines[-1].strip("= ") if lines else f"exit {done.returncode}")


def run_variant(
    root: Path, env: dict[str, str], variant: str, workers: int, suffix: str = "", number: int = 0
) -> Run:
    """`run_pytest`, with a progress line; `suffix` marks the variant's label (e.g. a zero-latency model)."""
    run = run_pytest(root, env, variant, workers)
    run.variant += suffix
    run.round = number
    print(f"  done: {variant} -n {workers}: {run.wall:.1f} s ({run.summary})", flush=True)
    return run


def spread(values: list[float], digits: int = 1) -> str:
    """`median (min–max)` of `values`."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def print_runs(runs: list[Run], model_seconds: float) -> None:
    """Per variant and -n over the rounds: wall time, speed-up over the same round's -n 0 run, CPU use."""
    print(f"{'variant':<12}{'-n':>4}  {'wall s':<18}{'speed-up':<20}{'ideal s':>8}  {'CPU s':<18}  last result")
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.variant, run.workers), []).append(run)
    for (variant, workers), group in groups.items():
        serial = {run.round: run.wall for run in groups.get((variant, 0), [])}
        ratios = [serial[run.round] / run.wall for run in group if run.round in serial]
        ideal = 0.0 if variant.endswith("/0ms") else model_seconds / max(workers, 1)
        speed_up = spread(ratios, 2) + "x" if ratios else "-"
        walls, cpus = spread([run.wall for run in group]), spread([run.cpu for run in group])
        print(f"{variant:<12}{workers:>4}  {walls:<18}{speed_up:<20}{ideal:8.1f}  {cpus:<18}  {group[-1].summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 4, 8])
    parser.add_argument("--variants", nargs="+", default=["mcp", "no-mcp", "mcp-run"], choices=VARIANTS)
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the zero-latency no-mcp runs")
    parser.add_argument("--write-bytecode", action="store_true", help="run pytest without PYTHONDONTWRITEBYTECODE")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds: each runs every variant at every -n")
    args = parser.parse_args()
    print(f"machine: {machine()}; PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    replies = args.scenarios * len(BANKING_TURNS) * 2
    model_seconds = replies * args.latency_ms / 1000
    print(
        f"{args.scenarios} scenarios x {len(BANKING_TURNS)} turns x 2 model replies = {replies} replies of "
        f"{args.latency_ms:g} ms: {model_seconds:.1f} s of model latency in all ('ideal' = that / workers)"
    )
    script = Script.model_validate(banking_script(latency_ms=args.latency_ms))
    instant = Script.model_validate(banking_script(latency_ms=0))
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        env = {"AITEST_BENCH_BASE_URL": stack.enter_context(ScriptedModelServer(script)).base_url}
        floor_env = {"AITEST_BENCH_BASE_URL": stack.enter_context(ScriptedModelServer(instant)).base_url}
        if "http-mcp" in args.variants:
            env["AITEST_BENCH_MCP_URL"] = floor_env["AITEST_BENCH_MCP_URL"] = stack.enter_context(http_banking_server())
        make_project(Path(tmp), args.scenarios)
        if args.write_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = floor_env["PYTHONDONTWRITEBYTECODE"] = ""
            print("with bytecode caches (PYTHONDONTWRITEBYTECODE unset); warm-up run:", flush=True)
            run_variant(Path(tmp), floor_env, args.variants[0], 0, "/warm-up")
        runs = []
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}", flush=True)
            for variant in args.variants:
                runs += [run_variant(Path(tmp), env, variant, workers, number=number) for workers in args.workers]
            if args.floor:
                runs += [run_variant(Path(tmp), floor_env, "no-mcp", w, "/0ms", number) for w in args.workers]
    print_runs(runs, model_seconds)
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
