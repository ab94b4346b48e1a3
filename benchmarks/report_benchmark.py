"""Time the HTML report on a large run: 5,000 scenarios x 5 turns, 2 tool calls per turn.

Run: `python benchmarks/report_benchmark.py [--tests N] [--turns N] [--out DIR]`. Not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from aitest_bdd.records import Conversation, ModelCall, ToolCall, Turn, Usage
from aitest_bdd.report.html import render_html
from aitest_bdd.results import RunResults, StepResult, TestResult

WORDS = (
    "account balance transfer savings checking payment card limit statement pending cleared amount currency "
    "weather forecast rain sunny cloudy wind humidity temperature city tomorrow week umbrella morning evening "
    "order invoice customer refund shipping delivery address status total item price discount tax receipt "
    "the a of to and in for on with your you is it that this will be have from at as are can please thanks"
).split()
MODELS = ("gpt-4.1-mini", "gpt-4.1", "claude-sonnet-4", "llama-3.3-70b")
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
    arguments = {"account": rng.choice(("checking", "savings")), "limit": rng.randint(1, 20), "query": sentence(rng, 10, 40)}
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
        ModelCall(model=model, tool_calls=[call.name], finish_reason="tool_calls", usage=usage)
        for call, usage in zip(calls, usages, strict=False)
    ]
    model_calls.append(ModelCall(model=model, content=reply, finish_reason="stop", usage=usages[2]))
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


def scenario(rng: random.Random, index: int, turns: int) -> TestResult:
    """A scenario (an Outline row over a model) with Given, then When/Then/And per turn."""
    model = MODELS[index % len(MODELS)]
    failed = rng.random() < 0.08
    steps = [StepResult(keyword="Given", text='the agent "banking"', line=5, status="passed")]
    for number in range(turns):
        line = 6 + 3 * number
        steps.append(StepResult(keyword="When", text=f'the user says "{sentence(rng, 30, 90)}"', line=line,
                                status="passed", turns_before=number))
        steps.append(StepResult(keyword="Then", text='the agent calls "get_balance"', line=line + 1,
                                status="passed", turns_before=number + 1))
        steps.append(StepResult(keyword="And", text=f'the response contains "{rng.choice(WORDS)}"', line=line + 2,
                                status="passed", turns_before=number + 1))
    if failed:
        steps[-1].status = "failed"
        steps[-1].message = "expected the response of turn 5 to contain the word\n" + sentence(rng, 100, 300)
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
        conversations=[Conversation(agent="banking", model=model, turns=[turn(rng, n + 1, model) for n in range(turns)])],
    )


def build_results(tests: int, turns: int, seed: int = 1) -> RunResults:
    """A run of `tests` scenarios with `turns` turns each."""
    rng = random.Random(seed)
    return RunResults(tool_version="benchmark", tests=[scenario(rng, index, turns) for index in range(tests)])


def timed(label: str, action):  # noqa: ANN001, ANN201
    """Run `action`, print how long it took, return its value."""
    started = time.perf_counter()
    value = action()
    print(f"{label}: {time.perf_counter() - started:.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "aitest-report-benchmark")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = timed("build RunResults", lambda: build_results(args.tests, args.turns))
    data = timed("JSON dump (model_dump_json)", lambda: results.model_dump_json(indent=1))
    html = timed("render_html", lambda: render_html(results))
    (args.out / "report.json").write_text(data, encoding="utf-8")
    (args.out / "report.html").write_text(html, encoding="utf-8")
    print(f"JSON: {len(data.encode()) / 1e6:.1f} MB, HTML: {len(html.encode()) / 1e6:.1f} MB, in {args.out}")


if __name__ == "__main__":
    main()
