"""Start-up cost: from `pytest` start to the first turn, imports, and the per-scenario cost of sessions and MCP servers.

1. Runs `pytest features/weather.feature` N times live and N times replayed, interleaved, in a subprocess
   with a small timestamp plugin (`_startup_plugin.py`), and prints the median (min–max) time from spawning
   pytest to each milestone.
2. Times imports in fresh interpreters (median of N): pytest, pytest-bdd, the SDKs, the plugin's modules
   and the banking server module, and which SDKs (openai, mcp) each import loads.
3. Opens and closes an AgentSession with no MCP server (its model client goes over the run's shared HTTP
   pool, which the first open creates), then the banking MCP server (stdio) N times through the plugin's
   toolbox on one Runtime (open = spawn, initialize, list_tools; close = stdin closed until the process
   is gone).

Run: `python benchmarks/startup.py [--runs 5] [--servers 10] [--parts pytest imports servers]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, banking_agent, banking_server, load_average, machine

from aitest_bdd import Agent, AgentSession, MCPServer
from aitest_bdd.runtime import Runtime
from aitest_bdd.tools.toolbox import open_toolbox

PARTS = ("pytest", "imports", "servers")
MILESTONES = (
    ("plugin_imported", "benchmark plugin imported (-p, early)"),
    ("configured", "pytest configured (all plugins loaded)"),
    ("collected", "collection finished"),
    ("first_test_setup", "first test set up"),
    ("agent_ready", 'Given the agent "weather" done (MCP server up)'),
    ("first_turn_started", "first When step starts"),
    ("first_turn_done", "first turn done"),
    ("session_finished", "session finished (3 turns run, server closed)"),
    ("unconfigure_started", "pytest_unconfigure starts"),
    ("atexit", "interpreter exit handlers run"),
    ("exit", "pytest process exited"),
)
IMPORTS = (
    ("interpreter only", "pass"),
    ("import pytest", "import pytest"),
    ("import pytest_bdd", "import pytest_bdd"),
    ("import openai", "import openai"),
    ("import mcp", "import mcp"),
    ("import mcp.server.mcpserver", "import mcp.server.mcpserver"),
    ("import aitest_bdd", "import aitest_bdd"),
    ("import aitest_bdd.plugin", "import aitest_bdd.plugin"),
    ("import aitest_bdd.conversation.session", "import aitest_bdd.conversation.session"),
    ("import aitest_bdd.tools.servers", "import aitest_bdd.tools.servers"),
    ("import banking server module", "import aitest_bdd.testing.servers.banking"),
)
SDKS = ("openai", "mcp")
SDK_PROBE = f"import sys\nprint(' '.join(name for name in {SDKS!r} if name in sys.modules) or '-')"


# live: model and MCP server for real; replay: from features/recordings, no MCP server.
MODES = {"live": ["--aitest-record", "live"], "replay": ["--aitest-record", "none"]}


def pytest_run_marks(mode: str) -> dict[str, float]:
    """Run the weather feature once in `mode`; return seconds from spawning pytest to each milestone."""
    with tempfile.TemporaryDirectory() as tmp:
        marks_path = Path(tmp) / "marks.json"
        env = {**os.environ, "AITEST_BENCH_MARKS": str(marks_path)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "benchmarks"), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "pytest", "features/weather.feature", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "_startup_plugin", *MODES[mode]]
        started = time.monotonic()
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        ended = time.monotonic()
        if done.returncode != 0:
            raise SystemExit(f"pytest failed:\n{done.stdout}\n{done.stderr}")
        marks = json.loads(marks_path.read_text())
    marks["exit"] = ended
    return {name: at - started for name, at in marks.items()}


def spread(values: list[float], digits: int = 3) -> str:
    """`median (min–max)` of `values`."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def print_pytest_runs(runs: int) -> None:
    """Run each mode `runs` times, interleaved (live, replay, live, ...); median (min–max) to each milestone."""
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(runs):
        for mode in MODES:
            results[mode].append(pytest_run_marks(mode))
    for mode, marks in results.items():
        command = f"pytest features/weather.feature {' '.join(MODES[mode])}"
        print(f"`{command}` (1 scenario, 3 turns), {runs} interleaved runs,")
        print("seconds from spawn, median (min–max) and the median step from the previous milestone:")
        previous = 0.0
        for name, label in MILESTONES:
            values = [result[name] for result in marks]
            at = statistics.median(values)
            print(f"  {label:<50}{spread(values):>22}  (+{at - previous:.3f})")
            previous = at
        print()


def import_seconds(statement: str, runs: int) -> tuple[float, str]:
    """Median wall time of a fresh interpreter running `statement`, and the SDKs it had loaded."""
    times, loaded = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", f"{statement}\n{SDK_PROBE}"],
            check=True,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        times.append(time.perf_counter() - started)
        loaded = done.stdout.strip()
    return statistics.median(times), loaded


def print_imports(runs: int) -> None:
    """Median cost of each import, in a fresh interpreter, and the SDKs it loads."""
    print(f"fresh interpreter, median of {runs} (times include the interpreter's start):")
    print(f"  {'':50}{'seconds':>8}  SDKs loaded")
    for label, statement in IMPORTS:
        seconds, loaded = import_seconds(statement, runs)
        print(f"  {label:<50}{seconds:8.3f}  {loaded}")


async def _open_close(server: MCPServer, timings: list[tuple[float, float]]) -> None:
    """Open `server` through the plugin's toolbox, list its tools, close it; time both halves."""
    started = time.perf_counter()
    async with open_toolbox([server]) as toolbox:
        opened = time.perf_counter()
        assert toolbox.openai_tools()
    timings.append((opened - started, time.perf_counter() - opened))


def server_cycles(runtime: Runtime, server: MCPServer, count: int) -> list[tuple[float, float]]:
    """`count` timed open/close cycles of `server`, after a warm-up cycle."""
    runtime.call(_open_close, server, [])
    timings: list[tuple[float, float]] = []
    for _ in range(count):
        runtime.call(_open_close, server, timings)
    return timings


def print_server_starts(count: int) -> None:
    """Median and max of `count` open/close cycles of the banking MCP server."""
    runtime = Runtime()
    cycles = server_cycles(runtime, banking_server(), count)
    runtime.close()
    opens, closes = [t[0] for t in cycles], [t[1] for t in cycles]
    print(
        f"banking MCP server over stdio, {count} open/close cycles, seconds, median (min–max): open {spread(opens)},"
        f" close {spread(closes)}"
    )


def session_cycle(runtime: Runtime, agent: Agent) -> tuple[float, float]:
    """Seconds to open an AgentSession for `agent`, and to close it."""
    started = time.perf_counter()
    session = AgentSession(agent, runtime)
    session.open()
    opened = time.perf_counter()
    session.close()
    return opened - started, time.perf_counter() - opened


def print_session_opens(count: int) -> None:
    """Cost of opening and closing an AgentSession whose agent has no MCP server (model client only)."""
    runtime = Runtime()
    runtime.call(asyncio.sleep, 0)
    agent = banking_agent("http://127.0.0.1:9/v1", with_server=False)
    first = session_cycle(runtime, agent)
    timings = [session_cycle(runtime, agent) for _ in range(count)]
    runtime.close()
    opens, closes = [t[0] * 1000 for t in timings], [t[1] * 1000 for t in timings]
    print(f"AgentSession with no MCP server, ms: first open {first[0] * 1000:.2f} (creates the run's HTTP pool)")
    print(
        f"  then {count} open/close cycles: open median {statistics.median(opens):.2f} (max {max(opens):.2f}),"
        f" close median {statistics.median(closes):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="pytest runs and import runs (default 5)")
    parser.add_argument("--servers", type=int, default=10, help="MCP server open/close cycles (default 10)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (default all)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if "pytest" in args.parts:
        print_pytest_runs(args.runs)
    if "imports" in args.parts:
        print_imports(args.runs)
        print()
    if "servers" in args.parts:
        print_session_opens(args.servers * 2)
        print_server_starts(args.servers)
    print(f"load after: {load_average()}")


if __name__ == "__main__":
    main()
