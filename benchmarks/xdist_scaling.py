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

For every run it prints the wall time, the speed-up over -n 0, and the CPU seconds used by pytest, its
workers and their MCP servers (with 2 cores, CPU seconds / 2 is a floor on the wall time).

With PYTHONDONTWRITEBYTECODE=1 (set on some CI machines and in many container images), pytest cannot cache
the assertion rewriting of plugin modules, so every process (each xdist worker) redoes it. `--write-bytecode`
runs pytest without that setting, after a warm-up run that writes the caches.

Run: `python benchmarks/xdist_scaling.py [--scenarios 64] [--latency-ms 200] [--workers 0 4 8]`.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def run_variant(root: Path, env: dict[str, str], variant: str, workers: int, suffix: str = "") -> Run:
    """`run_pytest`, with a progress line; `suffix` marks the variant's label (e.g. a zero-latency model)."""
    run = run_pytest(root, env, variant, workers)
    run.variant += suffix
    print(f"  done: {variant} -n {workers}: {run.wall:.1f} s ({run.summary})", flush=True)
    return run


def print_runs(runs: list[Run], model_seconds: float) -> None:
    """Wall time, speed-up over the variant's -n 0 run, and CPU use per run."""
    print(f"{'variant':<12}{'-n':>4}{'wall s':>9}{'speed-up':>10}{'ideal s':>9}{'CPU s':>8}  result")
    for run in runs:
        serial = next((r.wall for r in runs if r.variant == run.variant and r.workers == 0), run.wall)
        ideal = 0.0 if run.variant.endswith("/0ms") else model_seconds / max(run.workers, 1)
        print(
            f"{run.variant:<12}{run.workers:>4}{run.wall:9.1f}{serial / run.wall:9.2f}x{ideal:9.1f}{run.cpu:8.1f}"
            f"  {run.summary}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 4, 8])
    parser.add_argument("--variants", nargs="+", default=["mcp", "no-mcp", "mcp-run"], choices=VARIANTS)
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the zero-latency no-mcp runs")
    parser.add_argument("--write-bytecode", action="store_true", help="run pytest without PYTHONDONTWRITEBYTECODE")
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
        runs = [run_variant(Path(tmp), env, variant, workers) for variant in args.variants for workers in args.workers]
        if args.floor:
            runs += [run_variant(Path(tmp), floor_env, "no-mcp", workers, "/0ms") for workers in args.workers]
    print_runs(runs, model_seconds)
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
