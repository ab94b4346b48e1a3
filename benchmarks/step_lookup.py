"""Step lookup: a replayed 3-turn scenario with pytest-bdd's own step lookup, against the plugin's.

Run: python benchmarks/step_lookup.py [--scenarios 200] [--runs 5]

Records the replay benchmark's feature with 3 turns per scenario (7 steps: the agent, then 3 x a user
message and a tool check) once, then replays it `--runs` times each way, interleaved (A B A B): A with
pytest-bdd's own lookup (a scan of every registered fixture per step), B with the plugin's (the
definition the collection-time step check chose). A scenario's time is pytest's whole protocol for its
test (setup, call, teardown); each run gives the median over its scenarios, and the script prints the
median with min-max of those medians, and their difference per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine
from replay_benchmark import CONFTEST, SCRIPT, feature

TURNS = 3
STEPS = 1 + 2 * TURNS

TIMING_PLUGIN = '''
"""Write each test's protocol time (seconds) to the file named by --timing-file."""
import json
import time

import pytest

_times = []


def pytest_addoption(parser):
    parser.addoption("--timing-file")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item):
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        _times.append(time.perf_counter() - started)


def pytest_unconfigure(config):
    with open(config.getoption("timing_file"), "w") as out:
        json.dump(_times, out)
'''

PYTEST_BDD_LOOKUP_PLUGIN = '''
"""Give pytest-bdd its own step lookup back for this run."""
import pytest

from aitest_bdd.gherkin import step_lookup


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    step_lookup.uninstall(config)
'''

VARIANTS = {"pytest-bdd lookup": ["-p", "pytest_bdd_lookup"], "plugin lookup": []}


def replay(project: Path, extra: list[str]) -> float:
    """One replayed run: the median time of a scenario, in ms."""
    times = project / "times.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "timing", "--aitest-record=none"]
    done = subprocess.run(
        [*command, "--timing-file", str(times), *extra], cwd=project, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return statistics.median(json.loads(times.read_text())) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

    medians: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        (project / "timing.py").write_text(TIMING_PLUGIN)
        (project / "pytest_bdd_lookup.py").write_text(PYTEST_BDD_LOOKUP_PLUGIN)
        (project / "replay.feature").write_text(feature(args.scenarios, TURNS))
        with ScriptedModelServer(Script.model_validate(SCRIPT)) as server:
            (project / "conftest.py").write_text(CONFTEST.format(url=server.base_url))
            record = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--aitest-record=all"]
            subprocess.run(record, cwd=project, capture_output=True, check=True)
        for _ in range(args.runs):
            for name, extra in VARIANTS.items():
                medians[name].append(replay(project, extra))

    print(f"machine: {machine()}")
    print(f"{args.scenarios} replayed scenarios x {TURNS} turns ({STEPS} steps), {args.runs} interleaved runs each")
    for name, values in medians.items():
        median = statistics.median(values)
        print(f"{name:18} {median:6.2f} ms per scenario (min-max {min(values):.2f}-{max(values):.2f})")
    saved = [a - b for a, b in zip(*medians.values(), strict=True)]
    print(
        f"lookup cost: {statistics.median(saved) / STEPS:.3f} ms per step "
        f"(min-max {min(saved) / STEPS:.3f}-{max(saved) / STEPS:.3f}), from the paired differences"
    )


if __name__ == "__main__":
    main()
