"""What the model proxy costs an app's agent: the same tool loop through `AgentSession` and the proxy, and alone.

The agent is an async function (`CallableApp`) that runs a small tool loop with `openai.AsyncOpenAI`: each turn,
the scripted model (no latency) answers with one tool call (`get_balance`, a local Python function), then with
text, so a turn makes 2 model calls. Each round runs it three ways, one after the other, so that the rounds
interleave them:

- A, live: through `AgentSession.say()`, the function pointed at `request.model` (the model proxy, which
  forwards each call to the scripted model through the plugin's own client and reads the tool calls from it);
- A, replayed: the same, with every model answer replayed at the proxy from a recording made once before the
  rounds (`Cassette`, as a pytest run with `--aitest-record=all`, then `none`);
- B: the same function pointed at the scripted model itself, called on the runtime's loop (`Runtime.call`, the
  same hop from the caller's thread that `say()` makes), with no session and no proxy.

Each way runs `--turns` turns on one session (one client, one proxy address); the function reads only the
user message, so every turn sends the same requests. Per turn it times:

- wall: `say()` (A) or `Runtime.call` (B) as the caller sees it;
- loop: the function's own time, from its first request to its reply;
- app http: the function's model requests at the HTTP transport (request handed over to body read);
- upstream http: the proxy's requests to the scripted model (A live only).

From these, per model call: the proxy's added time (loop A - loop B) / 2, live and replayed, and what the proxy adds
between the app's request and its own upstream request ((app http - upstream http) / 2, live); per turn: wall A -
wall B, and the session's own part (wall - loop). Each figure is the median over the rounds of each round's median,
with min–max.

Once per run, in a fresh `Runtime`, it times the first app conversation's start (`AgentSession.open()`: the proxy
server starts, uvicorn and starlette are imported) against the second one's; in every round, a `ModelProxy`'s start
and stop alone (imports done); and, in a fresh interpreter, `import uvicorn` and the starlette modules the proxy uses.

Run: `python benchmarks/proxy_overhead.py [--rounds 5] [--turns 100]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai
from _common import machine

from aitest_bdd import Agent, AgentSession, Provider
from aitest_bdd.app import AppRequest
from aitest_bdd.apps.callable import CallableApp
from aitest_bdd.models.proxy import ModelProxy, ProxyReply
from aitest_bdd.recording.cassette import Cassette, RecordMode
from aitest_bdd.redaction import Redactor
from aitest_bdd.runtime import Runtime
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

MESSAGE = "What is the balance of checking?"
SCRIPT = {
    "name": "proxy-overhead",
    "latency_ms": 0,
    "rules": [
        {
            "user_regex": "balance of checking",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Checking holds ${result:get_balance.formatted}."},
            ],
        }
    ],
}
SYSTEM = "You are a banking assistant."
PARAMETERS = {"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]}
TOOLS = [{"type": "function", "function": {"name": "get_balance", "parameters": PARAMETERS}}]
CALLS_PER_TURN = 2
IMPORTS = "import uvicorn, starlette.requests, starlette.responses"


def get_balance(account: str) -> str:
    return json.dumps({"account": account, "formatted": "1,500.00"})


async def tool_loop(client: openai.AsyncOpenAI, model: str, message: str) -> str:
    """The agent: ask the model, run the tools it calls, until it answers with text."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": message}]
    for _ in range(5):
        completion = await client.chat.completions.create(model=model, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
        reply = completion.choices[0].message
        if not reply.tool_calls:
            return reply.content or ""
        messages.append(reply.model_dump(exclude_none=True))
        for call in reply.tool_calls:
            result = get_balance(**json.loads(call.function.arguments))  # type: ignore[union-attr]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise RuntimeError("the model kept calling tools")


@dataclass
class LoopAgent:
    """The tool loop with one client per model address, timing each run of the loop (ms)."""

    loops: list[float] = field(default_factory=list)
    clients: dict[str, openai.AsyncOpenAI] = field(default_factory=dict)

    def client(self, base_url: str, api_key: str) -> openai.AsyncOpenAI:
        if base_url not in self.clients:
            self.clients[base_url] = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
        return self.clients[base_url]

    async def run(self, base_url: str, api_key: str, model: str, message: str) -> str:
        client = self.client(base_url, api_key)
        started = time.perf_counter()
        reply = await tool_loop(client, model, message)
        self.loops.append((time.perf_counter() - started) * 1000)
        return reply

    async def turn(self, request: AppRequest) -> str:
        """The app's turn: the loop on the model it is given (the proxy)."""
        return await self.run(request.model.base_url, request.model.api_key, request.model.model, request.message)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()


def time_http() -> list[tuple[int, float]]:
    """Time every HTTP request at the transport from now on: (port, ms) in the order they finish."""
    log: list[tuple[int, float]] = []
    send = httpx2.AsyncHTTPTransport.handle_async_request

    async def timed_send(self: httpx2.AsyncHTTPTransport, request: httpx2.Request) -> httpx2.Response:
        started = time.perf_counter()
        response = await send(self, request)
        await response.aread()
        log.append((request.url.port or 0, (time.perf_counter() - started) * 1000))
        return response

    httpx2.AsyncHTTPTransport.handle_async_request = timed_send  # type: ignore[method-assign]
    return log


@dataclass
class Sample:
    """One turn, in milliseconds."""

    wall: float
    loop: float
    app_http: float
    upstream_http: float = 0.0


def port_of(url: str) -> int:
    return httpx2.URL(url).port or 0


def run_session(
    agent: Agent,
    loop_agent: LoopAgent,
    runtime: Runtime,
    log: list[tuple[int, float]],
    turns: int,
    cassette: Cassette | None,
) -> list[Sample]:
    """`turns` turns of the app on one session (the history cleared before each: every turn is alike)."""
    session = AgentSession(agent, runtime, cassette=cassette)
    session.open()
    assert session._app is not None and session._app.endpoint is not None
    proxy_port = port_of(session._app.endpoint.base_url)
    samples = []
    try:
        for _ in range(turns):
            session.history = session.history[:1] if agent.system_prompt else []
            loops, at = len(loop_agent.loops), len(log)
            started = time.perf_counter()
            turn = session.say(MESSAGE)
            wall = (time.perf_counter() - started) * 1000
            if (
                turn.error
                or len(turn.model_calls) != CALLS_PER_TURN
                or [c.name for c in turn.tool_calls] != ["get_balance"]
            ):
                raise SystemExit(f"turn failed: {turn.error or (len(turn.model_calls), turn.tool_calls)}")
            app = [ms for port, ms in log[at:] if port == proxy_port]
            upstream = [ms for port, ms in log[at:] if port != proxy_port]
            samples.append(Sample(wall, loop_agent.loops[loops], sum(app), sum(upstream)))
    finally:
        session.close()
        runtime.call(loop_agent.close)
    return samples


def run_direct(
    loop_agent: LoopAgent, runtime: Runtime, log: list[tuple[int, float]], base_url: str, turns: int
) -> list[Sample]:
    """`turns` turns of the same loop on the scripted model itself, on the runtime's loop."""
    samples = []
    try:
        for _ in range(turns):
            loops, at = len(loop_agent.loops), len(log)
            started = time.perf_counter()
            reply = runtime.call(loop_agent.run, base_url, "unused", "gpt-4.1-mini", MESSAGE)
            wall = (time.perf_counter() - started) * 1000
            if not reply.startswith("Checking holds"):
                raise SystemExit(f"unexpected reply: {reply!r}")
            samples.append(Sample(wall, loop_agent.loops[loops], sum(ms for _port, ms in log[at:])))
    finally:
        runtime.call(loop_agent.close)
    return samples


async def proxy_start_stop() -> tuple[float, float]:
    """A ModelProxy's start (first `open`) and stop (`aclose`), in ms, on the calling loop."""

    async def handler(_api: Any, _body: dict[str, Any]) -> ProxyReply:
        return ProxyReply(status=200, body={})

    proxy = ModelProxy()
    started = time.perf_counter()
    await proxy.open(handler)
    opened = time.perf_counter()
    await proxy.aclose()
    return (opened - started) * 1000, (time.perf_counter() - opened) * 1000


def timed_open(agent: Agent, runtime: Runtime) -> float:
    """Milliseconds to open a session of `agent` (closed again at once)."""
    session = AgentSession(agent, runtime)
    started = time.perf_counter()
    session.open()
    elapsed = (time.perf_counter() - started) * 1000
    session.close()
    return elapsed


def first_conversation(provider: Provider) -> None:
    """Print the first app conversation's start in a fresh Runtime, against the next one's and a plain session's."""
    loaded = [name for name in ("uvicorn", "starlette") if name in sys.modules]
    runtime = Runtime()
    try:
        plain = timed_open(Agent(name="plain", provider=provider), runtime)
        plain_again = timed_open(Agent(name="plain", provider=provider), runtime)
        loop_agent = LoopAgent()
        app = Agent(name="teller", provider=provider, app=CallableApp(loop_agent.turn))
        first = timed_open(app, runtime)
        second = timed_open(app, runtime)
    finally:
        runtime.close()
    print("first conversation's start, once (fresh Runtime; openai already imported), ms:")
    print(f"  plain session, no app: first open {plain:8.2f} (the run's HTTP pool), second {plain_again:8.2f}")
    print(f"  app session: first open {first:8.2f} (the proxy starts), second {second:8.2f}")
    print(f"  the proxy's start in the first conversation: {first - second:8.2f}")
    print(f"  uvicorn/starlette loaded before: {', '.join(loaded) or 'neither'}")


def import_ms(statement: str, runs: int = 3) -> float:
    """Median ms of `statement` in a fresh interpreter, beyond the interpreter's own start."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times)


def record(agent: Agent, loop_agent: LoopAgent, runtime: Runtime, path: Path, turns: int) -> Cassette:
    """Record `turns` turns once; the cassette that replays them."""
    log: list[tuple[int, float]] = []
    recording = Cassette(path, "proxy_overhead", RecordMode.ALL, Redactor(), "benchmark")
    run_session(agent, loop_agent, runtime, log, turns, recording)
    recording.save()
    return Cassette(path, "proxy_overhead", RecordMode.NONE, Redactor(), "benchmark")


def spread(values: list[float]) -> str:
    """`median (min–max)` of `values`."""
    return f"{statistics.median(values):8.3f} ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds, each A live, A replayed, B")
    parser.add_argument("--turns", type=int, default=100, help="turns per way and round (2 model calls each)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    log = time_http()
    with ScriptedModelServer(Script.model_validate(SCRIPT)) as server, tempfile.TemporaryDirectory() as directory:
        provider = Provider(model="gpt-4.1-mini", base_url=server.base_url, max_retries=0, timeout=30)
        first_conversation(provider)
        loop_agent = LoopAgent()
        agent = Agent(name="teller", provider=provider, app=CallableApp(loop_agent.turn))
        runtime = Runtime()
        try:
            replay = record(agent, loop_agent, runtime, Path(directory) / "proxy_overhead.json", args.turns)
            for _ in range(2):  # warm-up: connections, first calls
                run_session(agent, loop_agent, runtime, log, 20, None)
                run_direct(loop_agent, runtime, log, server.base_url, 20)
            ways: dict[str, Callable[[], list[Sample]]] = {
                "A live": lambda: run_session(agent, loop_agent, runtime, log, args.turns, None),
                "A replayed": lambda: run_session(agent, loop_agent, runtime, log, args.turns, replay),
                "B direct": lambda: run_direct(loop_agent, runtime, log, server.base_url, args.turns),
            }
            medians: dict[str, dict[str, list[float]]] = {way: {} for way in ways}
            starts: list[tuple[float, float]] = []
            for number in range(args.rounds):
                print(f"round {number + 1} of {args.rounds}", flush=True)
                for way, run in ways.items():
                    samples = run()
                    for measure in ("wall", "loop", "app_http", "upstream_http"):
                        value = statistics.median(getattr(sample, measure) for sample in samples)
                        medians[way].setdefault(measure, []).append(value)
                starts.append(runtime.call(proxy_start_stop))
        finally:
            runtime.close()
    report(medians, starts, args)
    print(f"fresh interpreter, {IMPORTS}: {import_ms(IMPORTS):.1f} ms (median of 3)")
    print(f"load after: {machine().rsplit('load ', 1)[1]}")


def report(medians: dict[str, dict[str, list[float]]], starts: list[tuple[float, float]], args: Any) -> None:
    """Print each way's figures and the differences, each round's median, then median (min–max) over the rounds."""
    rounds = range(args.rounds)
    print(
        f"{args.rounds} interleaved rounds x {args.turns} turns per way; {CALLS_PER_TURN} model calls per turn "
        "(one tool call, then text); ms: median (min–max) over the rounds of each round's median"
    )
    print("per turn:")
    for way, measures in medians.items():
        for measure, values in measures.items():
            if measure != "upstream_http" or way == "A live":
                print(f"  {way:<11}{measure:<58}{spread(values)}")
    live, replayed, direct = medians["A live"], medians["A replayed"], medians["B direct"]

    def minus(a: dict[str, list[float]], b: dict[str, list[float]], measure: str, per: int = 1) -> list[float]:
        return [(a[measure][i] - b[measure][i]) / per for i in rounds]

    def inside(a: dict[str, list[float]], first: str, second: str, per: int = 1) -> list[float]:
        return [(a[first][i] - a[second][i]) / per for i in rounds]

    figures = {
        "per model call: proxy's added time, live: (loop A - loop B) / 2": minus(live, direct, "loop", CALLS_PER_TURN),
        "per model call: proxy's added time, replayed: (loop A - loop B) / 2": minus(
            replayed, direct, "loop", CALLS_PER_TURN
        ),
        "per model call, live: app's round trip - proxy's upstream round trip": inside(
            live, "app_http", "upstream_http", CALLS_PER_TURN
        ),
        "per turn: wall A - wall B, live": minus(live, direct, "wall"),
        "per turn: wall A - wall B, replayed": minus(replayed, direct, "wall"),
        "per turn: the session's own part, wall - loop, A live": inside(live, "wall", "loop"),
        "per turn: the session's own part, wall - loop, A replayed": inside(replayed, "wall", "loop"),
        "per turn: the hop alone, wall - loop, B": inside(direct, "wall", "loop"),
    }
    print("differences, each round's medians subtracted, then median (min–max) over the rounds:")
    for name, values in figures.items():
        print(f"  {name:<69}{spread(values)}")
    print("a ModelProxy's start and stop alone (imports done), once per round, ms:")
    print(f"  start (first open: socket, uvicorn serving){'':25}{spread([start for start, _stop in starts])}")
    print(f"  stop (aclose){'':55}{spread([stop for _start, stop in starts])}")


if __name__ == "__main__":
    main()
