"""Record a run against the scripted model and real MCP servers, then replay it with neither."""

from __future__ import annotations

import json

import pytest

SECRET_KEY = "sk-test-0123456789abcdef"

SCRIPT = {
    "rules": [
        {"user_regex": "CRITERION:\\s+polite", "replies": [{"content": '{"pass": true, "reasoning": "Polite."}'}]},
        {
            "user_regex": "checking balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is ${result:get_balance.formatted}."},
            ],
        },
        {"user_regex": "account number", "replies": [{"content": "Noted: account 12-3456-78, key {user}"}]},
    ]
}

FEATURE = """
Feature: Recorded
  Scenario: Balance
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"
    And the response contains "1,500.00"
    And the response satisfies "polite"

  Scenario Outline: Balance on <model>
    Given the agent "banking" using model "<model>"
    When the user says "What's my checking balance?"
    Then the response contains "1,500.00"

    Examples:
      | model   |
      | model-a |
      | model-b |
"""


def results(project) -> dict[str, dict]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["nodeid"].split("::")[-1]: test for test in data["tests"]}


def break_servers(project) -> None:
    """Point every MCP server at a program that does not exist: replay must not start them."""
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(
        conftest.read_text().replace(
            'command=[sys.executable, "-m", f"aitest_bdd.testing.servers.{name}"]',
            'command=["no-such-program-for-replay"]',
        )
    )


@pytest.mark.script(SCRIPT)
def test_record_then_replay_without_model_or_servers(project) -> None:
    project.feature("recorded", FEATURE)
    project.run("--aitest-record=once", "--aitest-json", "results.json").assert_outcomes(passed=3)
    recorded = results(project)
    files = sorted(p.name for p in (project.pytester.path / "recordings" / "recorded").iterdir())
    assert files == ["test_balance.json", "test_balance_on_model[model-a].json", "test_balance_on_model[model-b].json"]

    project.server.stop()
    break_servers(project)
    requests_before = len(project.server.requests)
    result = project.run("--aitest-record=none", "--aitest-json", "results.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*3 agent tests, 3 turns (3 replayed)*"])
    replayed = results(project)
    assert len(project.server.requests) == requests_before
    for name, test in recorded.items():
        assert [s["status"] for s in replayed[name]["steps"]] == [s["status"] for s in test["steps"]]
        turn = replayed[name]["conversations"][0]["turns"][0]
        assert turn["source"] == "replayed"
        assert turn["final_response"] == test["conversations"][0]["turns"][0]["final_response"]
    judged = replayed["test_balance"]["conversations"][0]["turns"][0]["judgements"]
    assert judged[0]["reasoning"] == "Polite."


@pytest.mark.script(SCRIPT)
def test_recording_metadata_and_outline_rows(project) -> None:
    project.feature("recorded", FEATURE)
    project.run("--aitest-record=once").assert_outcomes(passed=3)
    data = json.loads((project.pytester.path / "recordings/recorded/test_balance_on_model[model-b].json").read_text())
    assert data["test"] == "recorded.feature::test_balance_on_model[model-b]"
    assert data["models"] == ["aitest-scripted:model-b"]
    assert data["plugin_version"] and data["recorded_at"]
    kinds = [interaction["kind"] for interaction in data["sessions"]["banking"]["interactions"]]
    assert kinds == ["model", "tool", "model"]


@pytest.mark.script(SCRIPT)
def test_changed_message_shows_a_diff_and_the_command(project) -> None:
    project.feature("recorded", FEATURE)
    project.run("--aitest-record=once").assert_outcomes(passed=3)
    project.feature("recorded", FEATURE.replace("What's my checking balance?", "What's my checking balance now?", 1))
    result = project.run("--aitest-record=none", "-k", "test_balance and not model")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the model request of turn 1 no longer matches the recording*interaction 1*",
            "*--- recorded*",
            '*-      "content": "What\'s my checking balance?",*',
            '*+      "content": "What\'s my checking balance now?",*',
            "*Re-record it with: pytest 'recorded.feature::test_balance' --aitest-record=all*",
        ]
    )


@pytest.mark.script(SCRIPT)
def test_missing_recording_in_replay_only_mode(project) -> None:
    project.feature("recorded", FEATURE)
    result = project.run("--aitest-record=none", "-k", "test_balance and not model")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no recording at *test_balance.json and --aitest-record=none replays only*"])


@pytest.mark.script(SCRIPT)
def test_real_tools_mode_reports_a_changed_tool_result(project) -> None:
    project.feature("recorded", FEATURE)
    project.run("--aitest-record=once").assert_outcomes(passed=3)
    path = project.pytester.path / "recordings/recorded/test_balance.json"
    data = json.loads(path.read_text())
    for interaction in data["sessions"]["banking"]["interactions"]:
        if interaction["kind"] == "tool":
            interaction["response"]["text"] = interaction["response"]["text"].replace("1,500.00", "1,400.00")
    path.write_text(json.dumps(data))
    project.server.stop()
    result = project.run("--aitest-real-tools", "-k", "test_balance and not model")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the result of tool 'get_balance' differs from the recording (did the server, or the scenario's stub, *",
            '*-  "text": *1,400.00*',
            '*+  "text": *1,500.00*',
        ]
    )
    assert project.live_servers() == []


@pytest.mark.script(SCRIPT)
def test_no_secret_reaches_a_recording(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    project.pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_record_mask =\n    \\d\\d-\\d{4}-\\d\\d\n"
    )
    project.feature(
        "secret",
        f"""
Feature: Secrets
  Scenario: A user pastes a key
    Given the agent "plain"
    When the user says "my account number is 12-3456-78 and my key is {SECRET_KEY}"
    Then the response contains "noted"
""",
    )
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    text = (project.pytester.path / "recordings/secret/test_a_user_pastes_a_key.json").read_text()
    assert SECRET_KEY not in text and "12-3456-78" not in text
    assert "[SECRET]" in text and "[MASKED]" in text
    replay = project.run("--aitest-record=none")
    replay.assert_outcomes(passed=1)
