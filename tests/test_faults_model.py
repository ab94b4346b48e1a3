"""Model-side faults: invalid text, slow bodies, long turns, replies that are not answers, misleading messages."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fault_table import HEALTHY, feature_of, mismatches

SURROGATE = "\ud800"
SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {"user": "broken text", "replies": [{"content": f"caf{SURROGATE} au lait"}]},
        {
            "user": "broken arguments",
            "replies": [
                {"tool_calls": [{"name": "echo", "arguments": {"text": f"x{SURROGATE}y"}}]},
                {"content": "echoed {result}"},
            ],
        },
        {"user": "trickle", "replies": [{"content": "slowly, slowly", "trickle_seconds": 6}]},
        {"user": "hang a tool", "replies": [{"tool_calls": [{"name": "hang", "arguments": {}}]}]},
        {"user": "too long", "replies": [{"content": "word " * 200, "finish_reason": "length"}]},
        {"user": "filtered", "replies": [{"content": "", "finish_reason": "content_filter"}]},
        {"user": "refuse", "replies": [{"refusal": "I can't help with that request."}]},
        {"user": "huge", "replies": [{"content": "x" * 300_000}]},
        {"user": "unauthorized", "replies": [{"error": {"status": 401, "message": "bad key"}}]},
        {"user": "overloaded", "replies": [{"error": {"status": 503, "message": "busy"}}]},
        {"user": "come back later", "replies": [{"error": {"status": 429, "message": "later", "retry_after": 3600}}]},
        {"user": "backtrack", "replies": [{"content": "a" * 60 + "b"}]},
        {"user": "escapes", "replies": [{"content": "bell\u0007 red\u001b[31m carriage\rreturn"}]},
    ]
}

MORE_AGENTS = """
import pytest

from aitest_bdd import Agent


@pytest.fixture
def aitest_agents(aitest_agents):
    by_name = {agent.name: agent for agent in aitest_agents}
    plain, faulty = by_name["plain"], by_name["faulty"]
    provider = plain.provider
    return [
        *aitest_agents,
        Agent(name="one-second", provider=provider.model_copy(update={"timeout": 1.0})),
        Agent(name="short-turns", provider=provider, mcp_servers=faulty.mcp_servers, turn_timeout=1.5),
        Agent(name="retrying", provider=provider.model_copy(update={"max_retries": 2})),
    ]
"""

SCENARIOS = {
    # name: (steps, fragment of the failure message, or None when the scenario must pass)
    "broken text": (
        'Given the agent "plain"\nWhen the user says "broken text"\nThen the response contains "au lait"',
        None,
    ),
    "broken arguments": (
        'Given the agent "faulty"\nWhen the user says "broken arguments"\nThen the response contains "echoed"',
        None,
    ),
    "trickled body": (
        'Given the agent "one-second"\nWhen the user says "trickle"',
        "model 'scripted-default' did not answer within Provider(timeout=1) seconds",
    ),
    "turn timeout": (
        'Given the agent "short-turns"\nWhen the user says "hang a tool"',
        "the turn was stopped after Agent(turn_timeout=1.5) seconds",
    ),
    "output limit": (
        'Given the agent "plain"\nWhen the user says "too long"',
        "stopped at its output limit (finish_reason 'length')",
    ),
    "content filter": (
        'Given the agent "plain"\nWhen the user says "filtered"',
        "the provider's content filter withheld its reply (finish_reason 'content_filter')",
    ),
    "refusal": (
        'Given the agent "plain"\nWhen the user says "refuse"\nThen the response contains "can\'t help"',
        None,
    ),
    "huge reply": (
        'Given the agent "plain"\nWhen the user says "huge"\n'
        'Then the response contains "[truncated: the model replied with 300,000 characters"',
        None,
    ),
    "no retry for 401": (
        'Given the agent "retrying"\nWhen the user says "unauthorized"',
        "model 'scripted-default' request failed with HTTP 401: bad key",
    ),
    "retries counted": (
        'Given the agent "retrying"\nWhen the user says "overloaded"',
        "request failed with HTTP 503 (3 requests sent; Provider(max_retries=2)): busy",
    ),
    "retry-after too long": (
        'Given the agent "retrying"\nWhen the user says "come back later"',
        "model 'scripted-default' request failed with HTTP 429: later",
    ),
    "backtracking pattern": (
        'Given the agent "plain"\nWhen the user says "backtrack"\nThen the response matches "^(a|aa)+$"',
        'the pattern "^(a|aa)+$" took more than 1 s on a text of 61 characters',
    ),
    "control characters": (
        'Given the agent "plain"\nWhen the user says "escapes"\nThen the response contains "green"',
        'expected the response of turn 1 to contain "green"',
    ),
}


def write_project(project) -> Path:
    folder = project.pytester.path / "faults"
    folder.mkdir()
    (folder / "conftest.py").write_text(MORE_AGENTS, encoding="utf-8")
    (folder / "model_faults.feature").write_text(feature_of("Model faults", SCENARIOS), encoding="utf-8")
    return folder


@pytest.mark.script(SCRIPT)
def test_each_model_fault_fails_only_its_scenario_with_its_cause(project) -> None:
    write_project(project)
    started = time.monotonic()
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--aitest-json", "results.json", "--aitest-report", "report.html",
        "--aitest-md", "summary.md", "--junitxml", "junit.xml", timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    tests = {t["name"]: t for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]}
    problems = mismatches(SCENARIOS, tests)
    assert not problems, "\n\n".join(problems)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert elapsed < 60, f"a slow body or a long turn must not stall the run: {elapsed:.0f}s"

    turn = tests["broken text"]["conversations"][0]["turns"][0]
    assert turn["final_response"] == "caf\ufffd au lait"
    call = tests["broken arguments"]["conversations"][0]["turns"][0]["tool_calls"][0]
    assert call["arguments"] == {"text": "x\ufffdy"} and call["result_text"] == "x\ufffdy"
    refused = tests["refusal"]["conversations"][0]["turns"][0]["model_calls"][0]
    assert refused["refusal"] == "I can't help with that request."
    huge = tests["huge reply"]["conversations"][0]["turns"][0]
    assert huge["model_calls"][0]["truncated_from"] == 300_000 and len(huge["final_response"]) < 100_200

    terminal = result.stdout.str()
    assert "\u001b[31m" not in terminal and "\u0007" not in terminal
    assert "red\\x1b[31m" in terminal
    for output in ("report.html", "summary.md", "junit.xml"):
        assert (project.pytester.path / output).stat().st_size > 0


@pytest.mark.script(SCRIPT)
@pytest.mark.usefixtures("outside_xdist")
def test_invalid_unicode_survives_xdist_and_recording(project) -> None:
    folder = write_project(project)
    (folder / "model_faults.feature").write_text(
        'Feature: Unicode\n\n  Scenario: broken text\n    Given the agent "plain"\n'
        '    When the user says "broken text"\n' + HEALTHY,
        encoding="utf-8",
    )
    recorded = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--aitest-record=all", "--aitest-json", "results.json", timeout=120
    )
    assert recorded.ret == pytest.ExitCode.OK, recorded.stdout.str()
    names = sorted(t["name"] for t in json.loads((project.pytester.path / "results.json").read_text())["tests"])
    assert names == ["broken text", "healthy"]
    recording = folder / "recordings" / "model_faults" / "test_broken_text.json"
    assert "caf\ufffd au lait" in recording.read_text(encoding="utf-8")

    replayed = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--aitest-record=none", timeout=60)
    assert replayed.ret == pytest.ExitCode.OK, replayed.stdout.str()


@pytest.mark.script(SCRIPT)
def test_two_agents_with_one_name_are_refused(project) -> None:
    folder = write_project(project)
    (folder / "conftest.py").write_text(
        MORE_AGENTS.replace('Agent(name="retrying"', 'Agent(name="plain"'), encoding="utf-8"
    )
    (folder / "model_faults.feature").write_text("Feature: Twins\n" + HEALTHY, encoding="utf-8")
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the aitest_agents fixture defines two agents named 'plain'*"])
