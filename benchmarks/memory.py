"""Memory: RSS of one pytest process over 1,000 scenarios (3 turns, 2 tool calls per turn each).

A project is generated in a temporary directory with one feature of N scenarios, run by one pytest
process (no xdist). Each scenario opens a session with the banking agent, says the three banking turns of
`turn_overhead.py` (real tool calls) and closes it. To keep the run to a few minutes, the MCP server is
one banking server over streamable HTTP on 127.0.0.1 that every scenario connects to (`--mcp http`,
default) rather than a stdio process per scenario (~0.6 s each); `--mcp none` gives the agent no server.
The model is the scripted server, in this process, with no latency.

A small plugin (`_memory_plugin.py`) samples VmRSS from /proc/self/status in the pytest process after
collection and after every test, and VmHWM at the end.

`--report` also writes an HTML report, for which the run keeps every test's result to the end.
`--tracemalloc DEPTH` also lists the allocation sites that grew most (much slower; use ~200 scenarios).

`--rounds N` runs the same pytest process N times and ends with the median (min–max) of each figure.

Run: `python benchmarks/memory.py [--scenarios 1000] [--mcp http|none] [--report] [--tracemalloc 30] [--rounds 1]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import BANKING_TURNS, REPO_ROOT, banking_script, http_banking_server, load_average, machine

from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

CONFTEST = """
import os

import pytest

from aitest_bdd import Agent, MCPServer, Provider


@pytest.fixture
def aitest_agents():
    provider = Provider(model="scripted", base_url=os.environ["AITEST_BENCH_BASE_URL"], max_retries=0, timeout=60)
    url = os.environ.get("AITEST_BENCH_MCP_URL")
    servers = [MCPServer(name="banking", url=url)] if url else []
    return [Agent(name="banking", provider=provider, mcp_servers=servers, system_prompt="You are a banking assistant.")]
"""
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
CHECKPOINTS = (1, 10, 100, 250, 500, 750, 1000, 2000, 5000)


def feature_text(scenarios: int) -> str:
    """A feature of `scenarios` three-turn banking conversations."""
    lines = ["Feature: Memory", ""]
    for index in range(scenarios):
        lines += [f"  Scenario: Conversation {index}", '    Given the agent "banking"']
        lines += [f'    When the user says "{user}"' for user, _calls, _answer in BANKING_TURNS]
        lines += ['    Then the response contains "savings"', ""]
    return "\n".join(lines)


def print_growth(growth: list[dict]) -> None:
    """The allocation sites that grew most (tracemalloc), with the project-side frames of their stacks."""
    print("allocation sites that grew most from test 10 to the end (tracemalloc; KiB, blocks, stack innermost first):")
    for site in growth:
        stack = site["stack"]
        ours = [frame for frame in stack[1:] if "aitest_bdd" in frame or "_pytest" in frame or "pytest_bdd" in frame]
        print(f"  {site['kib']:9.1f} KiB {site['count']:7d}  {stack[0]}  <- {' <- '.join(ours[:4]) or '-'}")


def run_pytest(root: Path, env: dict[str, str], report: bool) -> tuple[dict, float, str]:
    """Run the feature in one pytest process; return the plugin's samples, the wall time and the summary."""
    samples_path = root / "rss.json"
    env = {**os.environ, **env, "AITEST_BENCH_RSS": str(samples_path)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "benchmarks"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "memory.feature", "-q", "-p", "no:cacheprovider", "-p", "_memory_plugin"]
    command += ["--aitest-record", "live", *(["--aitest-report", "report.html"] if report else [])]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    return json.loads(samples_path.read_text()), wall, summary[-1].strip("= ") if summary else "no summary"


def slope_kib(rss: list[int]) -> float:
    """Least-squares growth in KiB per scenario over the second half of the run."""
    half = rss[len(rss) // 2 :]
    count = len(half)
    if count < 2:
        return 0.0
    mean_x, mean_y = (count - 1) / 2, sum(half) / count
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(half))
    return covariance / sum((x - mean_x) ** 2 for x in range(count))


def print_report(data: dict, scenarios: int, wall: float, summary: str) -> None:
    """RSS at checkpoints, growth, high-water mark and retained result size."""
    rss = data["rss_kib"]  # rss[0]: after collection; rss[i]: after test i
    print(f"pytest: {summary}; wall {wall:.1f} s ({wall / scenarios * 1000:.0f} ms per scenario)")
    print(f"  RSS after collection: {rss[0] / 1024:8.1f} MiB")
    for checkpoint in (c for c in CHECKPOINTS if c < len(rss)):
        print(f"  RSS after test {checkpoint:5d}: {rss[checkpoint] / 1024:8.1f} MiB")
    last = len(rss) - 1
    growth, after_first_ten = (rss[-1] - rss[0]) / 1024, (rss[-1] - rss[min(10, last)]) / 1024
    print(f"  growth over the run: {growth:.1f} MiB (from test 10 on: {after_first_ten:.1f} MiB); ", end="")
    print(f"second-half slope {slope_kib(rss):.1f} KiB per scenario; VmHWM {data['hwm_kib'] / 1024:.1f} MiB")
    results = data["result_bytes"]
    if results:
        total = sum(results)
        per_test = total / len(results)
        print(f"  test results: {total / 1024 / 1024:.1f} MiB as JSON ({per_test:.0f} B per test)")


def figures(data: dict, wall: float) -> dict[str, float]:
    """One run's growth, growth from test 10 on (MiB), second-half slope (KiB per scenario), VmHWM (MiB), wall (s)."""
    rss = data["rss_kib"]
    return {
        "growth MiB": (rss[-1] - rss[0]) / 1024,
        "from test 10 MiB": (rss[-1] - rss[min(10, len(rss) - 1)]) / 1024,
        "slope KiB/scenario": slope_kib(rss),
        "VmHWM MiB": data["hwm_kib"] / 1024,
        "wall s": wall,
    }


def print_rounds(rounds: list[dict[str, float]]) -> None:
    """Median (min–max) of each figure over the rounds."""
    print(f"over {len(rounds)} runs, median (min–max):")
    for name in rounds[0]:
        values = [figure[name] for figure in rounds]
        print(f"  {name:<20}{statistics.median(values):8.1f} ({min(values):.1f}–{max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--mcp", choices=("http", "none"), default="http")
    parser.add_argument("--report", action="store_true", help="also write an HTML report (keeps every result)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="DEPTH", help="trace allocations (slow)")
    parser.add_argument("--rounds", type=int, default=1, help="pytest runs, one after the other (default 1)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    what = f"{args.scenarios} scenarios x {len(BANKING_TURNS)} turns in one pytest process, MCP server: {args.mcp}"
    print(what + (", with --aitest-report" if args.report else ""))
    script = Script.model_validate(banking_script(latency_ms=0))
    rounds = []
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer(script) as model, ExitStack() as stack:
        env = {"AITEST_BENCH_BASE_URL": model.base_url}
        if args.tracemalloc:
            env["AITEST_BENCH_TRACEMALLOC"] = str(args.tracemalloc)
        if args.mcp == "http":
            env["AITEST_BENCH_MCP_URL"] = stack.enter_context(http_banking_server())
        root = Path(tmp)
        (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        (root / "pytest.ini").write_text(INI, encoding="utf-8")
        (root / "memory.feature").write_text(feature_text(args.scenarios), encoding="utf-8")
        for _ in range(args.rounds):
            data, wall, summary = run_pytest(root, env, args.report)
            print_report(data, args.scenarios, wall, summary)
            if data.get("growth"):
                print_growth(data["growth"])
            rounds.append(figures(data, wall))
    if len(rounds) > 1:
        print_rounds(rounds)
    print(f"load after: {load_average()}")


if __name__ == "__main__":
    main()
