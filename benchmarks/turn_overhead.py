"""Per-turn plugin overhead: a 3-turn banking conversation with 2 tool calls per turn, zero model latency.

Every repetition opens one AgentSession (one real banking MCP server over stdio) and runs N conversations
on it; between conversations the session's history and turns are reset, so each conversation starts
from the system prompt while the MCP server stays up. One Runtime (event loop thread) serves the whole
run, as in a pytest run, and its shared HTTP pool carries every model request to the scripted server
(HTTP/1.1 keep-alive). Per turn it reports:

- wall: `session.say()` as the caller sees it (includes the hop to the runtime's loop thread);
- model: the model calls as the plugin times them (`ModelCall.duration_ms`: the SDK's `client.post`,
  HTTP, and parsing the reply into a `ChatCompletion`);
- http: the same requests at the shared pool's transport (request sent to response body read);
- server: the scripted server's own handling (`_handle_chat`: routing, rendering, JSON);
- mcp: MCP round trips (`ToolCall.duration_ms`);
- overhead: wall - model - mcp, the plugin's own cost; sdk: model - http, the client-side cost of a request.

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
import pstats
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
from _common import BANKING_TURNS, banking_agent, banking_script, machine, summary
from openai.types.chat import ChatCompletion

from aitest_bdd import AgentSession, Conversation
from aitest_bdd.models.providers import shared_http_client
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


class TimingTransport(httpx2.AsyncBaseTransport):
    """Wraps the shared HTTP pool's transport: time from sending a request to having read its body."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, log: list[float]) -> None:
        self.inner = inner
        self.log = log

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        started = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.log.append((time.perf_counter() - started) * 1000)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class TurnSample:
    """Timings of one turn, in milliseconds."""

    wall: float
    turn: float
    model: float
    http: float
    server: float
    mcp: float

    @property
    def overhead(self) -> float:
        return self.wall - self.model - self.mcp

    @property
    def sdk(self) -> float:
        return self.model - self.http

    @property
    def hop(self) -> float:
        return self.wall - self.turn


def instrument(runtime: Runtime) -> list[float]:
    """Put a timing transport under the run's shared HTTP pool, which every session posts through; return its log."""
    log: list[float] = []
    http_client = shared_http_client(runtime)
    http_client._transport = TimingTransport(http_client._transport, log)
    return log


def reset(session: AgentSession) -> None:
    """Start a new conversation on the same open session (same MCP server)."""
    session.conversation = Conversation(agent=session.agent.name, model=session.agent.provider.model)
    session.history = session.history[:1]


def run_conversation(session: AgentSession, http_log: list[float], server: TimedModelServer) -> list[TurnSample]:
    """Run the three banking turns; return one sample per turn."""
    samples = []
    for message, _calls, _answer in BANKING_TURNS:
        http_at, server_at = len(http_log), len(server.handled_ms)
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
                http=sum(http_log[http_at:]),
                server=sum(server.handled_ms[server_at:]),
                mcp=sum(call.duration_ms for call in turn.tool_calls),
            )
        )
    return samples


def run_repetition(
    runtime: Runtime, server: TimedModelServer, http_log: list[float], conversations: int
) -> list[TurnSample]:
    """Open one session, run `conversations` conversations on it, close it."""
    session = AgentSession(banking_agent(server.base_url), runtime)
    session.open()
    samples: list[TurnSample] = []
    try:
        for _ in range(conversations):
            reset(session)
            samples.extend(run_conversation(session, http_log, server))
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
    for name in ("wall", "turn", "model", "http", "server", "mcp", "overhead", "sdk", "hop"):
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
    runtime: Runtime, server: TimedModelServer, http_log: list[float], conversations: int, profiler_name: str
) -> None:
    """Run one repetition with a profiler on the runtime's loop thread and print its findings."""
    if profiler_name == "pyinstrument":
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0002, async_mode="disabled")
        runtime.call(_in_loop, sampler.start)
        run_repetition(runtime, server, http_log, conversations)
        runtime.call(_in_loop, sampler.stop)
        print_pyinstrument(sampler)
        return
    profiler = cProfile.Profile()
    runtime.call(_in_loop, profiler.enable)
    run_repetition(runtime, server, http_log, conversations)
    runtime.call(_in_loop, profiler.disable)
    print_cprofile(profiler, conversations * len(BANKING_TURNS))


async def _in_loop(func: Any) -> None:
    """Call `func` on the loop thread (profilers attach to the thread that starts them)."""
    func()
    await asyncio.sleep(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions, one open session each (default 5)")
    parser.add_argument("--conversations", type=int, default=50, help="conversations per repetition (default 50)")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument", "none"), default="cprofile")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    runtime = Runtime()
    http_log = instrument(runtime)
    with TimedModelServer(Script.model_validate(banking_script(latency_ms=0))) as server:
        run_repetition(runtime, server, http_log, 5)  # warm-up: imports, first connections
        samples: list[TurnSample] = []
        for _ in range(args.reps):
            samples.extend(run_repetition(runtime, server, http_log, args.conversations))
        print(
            f"{args.reps} repetitions x {args.conversations} conversations x {len(BANKING_TURNS)} turns, "
            "2 model calls and 2 tool calls per turn"
        )
        print_samples(samples)
        sample, tools = conversation_sample(runtime, server.base_url)
        print()
        asyncio.run(request_paths(sample, tools, repeats=30))
        if args.profiler != "none":
            print(f"\nprofile of one repetition ({args.conversations} conversations), loop thread, {args.profiler}:")
            profile_repetition(runtime, server, http_log, args.conversations, args.profiler)
    runtime.close()


if __name__ == "__main__":
    main()
