"""Time the HTML report on a large run: 5,000 scenarios x 5 turns, 2 tool calls per turn.

Run: `python benchmarks/report_benchmark.py [--tests N] [--turns N] [--out DIR] [--chromium PATH]`. Not a test.
First it times a real pytest run that writes the report: `--replayed N` scenarios (default 500,
`--turns` turns each) are recorded once against the scripted model and one banking MCP server, then
replayed with and without `--aitest-report`, interleaved over `--rounds`; the difference is what the
report costs at the end of a run (each test's result decompressed and validated, the page rendered and
written), and the peak RSS of each pytest process (VmHWM, read by `_memory_plugin.py`) what it costs in
memory. Then it renders a generated run already in memory. With `--chromium`, it also times each
interaction of the page (the longest frame it blocks); with `--pages A.html B.html`, it only times those
reports, interleaved, e.g. two builds of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from _common import REPO_ROOT, machine
from replay_benchmark import CONFTEST, SCRIPT, feature

from aitest_bdd.conversation.turns import Conversation, ModelCall, ToolCall, Turn, Usage
from aitest_bdd.report.html import render_html
from aitest_bdd.results.schema import RunResults, StepResult, TestResult

VOCABULARY = (
    "account balance transfer savings checking payment card limit statement pending cleared amount currency "
    "weather forecast rain sunny cloudy wind humidity temperature city tomorrow week umbrella morning evening "
    "order invoice customer refund shipping delivery address status total item price discount tax receipt "
    "the a of to and in for on with your you is it that this will be have from at as are can please thanks"
)
WORDS = VOCABULARY.split()
MODELS = ("gpt-4.1-mini", "gpt-4.1", "claude-sonnet-4", "llama-3.3-70b")
T = TypeVar("T")
TOOLS = ("get_balance", "transfer", "list_transactions", "get_weather", "get_forecast", "search_orders")


def sentence(rng: random.Random, low: int, high: int) -> str:
    """Text of `low` to `high` characters, made of plain words."""
    target = rng.randint(low, high)
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < target:
        words.append(rng.choice(WORDS))
    return " ".join(words).capitalize() + "."


def tool_call(rng: random.Random, turn: int, index: int) -> ToolCall:
    """A tool call with a JSON result of a few hundred bytes to ~1.5 kB, like the example servers'."""
    arguments = {
        "account": rng.choice(("checking", "savings")),
        "limit": rng.randint(1, 20),
        "query": sentence(rng, 10, 40),
    }
    records = [
        {"id": rng.randint(1000, 99999), "amount": round(rng.uniform(1, 5000), 2), "memo": sentence(rng, 20, 80)}
        for _ in range(rng.randint(1, 8))
    ]
    structured = {"status": "ok", "currency": "USD", "items": records}
    return ToolCall(
        id=f"call_{turn}_{index}",
        name=rng.choice(TOOLS),
        arguments=arguments,
        raw_arguments=json.dumps(arguments),
        server="banking",
        result_text=json.dumps(structured, indent=2),
        structured_content=structured,
        is_error=rng.random() < 0.03,
        duration_ms=rng.uniform(5, 400),
    )


def turn(rng: random.Random, number: int, model: str) -> Turn:
    """One turn: a user message, two tool calls over three model calls, a reply."""
    calls = [tool_call(rng, number, index) for index in range(2)]
    reply = sentence(rng, 150, 600)
    usages = [Usage(prompt_tokens=rng.randint(200, 3000), completion_tokens=rng.randint(10, 300)) for _ in range(3)]
    for usage in usages:
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
    model_calls = [
        ModelCall(
            model=model,
            tool_calls=[call.name],
            finish_reason="tool_calls",
            usage=usage,
            duration_ms=rng.uniform(200, 3000),
        )
        for call, usage in zip(calls, usages, strict=False)
    ]
    final = ModelCall(
        model=model, content=reply, finish_reason="stop", usage=usages[2], duration_ms=rng.uniform(200, 3000)
    )
    model_calls.append(final)
    total = usages[0] + usages[1] + usages[2]
    return Turn(
        number=number,
        user_message=sentence(rng, 40, 200),
        model=model,
        model_calls=model_calls,
        tool_calls=calls,
        final_response=reply,
        usage=total,
        cost_usd=total.total_tokens * 0.000002,
        duration_ms=rng.uniform(300, 8000),
    )


def step(rng: random.Random, keyword: str, text: str, line: int, before: int) -> StepResult:
    """A step that passed."""
    return StepResult(
        keyword=keyword, text=text, line=line, status="passed", duration_ms=rng.uniform(0.02, 3000), turns_before=before
    )


def scenario(rng: random.Random, index: int, turns: int) -> TestResult:
    """A scenario (an Outline row over a model) with Given, then When/Then/And per turn; 8% fail."""
    model = MODELS[index % len(MODELS)]
    steps = [step(rng, "Given", 'the agent "banking"', 5, 0)]
    for number in range(turns):
        line = 6 + 3 * number
        steps.append(step(rng, "When", f'the user says "{sentence(rng, 30, 90)}"', line, number))
        steps.append(step(rng, "Then", 'the agent calls "get_balance"', line + 1, number + 1))
        steps.append(step(rng, "And", f'the response contains "{rng.choice(WORDS)}"', line + 2, number + 1))
    failed = rng.random() < 0.08
    if failed:
        steps[-1].status = "failed"
        steps[-1].message = f"expected the response of turn {turns} to contain the word\n{sentence(rng, 100, 300)}"
    name = f"Scenario {index // len(MODELS)} of the banking assistant"
    return TestResult(
        nodeid=f"features/bench_{index // 500}.feature::test_scenario_{index // len(MODELS)}[{model}]",
        kind="scenario",
        name=name,
        feature=f"Benchmark feature {index // 500}",
        file=f"features/bench_{index // 500}.feature",
        line=4,
        tags=["bench", rng.choice(("smoke", "regression", "slow"))],
        example={"model": model},
        status="failed" if failed else "passed",
        message=steps[-1].message,
        duration_ms=rng.uniform(1000, 40000),
        steps=steps,
        conversations=[
            Conversation(agent="banking", model=model, turns=[turn(rng, n + 1, model) for n in range(turns)])
        ],
    )


def build_results(tests: int, turns: int, seed: int = 1) -> RunResults:
    """A run of `tests` scenarios with `turns` turns each."""
    rng = random.Random(seed)
    return RunResults(tool_version="benchmark", tests=[scenario(rng, index, turns) for index in range(tests)])


def timed(label: str, action: Callable[[], T], repeat: int) -> T:
    """Run `action` `repeat` times; print the median (min–max) wall and CPU time, return its value."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        value = action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(f"{label}: {spread_s(walls)} s, median (min–max) of {repeat} (CPU, all threads: {spread_s(cpus)} s)")
    return value


# Watches long animation frames (a task and the style, layout and paint it causes, when over 50 ms).
WATCH_FRAMES = """() => {
  window.__frames = [];
  new PerformanceObserver((list) => window.__frames.push(...list.getEntries().map((e) => [e.startTime, e.duration])))
    .observe({ type: "long-animation-frame" });
}"""
# Resolves once `quiet` ms pass with no long frame (or after `limit` ms): the interaction's work is over.
SETTLE = """([quiet, limit]) => new Promise((done) => {
  const began = performance.now();
  const check = () => {
    const last = window.__frames.reduce((end, [start, duration]) => Math.max(end, start + duration), began);
    if (performance.now() - last >= quiet || performance.now() - began > limit) done();
    else setTimeout(check, 50);
  };
  requestAnimationFrame(() => setTimeout(check, 50));
})"""
INTERACTIONS = ("search", "filter", "open one flow", "show more", "expand shown", "collapse all")


def interact(page: Any, name: str) -> None:
    """Do one interaction as a user would, with Playwright's real input events."""
    if name == "search":
        page.fill("#search", "umbrella")
    elif name == "filter":
        page.fill("#search", "")
        page.locator("input[name=status][value=passed]").uncheck()
    elif name == "open one flow":
        page.locator("input[name=status][value=passed]").check()
        page.click("#list > .entry .head")
    elif name == "show more":
        page.click("#more")
    elif name == "expand shown":
        page.click("#expand")
    elif name == "collapse all":
        page.click("#collapse")


def time_interactions(browser: Any, path: Path) -> dict[str, float]:
    """Each interaction's longest blocking frame in ms, on a fresh page of `path` (400 flows shown to expand)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(path.as_uri(), timeout=120_000)
    page.wait_for_selector("body[data-ready=true]", timeout=120_000)
    page.evaluate(WATCH_FRAMES)
    page.evaluate(SETTLE, [1000, 30_000])
    longest = {}
    for name in INTERACTIONS:
        page.evaluate(WATCH_FRAMES)
        interact(page, name)
        page.evaluate(SETTLE, [1000, 60_000])
        longest[name] = max((duration for _, duration in page.evaluate("window.__frames")), default=0.0)
    page.close()
    return longest


def spread(values: list[float]) -> str:
    """`median (min–max)` of `values`, in ms."""
    return f"{statistics.median(values):6.0f} ({min(values):.0f}–{max(values):.0f})"


def browse(paths: list[Path], chromium: str, rounds: int) -> None:
    """Time opening each report and its interactions in headless Chromium, the reports interleaved (A B A B)."""
    from playwright.sync_api import sync_playwright

    loads: dict[Path, list[float]] = {path: [] for path in paths}
    frames: dict[Path, dict[str, list[float]]] = {path: {name: [] for name in INTERACTIONS} for path in paths}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(rounds):
            for path in paths:
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(path.as_uri(), timeout=120_000)
                page.wait_for_selector("body[data-ready=true]", timeout=120_000)
                loads[path].append((time.perf_counter() - started) * 1000)
                page.close()
                for name, value in time_interactions(browser, path).items():
                    frames[path][name].append(value)
        browser.close()
    print(f"Chromium, {rounds} rounds; longest blocking frame in ms, median (min–max); 0: none over 50 ms")
    for path in paths:
        print(f"{path}\n  {'open, until the list is shown':32} {spread(loads[path])}")
        for name in INTERACTIONS:
            print(f"  {name:32} {spread(frames[path][name])}")


def pytest_child(project: Path, *args: str) -> tuple[float, float, float]:
    """Run pytest in `project`: its wall time and CPU time in s, its peak RSS in MiB (VmHWM, `_memory_plugin.py`)."""
    rss = project / "rss.json"
    env = {**os.environ, "AITEST_BENCH_RSS": str(rss)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "benchmarks"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_memory_plugin", *args]
    cpu, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    wall, used = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return wall, seconds, json.loads(rss.read_text(encoding="utf-8"))["hwm_kib"] / 1024


def replayed_run(scenarios: int, turns: int, rounds: int) -> None:
    """Record `scenarios` scenarios, then time replaying them with and without `--aitest-report`, interleaved."""
    from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

    with tempfile.TemporaryDirectory() as directory, ScriptedModelServer(Script.model_validate(SCRIPT)) as server:
        project = Path(directory)
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (project / "conftest.py").write_text(CONFTEST.format(url=server.base_url), encoding="utf-8")
        (project / "replay.feature").write_text(feature(scenarios, turns), encoding="utf-8")
        print(f"recording {scenarios:,} scenarios x {turns} turns (scripted model, one banking server)", flush=True)
        pytest_child(project, "--aitest-record=all")
        server.stop()
        variants = {"replay, no report": (), "replay, --aitest-report": ("--aitest-report", "report.html")}
        measures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, args in variants.items():
                measures[name].append(pytest_child(project, "--aitest-record=none", *args))
        size = (project / "report.html").stat().st_size / 1e6
    print(f"pytest runs of {scenarios:,} replayed scenarios, {rounds} interleaved rounds, median (min–max):")
    for name, runs in measures.items():
        walls, cpus, peaks = zip(*runs, strict=True)
        print(f"  {name:<26} wall {spread_s(walls)} s, CPU {spread_s(cpus)} s, peak RSS {spread_s(peaks, 0)} MiB")
    without, with_report = measures.values()
    for index, what in ((0, "wall"), (1, "CPU")):
        extra = [report[index] - plain[index] for plain, report in zip(without, with_report, strict=True)]
        print(f"  the report, end to end, {what:<4} {spread_s(extra)} s more (each round's pair), page {size:.1f} MB")


def spread_s(values: Sequence[float], digits: int = 2) -> str:
    """`median (min–max)` of `values`."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="time each step this many times")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "aitest-report-benchmark")
    parser.add_argument("--chromium", metavar="PATH", help="also time the report in this Chromium (needs Playwright)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of browser timings and of the replayed runs")
    parser.add_argument("--replayed", type=int, default=500, help="scenarios of the pytest run (0: skip it)")
    parser.add_argument(
        "--pages", type=Path, nargs="+", metavar="HTML", help="only time these reports in --chromium, interleaved"
    )
    args = parser.parse_args()
    if args.pages:
        browse(args.pages, args.chromium or "/usr/bin/chromium", args.rounds)
        return
    print(f"machine: {machine()}")
    if args.replayed:  # first, while this process is small
        replayed_run(args.replayed, args.turns, args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    results = build_results(args.tests, args.turns)
    turns = sum(test.turn_count for test in results.tests)
    print(
        f"{len(results.tests):,} tests, {turns:,} turns, {sum(t.tool_call_count for t in results.tests):,} tool calls"
    )
    data = timed(
        "JSON dump (model_dump_json, as --aitest-json)", lambda: results.model_dump_json(indent=1), args.repeat
    )
    html = timed("render_html", lambda: render_html(results), args.repeat)
    (args.out / "report.json").write_text(data, encoding="utf-8")
    (args.out / "report.html").write_text(html, encoding="utf-8")
    print(f"JSON: {len(data.encode()) / 1e6:.1f} MB, HTML: {len(html.encode()) / 1e6:.1f} MB, in {args.out}")
    if args.chromium:
        browse([args.out / "report.html"], args.chromium, args.rounds)
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
