"""Start-up cost: from `pytest` start to the first turn, imports, and MCP server start/stop per scenario.

1. Runs `pytest features/weather.feature` N times in a subprocess with a small timestamp plugin
   (`_startup_plugin.py`) and prints the median time from spawning pytest to each milestone.
2. Times imports in fresh interpreters (median of N): pytest, the plugin, the SDKs, the banking server module.
3. Opens and closes the banking MCP server (stdio) N times through the plugin's toolbox on one Runtime
   (open = spawn, initialize, list_tools; close = stdin closed until the process is gone), as shipped
   and with two fixes simulated: the package's `__init__` skipped, and the interpreter teardown skipped.

Run: `python benchmarks/startup.py [--runs 5] [--servers 10] [--parts pytest imports servers]`.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import openai
from _common import REPO_ROOT, banking_agent, banking_server, machine

from aitest_bdd import AgentSession, MCPServer
from aitest_bdd.runtime import Runtime
from aitest_bdd.toolbox import open_toolbox

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
    ("import banking server module", "import aitest_bdd.testing.servers.banking"),
)


# live: model and MCP server for real; replay: from features/recordings, no MCP server.
MODES = {"live": ["--aitest-record", "live"], "replay": ["--aitest-record", "none"]}
# Start the banking server without running aitest_bdd/__init__.py (which imports openai and the MCP client),
# to show what a lazy package __init__ would save on each MCP server start; the second also skips the
# interpreter's teardown once stdin closes (os._exit), to show what that would save on each close.
LAZY_PACKAGE_LAUNCH = (
    "import importlib.util, os, runpy, sys, types\n"
    "package = types.ModuleType('aitest_bdd')\n"
    "package.__path__ = list(importlib.util.find_spec('aitest_bdd').submodule_search_locations)\n"
    "sys.modules['aitest_bdd'] = package\n"
    "runpy.run_module('aitest_bdd.testing.servers.banking', run_name='__main__')\n"
)
FAST_EXIT_LAUNCH = LAZY_PACKAGE_LAUNCH + "sys.stdout.flush()\nos._exit(0)\n"


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


def print_pytest_runs(mode: str, runs: int) -> None:
    """Median seconds to each milestone over `runs` runs, and the step between milestones."""
    results = [pytest_run_marks(mode) for _ in range(runs)]
    print(f"`pytest features/weather.feature {' '.join(MODES[mode])}` (1 scenario, 3 turns), median of {runs} runs,")
    print("seconds from spawn:")
    previous = 0.0
    for name, label in MILESTONES:
        at = statistics.median(result[name] for result in results)
        print(f"  {label:<50}{at:8.3f}  (+{at - previous:.3f})")
        previous = at


def import_seconds(statement: str, runs: int) -> float:
    """Median wall time of a fresh interpreter running `statement`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, cwd=REPO_ROOT, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def print_imports(runs: int) -> None:
    """Median cost of each import, in a fresh interpreter."""
    print(f"fresh interpreter, median of {runs}, seconds (includes interpreter start):")
    for label, statement in IMPORTS:
        print(f"  {label:<50}{import_seconds(statement, runs):8.3f}")


async def _open_close(server: MCPServer, timings: list[tuple[float, float]]) -> None:
    """Open `server` through the plugin's toolbox, list its tools, close it; time both halves."""
    started = time.perf_counter()
    async with open_toolbox([server]) as toolbox:
        opened = time.perf_counter()
        assert toolbox.openai_tools()
    timings.append((opened - started, time.perf_counter() - opened))


def server_cycles(runtime: Runtime, servers: dict[str, MCPServer], count: int) -> dict[str, list[tuple[float, float]]]:
    """`count` timed open/close cycles of each server, interleaved (so load changes hit all), after a warm-up."""
    timings: dict[str, list[tuple[float, float]]] = {label: [] for label in servers}
    for server in servers.values():
        runtime.call(_open_close, server, [])
    for _ in range(count):
        for label, server in servers.items():
            runtime.call(_open_close, server, timings[label])
    return timings


def print_server_starts(count: int) -> None:
    """Median and max of `count` open/close cycles of the banking MCP server, as shipped and with a lazy package."""
    runtime = Runtime()
    variants = {
        "as shipped": banking_server(),
        "lazy aitest_bdd/__init__ (simulated)": MCPServer(command=[sys.executable, "-c", LAZY_PACKAGE_LAUNCH]),
        "lazy __init__ + os._exit on EOF (sim.)": MCPServer(command=[sys.executable, "-c", FAST_EXIT_LAUNCH]),
    }
    timings = server_cycles(runtime, variants, count)
    runtime.close()
    print(f"banking MCP server over stdio, {count} open/close cycles each, seconds:")
    print(f"  {'':38}{'open median':>12}{'open max':>10}{'close median':>14}{'close max':>10}")
    for label, cycles in timings.items():
        opens, closes = [t[0] for t in cycles], [t[1] for t in cycles]
        figures = (statistics.median(opens), max(opens), statistics.median(closes), max(closes))
        print(f"  {label:<38}{figures[0]:12.3f}{figures[1]:10.3f}{figures[2]:14.3f}{figures[3]:10.3f}")


def print_session_opens(count: int) -> None:
    """Median cost of opening and closing an AgentSession whose agent has no MCP server (model client only)."""
    runtime = Runtime()
    agent = banking_agent("http://127.0.0.1:9/v1", with_server=False)
    timings = []
    for _ in range(count + 1):
        started = time.perf_counter()
        session = AgentSession(agent, runtime)
        session.open()
        opened = time.perf_counter()
        session.close()
        timings.append((opened - started, time.perf_counter() - opened))
    runtime.close()
    opens, closes = [t[0] * 1000 for t in timings[1:]], [t[1] * 1000 for t in timings[1:]]
    print(
        f"AgentSession with no MCP server, {count} open/close cycles, ms: open median {statistics.median(opens):.2f}"
        f" (max {max(opens):.2f}), close median {statistics.median(closes):.2f}"
    )


def print_client_costs(count: int) -> None:
    """What one AsyncOpenAI client costs to create: its own HTTP client (and TLS context), or a shared one."""
    shared = httpx2.AsyncClient()
    makers = {
        "AsyncOpenAI(...), as make_client does": lambda: openai.AsyncOpenAI(
            api_key="x", base_url="http://127.0.0.1:9/v1"
        ),
        "AsyncOpenAI(..., http_client=shared)": lambda: openai.AsyncOpenAI(
            api_key="x", base_url="http://127.0.0.1:9/v1", http_client=shared
        ),
        "ssl.create_default_context()": ssl.create_default_context,
    }
    for label, make in makers.items():
        make()
        started = time.perf_counter()
        for _ in range(count):
            make()
        print(f"  {label:<44}{(time.perf_counter() - started) * 1000 / count:8.2f} ms each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="pytest runs and import runs (default 5)")
    parser.add_argument("--servers", type=int, default=10, help="MCP server open/close cycles (default 10)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (default all)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if "pytest" in args.parts:
        for mode in MODES:
            print_pytest_runs(mode, args.runs)
            print()
    if "imports" in args.parts:
        print_imports(args.runs)
        print()
    if "servers" in args.parts:
        print_session_opens(args.servers * 2)
        print_client_costs(args.servers * 2)
        print_server_starts(args.servers)


if __name__ == "__main__":
    main()
