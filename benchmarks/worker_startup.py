"""What an xdist worker spends starting and exiting: 64 three-turn scenarios at -n 8, 200 ms per model reply.

The project is the `no-mcp` variant of `xdist_scaling.py` (the model's 6 replies per scenario, no MCP
server). A plugin (`_worker_plugin.py`) notes in the controller and in every worker when each milestone
is reached and the process's CPU time by then. The run's total CPU (pytest, its workers) comes from
`getrusage(RUSAGE_CHILDREN)`; what the processes spend after unconfiguring (the interpreter's exit: its
garbage collections over the heap, freeing it) is that total minus the CPU each had when it unconfigured.

Two variants run interleaved (A B A B, `--rounds`): `as shipped`, and `freeze at exit`, where each worker
runs `gc.collect()` then `gc.freeze()` as it unconfigures, so that the interpreter's collections at exit
skip the objects left. For each it prints the median (min–max) over rounds of the wall time and total
CPU, and, per milestone, the median over workers and rounds of when a worker reached it (seconds after
the run started) and its CPU time by then.

Run: `python benchmarks/worker_startup.py [--scenarios 64] [--workers 8] [--latency-ms 200] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, banking_script, machine
from xdist_scaling import PYTEST_ARGS, make_project

from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

VARIANTS = {"as shipped": {}, "freeze at exit": {"AITEST_BENCH_FREEZE": "1"}}


def children_cpu() -> float:
    """CPU seconds (user + system) of all reaped descendants so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(project: Path, env: dict[str, str], workers: int) -> dict:
    """One pytest run at `-n workers`: wall, total CPU and every process's milestones."""
    with tempfile.TemporaryDirectory() as marks:
        env = {**os.environ, **env, "AITEST_BENCH_WORKERS": marks}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "benchmarks"), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "pytest", "no_mcp.feature", "-n", str(workers), "-p", "_worker_plugin"]
        cpu_before, started, wall_clock = children_cpu(), time.perf_counter(), time.time()
        done = subprocess.run(command + PYTEST_ARGS, cwd=project, env=env, capture_output=True, text=True, timeout=900)
        wall, cpu = time.perf_counter() - started, children_cpu() - cpu_before
        if done.returncode != 0:
            raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        processes = {path.stem: json.loads(path.read_text()) for path in Path(marks).glob("*.json")}
    for data in processes.values():
        data["marks"] = [(name, at - wall_clock, used) for name, at, used in data["marks"]]
    last_cpu = sum(data["marks"][-1][2] for data in processes.values())
    return {"wall": wall, "cpu": cpu, "exit_cpu": cpu - last_cpu, "processes": processes}


def spread(values: list[float], digits: int = 2) -> str:
    """`median (min–max)` of `values`."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def print_variant(name: str, runs: list[dict]) -> None:
    """Totals over the rounds, then each milestone over the workers of every round."""
    print(
        f"{name}: wall {spread([r['wall'] for r in runs])} s, CPU of all processes {spread([r['cpu'] for r in runs])} s"
    )
    print(
        f"  CPU after unconfiguring, all processes (the interpreters' exit): {spread([r['exit_cpu'] for r in runs])} s"
    )
    workers = [data for r in runs for worker, data in r["processes"].items() if worker != "controller"]
    print(f"  per worker ({len(workers)} over {len(runs)} rounds), median (min–max):")
    print(f"    {'milestone':<42}{'s after the run started':<24}CPU s by then")
    for index, (milestone, _at, _cpu) in enumerate(workers[0]["marks"]):
        at = [data["marks"][index][1] for data in workers]
        cpu = [data["marks"][index][2] for data in workers]
        print(f"    {milestone:<42}{spread(at):<24}{spread(cpu)}")
    print(f"    tests per worker: {spread([data['tests'] for data in workers], 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds: each runs every variant once")
    args = parser.parse_args()
    print(f"machine: {machine()}; PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    script = Script.model_validate(banking_script(latency_ms=args.latency_ms))
    with tempfile.TemporaryDirectory() as directory, ScriptedModelServer(script) as server:
        project = Path(directory)
        make_project(project, args.scenarios)
        for number in range(args.rounds):
            for name, env in VARIANTS.items():
                result = run(project, {"AITEST_BENCH_BASE_URL": server.base_url, **env}, args.workers)
                runs[name].append(result)
                print(f"  round {number + 1}: {name}: {result['wall']:.1f} s, CPU {result['cpu']:.1f} s", flush=True)
    ideal = args.scenarios * 6 * args.latency_ms / 1000 / args.workers
    print(f"{args.scenarios} scenarios x 6 replies of {args.latency_ms:g} ms at -n {args.workers}: ideal {ideal:.1f} s")
    for name, variant_runs in runs.items():
        print_variant(name, variant_runs)
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
