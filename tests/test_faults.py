"""Faults fail exactly the scenario they hit, with a message that names the cause; the run and report survive."""

from __future__ import annotations

import json
import time

import pytest
from fault_table import HEALTHY, feature_of, mismatches

SECRET_KEY = "sk-fault-test-secret-0123456789"


def tool_call(name: str, **arguments) -> dict:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


SCRIPT = {
    "rules": [
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {
            "user": "flaky",
            "replies": [{"content": "Recovered.", "error": {"status": 429, "retry_after": 0.1, "times": 2}}],
        },
        {"user": "down", "replies": [{"error": {"status": 503, "message": "the model is overloaded"}}]},
        {"user": "broken", "replies": [{"error": {"status": 500, "message": "internal error in the model"}}]},
        {"user": "stall", "replies": [{"hang": True}]},
        {"user": "silence", "replies": [{"content": ""}]},
        {"user": "crash it", "replies": [tool_call("crash"), {"content": "never"}]},
        {"user": "hang it", "replies": [tool_call("hang"), {"content": "never"}]},
        {
            "user": "fail it",
            "replies": [tool_call("fail", message="the ledger is locked"), {"content": "It said: {result}"}],
        },
        {"user": "huge", "replies": [tool_call("huge", megabytes=10), {"content": "Got {result}"}]},
        {"user": "noise", "replies": [tool_call("stdout_noise"), {"content": "After noise: {result}"}]},
        {"user": "flood", "replies": [tool_call("stderr_flood", megabytes=5), {"content": "After flood: {result}"}]},
        {
            "user": "echo",
            "replies": [
                tool_call("echo", text="<script>window.__xss=1</script>\u0007\u001b[31m"),
                {"content": "{result}"},
            ],
        },
    ]
}


SCENARIOS = {
    # name: (steps, fragment of the failure message, or None when the scenario must pass)
    "429 then recovers": (
        'Given the agent "patient"\nWhen the user says "flaky"\nThen the response contains "recovered"',
        None,
    ),
    "503 after retries": (
        'Given the agent "patient"\nWhen the user says "down"',
        "model 'scripted-default' request failed with HTTP 503 (3 requests sent; Provider(max_retries=2)): "
        "the model is overloaded",
    ),
    "500": ('Given the agent "plain"\nWhen the user says "broken"', "request failed with HTTP 500: internal error"),
    "hanging model": (
        'Given the agent "impatient"\nWhen the user says "stall"',
        "model 'scripted-default' did not answer within Provider(timeout=1) seconds",
    ),
    "empty reply": (
        'Given the agent "plain"\nWhen the user says "silence"\nThen the response is not empty',
        "expected a response in turn 1, but it was empty",
    ),
    "server crashes in a call": (
        'Given the agent "faulty"\nWhen the user says "crash it"',
        "MCP server 'faulty' failed during a call to 'crash'",
    ),
    "server hangs in a call": (
        'Given the agent "faulty-impatient"\nWhen the user says "hang it"',
        "tool 'hang' on MCP server 'faulty' did not answer within call_timeout=1s",
    ),
    "tool raises": (
        'Given the agent "faulty"\nWhen the user says "fail it"\nThen the tool call to "fail" fails\n'
        'And the response contains "the ledger is locked"',
        None,
    ),
    "huge result": (
        'Given the agent "faulty"\nWhen the user says "huge"\n'
        'Then the response contains "[truncated: the tool returned 10,485,760 characters; the first 1,000 are shown]"',
        None,
    ),
    "stdout noise": (
        'Given the agent "faulty"\nWhen the user says "noise"\nThen the response contains "answered after the noise"',
        None,
    ),
    "stderr flood": (
        'Given the agent "faulty"\nWhen the user says "flood"\nThen the response contains "answered after the flood"',
        None,
    ),
    "stubborn server": (
        'Given the agent "stubborn"\nWhen the user says "hello"\nThen the response contains "hello"',
        None,
    ),
    "unsafe text": ('Given the agent "faulty"\nWhen the user says "echo"\nThen the response contains "<script>"', None),
}


@pytest.mark.script(SCRIPT)
def test_each_fault_fails_only_its_scenario(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    project.feature("faults", feature_of("Faults", SCENARIOS))
    started = time.monotonic()
    result = project.run("--aitest-json", "results.json", "--aitest-report", "report.html", "--aitest-md", "summary.md")
    elapsed = time.monotonic() - started
    tests = {t["name"]: t for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]}
    problems = mismatches(SCENARIOS, tests)
    assert not problems, "\n\n".join(problems)
    assert elapsed < 300, f"faults must not stall the run: {elapsed:.0f}s"

    huge = tests["huge result"]["conversations"][0]["turns"][0]["tool_calls"][0]
    assert huge["truncated_from"] == 10 * 1024 * 1024 and len(huge["result_text"]) < 1200
    crash = tests["server crashes in a call"]["conversations"][0]["turns"][0]
    assert crash["error"] and crash["tool_calls"] == [], "the failed call is in the error, not a fake result"

    for output in ("results.json", "report.html", "summary.md"):
        text = (project.pytester.path / output).read_text()
        assert SECRET_KEY not in text, f"the API key leaked into {output}"
    assert SECRET_KEY not in result.stdout.str()
    assert project.live_servers() == [], "a server outlived its scenario"


@pytest.mark.script(SCRIPT)
def test_report_is_written_when_the_run_is_interrupted(project) -> None:
    project.pytester.makeconftest(
        project.pytester.path.joinpath("conftest.py").read_text()
        + "\n\nfrom pytest_bdd import when\n\n@when('the user presses Ctrl-C')\ndef interrupt():\n"
        + "    raise KeyboardInterrupt\n"
    )
    project.feature(
        "interrupted",
        "Feature: Interrupted\n"
        + HEALTHY
        + '\n  Scenario: interrupted\n    Given the agent "plain"\n    When the user presses Ctrl-C\n'
        + HEALTHY.replace("healthy", "never reached"),
    )
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--aitest-json", "results.json", "--aitest-report", "report.html"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    names = [t["name"] for t in json.loads((project.pytester.path / "results.json").read_text())["tests"]]
    assert "healthy" in names and "never reached" not in names
    assert "healthy" in (project.pytester.path / "report.html").read_text()


@pytest.mark.script(SCRIPT)
def test_outline_missing_a_column_fails_clearly(project) -> None:
    project.feature(
        "outline",
        'Feature: Outline\n  Scenario Outline: Missing <model>\n    Given the agent "plain" using model "<model>"\n'
        '    When the user says "<message>"\n\n    Examples:\n      | model |\n      | m1    |\n' + HEALTHY,
    )
    result = project.run("--aitest-json", "results.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            '*step "When the user says "<message>"" (outline.feature:4) uses <message>, but the Examples table has no '
            "'message' column (its columns: model)*"
        ]
    )
    tests = json.loads((project.pytester.path / "results.json").read_text())["tests"]
    assert "no 'message' column" in next(t for t in tests if t["nodeid"].endswith("[m1]"))["message"]
