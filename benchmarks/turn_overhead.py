"""Per-turn plugin overhead: a 3-turn banking conversation with 2 tool calls per turn, zero model latency.

Each repetition does two things, one after the other, so that the repetitions interleave them:

- in process: it opens one AgentSession (one real banking MCP server over stdio) and runs N
  conversations on it; between conversations the session's history and turns are reset, so each
  conversation starts from the system prompt while the MCP server stays up. One Runtime (event loop
  thread) serves the whole run, as in a pytest run, and its shared HTTP pool carries every model
  request to the scripted server (HTTP/1.1 keep-alive);
- through pytest: it runs a generated `.feature` of S scenarios (`Given the agent`, then per turn
  `When the user says` and `Then the agent calls`) on the same scripted model, with the banking server
  over stdio shared by the run (`scope="run"`), so that pytest's and pytest-bdd's cost per test and per
  step is in the figure. The first scenario of each run (it starts the server, loads the SDKs) is left out.

Model requests are timed at the HTTP transport and MCP requests at the client's stdio streams
(`_transport_timing.py`). Per turn it reports:

- wall: `session.say()` as the caller sees it (includes the hop to the runtime's loop thread);
- model: the model calls as the plugin times them (`ModelCall.duration_ms`: the SDK's `client.post`,
  HTTP, and parsing the reply into a `ChatCompletion`);
- http: the same requests at the HTTP transport (request handed over to response body read);
- server: the scripted server's own handling (`_handle_chat`: routing, rendering, JSON);
- mcp: MCP round trips as the plugin times them (`ToolCall.duration_ms`);
- mcp_wire: the same requests at the stdio streams (request written to answer read);
- overhead: wall - model - mcp, on the plugin's own timers, which contain its request building and
  checking of answers;
- overhead_wire: wall - http - mcp_wire, the usual definition: everything but the round trips;
- sdk: model - http, the client-side cost of a request.

and, for the pytest runs, per turn: (the test's whole protocol - http - mcp_wire) / 3.
Each figure is printed as the median over the repetitions of each repetition's median, with min–max.

Then it compares the two request paths alone (a mock transport, no network) for growing conversation
histories: the SDK's typed `chat.completions.create()`, and the JSON body sent through
`client.post(..., cast_to=object)` and validated as a `ChatCompletion`, as the session sends it. Last, it
profiles one repetition on the loop thread (cProfile, or pyinstrument with --profiler).

Run: `python benchmarks/turn_overhead.py [--reps 5] [--conversations 50] [--profiler cprofile]`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai
from _common import BANKING_TURNS, REPO_ROOT, banking_agent, banking_script, machine, summary
from _transport_timing import TransportLog, install
from openai.types.chat import ChatCompletion

from aitest_bdd import AgentSession, Conversation
from aitest_bdd.runtime import Runtime
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer


class TimedModelServer(ScriptedModelServer):
    """The scripted server, recording how long it takes to answer each chat request."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.handled_ms: list[float] = []

    def _handle_chat(self, body: dict[str, Any], authorization: str = "") -> Any:
        started = time.perf_counter()
        try:
            return super()._handle_chat(body, authorization)
        finally:
            self.handled_ms.append((time.perf_counter() - started) * 1000)


@dataclass
class TurnSample:
    """Timings of one turn, in milliseconds."""

    wall: float
    turn: float
    model: float
    http: float
    server: float
    mcp: float
    mcp_wire: float

    @property
    def overhead(self) -> float:
        return self.wall - self.model - self.mcp

    @property
    def overhead_wire(self) -> float:
        return self.wall - self.http - self.mcp_wire

    @property
    def sdk(self) -> float:
        return self.model - self.http

    @property
    def hop(self) -> float:
        return self.wall - self.turn


def reset(session: AgentSession) -> None:
    """Start a new conversation on the same open session (same MCP server)."""
    session.conversation = Conversation(agent=session.agent.name, model=session.agent.provider.model)
    session.history = session.history[:1]


def run_conversation(session: AgentSession, log: TransportLog, server: TimedModelServer) -> list[TurnSample]:
    """Run the three banking turns; return one sample per turn."""
    samples = []
    for message, _calls, _answer in BANKING_TURNS:
        http_at, mcp_at, server_at = len(log.http), len(log.mcp), len(server.handled_ms)
        started = time.perf_counter()
        turn = session.say(message)
        wall = (time.perf_counter() - started) * 1000
        if turn.error:
            raise SystemExit(f"turn failed: {turn.error}")
        samples.append(
            TurnSample(
                wall=wall,
                turn=turn.duration_ms,
                model=sum(call.duration_ms for call in turn.model_calls),
                http=sum(log.http[http_at:]),
                server=sum(server.handled_ms[server_at:]),
                mcp=sum(call.duration_ms for call in turn.tool_calls),
                mcp_wire=sum(log.mcp[mcp_at:]),
            )
        )
    return samples


def run_repetition(
    runtime: Runtime, server: TimedModelServer, log: TransportLog, conversations: int
) -> list[TurnSample]:
    """Open one session, run `conversations` conversations on it, close it."""
    session = AgentSession(banking_agent(server.base_url), runtime)
    session.open()
    samples: list[TurnSample] = []
    try:
        for _ in range(conversations):
            reset(session)
            samples.extend(run_conversation(session, log, server))
    finally:
        session.close()
    return samples


CANNED_REPLY = {
    "id": "chatcmpl-mock",
    "object": "chat.completion",
    "created": 0,
    "model": "mock",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def conversation_sample(runtime: Runtime, base_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The wire-format history of one real 3-turn conversation (without the system prompt), and the tools."""
    session = AgentSession(banking_agent(base_url), runtime)
    try:
        for message, _calls, _answer in BANKING_TURNS:
            session.say(message)
        return session.history[1:], list(session._tools)
    finally:
        session.close()


def history_of(sample: list[dict[str, Any]], turns: int) -> list[dict[str, Any]]:
    """System prompt, `turns` earlier turns (cycling through the sample's), and a new user message."""
    per_turn = len(sample) // len(BANKING_TURNS)
    earlier = [
        sample[(index % len(BANKING_TURNS)) * per_turn + offset] for index in range(turns) for offset in range(per_turn)
    ]
    return [{"role": "system", "content": "You are a banking assistant."}, *earlier, {"role": "user", "content": "hi"}]


async def _time_calls(call: Any, repeats: int) -> float:
    """Milliseconds per `await call()`, after two warm-up calls."""
    for _ in range(2):
        await call()
    started = time.perf_counter()
    for _ in range(repeats):
        await call()
    return (time.perf_counter() - started) * 1000 / repeats


async def request_paths(sample: list[dict[str, Any]], tools: list[dict[str, Any]], repeats: int) -> None:
    """Print the cost per request of `create()` and of the session's `client.post` path, on a mock transport."""
    transport = httpx2.MockTransport(lambda _request: httpx2.Response(200, json=CANNED_REPLY))
    client = openai.AsyncOpenAI(
        api_key="unused", base_url="http://127.0.0.1:9/v1", http_client=httpx2.AsyncClient(transport=transport)
    )
    print("request paths, mock transport (no network): ms per request")
    print(f"  {'':40}{'messages':>8}{'create()':>11}{'post':>11}{'json.dumps':>11}")
    for turns in (0, 2, 5, 10, 20):
        messages = history_of(sample, turns)
        body = {"model": "m", "messages": messages, "tools": tools, "tool_choice": "auto"}

        async def create(messages: list[dict[str, Any]] = messages) -> Any:
            return await client.chat.completions.create(model="m", messages=messages, tools=tools, tool_choice="auto")

        async def post(body: dict[str, Any] = body) -> Any:
            return ChatCompletion.model_validate(await client.post("/chat/completions", body=body, cast_to=object))

        async def dumps(body: dict[str, Any] = body) -> Any:
            return json.dumps(body)

        timings = [await _time_calls(call, repeats) for call in (create, post, dumps)]
        print(f"  history of {turns:2d} turns {'':20}{len(messages):8d}" + "".join(f"{t:11.3f}" for t in timings))
    print("  create(): chat.completions.create(), the SDK's typed transform of every message;")
    print("  post: client.post(cast_to=object) + ChatCompletion.model_validate, as the session sends requests")
    await client.close()


def print_samples(samples: list[TurnSample]) -> None:
    """A table of median, p95 and mean per measure."""
    print(f"{len(samples)} turns; milliseconds per turn        median      p95     mean")
    measures = ("wall", "turn", "model", "http", "server", "mcp", "mcp_wire", "overhead", "overhead_wire", "sdk", "hop")
    for name in measures:
        print(f"  {name:<34}{summary([getattr(sample, name) for sample in samples])}")


PACKAGES = ("aitest_bdd", "openai", "httpx2", "httpcore2", "mcp_types", "mcp", "jsonschema", "pydantic", "anyio", "h11")


def package_of(filename: str) -> str:
    """The package a profiled function belongs to, for the per-package totals."""
    for marker in PACKAGES:
        if f"/{marker}/" in filename:
            return marker
    if "asyncio" in filename or "selectors" in filename:
        return "asyncio"
    if "/site-packages/" in filename:
        return "other"
    return "stdlib/builtins" if filename.startswith(("~", "<")) or "/lib/python" in filename else "other"


def short_name(key: tuple[str, int, str]) -> str:
    """`package/file.py:line(function)` for a pstats key."""
    filename, line, function = key
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({function})" if line else function


def print_cprofile(profiler: cProfile.Profile, turns: int) -> None:
    """Own time per package and the functions with the most own time, in ms per turn."""
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    idle = sum(tottime for key, (_cc, _nc, tottime, _ct, _c) in entries.items() if "poll" in key[2])
    by_package: dict[str, float] = defaultdict(float)
    for key, (_cc, _nc, tottime, _ct, _callers) in entries.items():
        if "poll" not in key[2]:
            by_package[package_of(key[0])] += tottime
    print(f"loop-thread own time by package, ms per turn ({turns} turns; cProfile inflates it, compare shares):")
    print(f"  {'(idle in epoll)':<18}{idle * 1000 / turns:8.3f}")
    for package, seconds in sorted(by_package.items(), key=lambda item: -item[1]):
        print(f"  {package:<18}{seconds * 1000 / turns:8.3f}")
    print("functions with the most own time:  ms/turn  calls/turn")
    ranked = sorted(entries.items(), key=lambda item: -item[1][2])
    for key, (_cc, calls, tottime, _ct, _callers) in [item for item in ranked if "poll" not in item[0][2]][:12]:
        print(f"  {tottime * 1000 / turns:8.3f} {calls / turns:10.1f}  {short_name(key)}")


def print_pyinstrument(sampler: Any) -> None:
    """The call tree (with the OpenAI SDK's request frames shown) and the flat self-time top 20."""
    from pyinstrument.renderers import ConsoleRenderer

    shown = {"show_regex": r".*(_base_client|session|toolbox|servers)\.py.*", "filter_threshold": 0.02}
    print(sampler.output(ConsoleRenderer(processor_options=shown))[:7000])
    flat = sampler.output(ConsoleRenderer(flat=True, flat_time="self"))
    print("\n".join(flat.splitlines()[:28]))


def profile_repetition(
    runtime: Runtime, server: TimedModelServer, log: TransportLog, conversations: int, profiler_name: str
) -> None:
    """Run one repetition with a profiler on the runtime's loop thread and print its findings."""
    if profiler_name == "pyinstrument":
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0002, async_mode="disabled")
        runtime.call(_in_loop, sampler.start)
        run_repetition(runtime, server, log, conversations)
        runtime.call(_in_loop, sampler.stop)
        print_pyinstrument(sampler)
        return
    profiler = cProfile.Profile()
    runtime.call(_in_loop, profiler.enable)
    run_repetition(runtime, server, log, conversations)
    runtime.call(_in_loop, profiler.disable)
    print_cprofile(profiler, conversations * len(BANKING_TURNS))


async def _in_loop(func: Any) -> None:
    """Call `func` on the loop thread (profilers attach to the thread that starts them)."""
    func()
    await asyncio.sleep(0)


PYTEST_CONFTEST = """
import os
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider


@pytest.fixture
def aitest_agents():
    provider = Provider(model="scripted", base_url=os.environ["AITEST_BENCH_BASE_URL"], max_retries=0, timeout=30)
    command = [sys.executable, "-m", "aitest_bdd.testing.servers.banking"]
    banking = MCPServer(name="banking", command=command, scope="run")
    prompt = "You are a banking assistant."
    return [Agent(name="banking", provider=provider, mcp_servers=[banking], system_prompt=prompt)]
"""


def feature_text(scenarios: int) -> str:
    """`scenarios` three-turn banking conversations, each turn checked by a Then step (7 steps a scenario)."""
    lines = ["Feature: Turn overhead", ""]
    for index in range(scenarios):
        lines += [f"  Scenario: Conversation {index}", '    Given the agent "banking"']
        for user, calls, _answer in BANKING_TURNS:
            lines += [f'    When the user says "{user}"', f'    Then the agent calls "{calls[0]["name"]}"']
        lines.append("")
    return "\n".join(lines)


def pytest_run(project: Path, base_url: str) -> list[dict[str, Any]]:
    """Run the project's feature in a pytest process; each test's timings, from `_turn_plugin.py`."""
    timings = project / "timings.json"
    env = {**os.environ, "AITEST_BENCH_BASE_URL": base_url, "AITEST_BENCH_TURNS": str(timings)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "benchmarks"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "turns.feature", "-q", "-p", "no:cacheprovider", "-p", "_turn_plugin"]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return json.loads(timings.read_text(encoding="utf-8"))


def pytest_turn_ms(tests: list[dict[str, Any]]) -> list[float]:
    """Per test after the first: (its whole protocol - HTTP - MCP round trips) / turns, in ms."""
    expected = 2 * len(BANKING_TURNS)
    for test in tests[1:]:
        if len(test["http_ms"]) != expected or len(test["mcp_ms"]) != expected:
            raise SystemExit(f"{test['nodeid']}: {len(test['http_ms'])} HTTP, {len(test['mcp_ms'])} MCP round trips")
    turns = len(BANKING_TURNS)
    return [(test["wall_ms"] - sum(test["http_ms"]) - sum(test["mcp_ms"])) / turns for test in tests[1:]]


def spread(values: list[float]) -> str:
    """`median (min–max)` of `values`, in ms."""
    return f"{statistics.median(values):7.3f} ({min(values):.3f}–{max(values):.3f})"


def print_repetitions(figures: dict[str, list[float]], reps: int) -> None:
    """Each figure: the median over the repetitions of each repetition's median, with min–max."""
    print(f"per turn, ms: median (min–max) over {reps} interleaved repetitions of each repetition's median")
    for name, values in figures.items():
        print(f"  {name:<70}{spread(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions, each in process and through pytest")
    parser.add_argument("--conversations", type=int, default=50, help="conversations per in-process repetition")
    parser.add_argument("--scenarios", type=int, default=40, help="scenarios per pytest run (default 40)")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument", "none"), default="cprofile")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    runtime = Runtime()
    log = install()
    in_process = {
        "wall, session.say()": "wall",
        "overhead on the plugin's timers: turn - model timer - tool timer": "overhead",
        "overhead at the transports: turn - HTTP - MCP round trips": "overhead_wire",
    }
    through_pytest = "through pytest: (test - HTTP - MCP round trips) / 3, what users pay"
    figures: dict[str, list[float]] = {name: [] for name in [*in_process, through_pytest]}
    with (
        TimedModelServer(Script.model_validate(banking_script(latency_ms=0))) as server,
        tempfile.TemporaryDirectory() as directory,
    ):
        project = Path(directory)
        (project / "conftest.py").write_text(PYTEST_CONFTEST, encoding="utf-8")
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (project / "turns.feature").write_text(feature_text(args.scenarios), encoding="utf-8")
        run_repetition(runtime, server, log, 5)  # warm-up: imports, first connections
        samples: list[TurnSample] = []
        for number in range(args.reps):
            print(f"repetition {number + 1} of {args.reps}", flush=True)
            batch = run_repetition(runtime, server, log, args.conversations)
            samples.extend(batch)
            tests = pytest_run(project, server.base_url)
            for name, measure in in_process.items():
                figures[name].append(statistics.median(getattr(sample, measure) for sample in batch))
            figures[through_pytest].append(statistics.median(pytest_turn_ms(tests)))
        print(
            f"in process: {args.reps} repetitions x {args.conversations} conversations x {len(BANKING_TURNS)} turns; "
            f"through pytest: {args.reps} runs x {args.scenarios - 1} scenarios (the first left out); "
            "2 model calls and 2 tool calls per turn"
        )
        print_repetitions(figures, args.reps)
        print()
        print_samples(samples)
        sample, tools = conversation_sample(runtime, server.base_url)
        print()
        asyncio.run(request_paths(sample, tools, repeats=30))
        if args.profiler != "none":
            print(f"\nprofile of one repetition ({args.conversations} conversations), loop thread, {args.profiler}:")
            profile_repetition(runtime, server, log, args.conversations, args.profiler)
    runtime.close()
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
