"""A recording that cannot be replayed fails only its scenario, with the file and the command that records it anew."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

SCRIPT = {
    "rules": [
        {
            "user_regex": "checking balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is ${result:get_balance.formatted}."},
            ],
        },
        {"user_regex": ".*", "replies": [{"content": "You said: {user}"}]},
    ]
}

FEATURE = """
Feature: Recorded
  Scenario: Balance
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the response contains "1,500.00"

  Scenario: Greeting
    Given the agent "plain"
    When the user says "hello"
    Then the response contains "hello"
"""

RERECORD = "Re-record it with: pytest 'recorded.feature::test_balance' --aitest-record=all"


def results(project, *options: str) -> tuple[pytest.RunResult, dict[str, dict]]:
    result = project.run("--aitest-json", "results.json", *options)
    data = json.loads((project.pytester.path / "results.json").read_text())
    return result, {test["nodeid"]: test for test in data["tests"]}


def record(project) -> str:
    """Record the feature, and stop the model: the text of the balance scenario's recording."""
    project.feature("recorded", FEATURE)
    project.run("--aitest-record=once").assert_outcomes(passed=2)
    project.server.stop()
    return (project.pytester.path / "recordings/recorded/test_balance.json").read_text()


def replay_edited(project, recorded: str, edit: Callable[[str], str]) -> str:
    """Replay after `edit` changed the balance scenario's recording; the message that scenario fails with."""
    path = project.pytester.path / "recordings/recorded/test_balance.json"
    path.write_text(edit(recorded))
    result, tests = results(project, "--aitest-record=none")
    result.assert_outcomes(passed=1, failed=1)
    assert tests["recorded.feature::test_greeting"]["status"] == "passed"
    assert "Traceback" not in result.stdout.str() and "errors.pydantic.dev" not in result.stdout.str()
    message = tests["recorded.feature::test_balance"]["message"]
    assert f"the recording {path} " in message and RERECORD in message
    return message


def edit_json(change: Callable[[dict], object]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data)

    return edit


@pytest.mark.script(SCRIPT)
def test_a_recording_that_no_longer_validates(project) -> None:
    recorded = record(project)
    first = lambda data: data["sessions"]["banking"]["interactions"][0]  # noqa: E731

    message = replay_edited(project, recorded, edit_json(lambda data: first(data).update(kind="modle")))
    assert "does not fit recording format 1 (sessions.banking.interactions.0.kind: Input should be 'model'" in message
    message = replay_edited(project, recorded, edit_json(lambda data: first(data).pop("turn")))
    assert "(sessions.banking.interactions.0.turn: Field required)" in message
    message = replay_edited(project, recorded, lambda text: text.replace('"turn": 1,', '"turn": 1,,', 1))
    assert "is not valid JSON (line " in message and "Expecting property name enclosed in double quotes" in message
    message = replay_edited(project, recorded, lambda text: "[]")
    assert "is not a recording: it has no format version" in message


@pytest.mark.script(SCRIPT)
def test_a_recorded_response_that_no_longer_reads(project) -> None:
    recorded = record(project)
    response = lambda data, index: data["sessions"]["banking"]["interactions"][index]["response"]  # noqa: E731

    message = replay_edited(project, recorded, edit_json(lambda data: response(data, 1).pop("text")))
    assert "has a tool result that cannot be read (interaction 2: text: Field required)" in message
    message = replay_edited(project, recorded, edit_json(lambda data: response(data, 0).update(choices="x")))
    assert "has a model response that cannot be read (interaction 1: choices: Input should be a valid list)" in message


@pytest.mark.script(SCRIPT)
def test_a_recording_of_an_unknown_or_newer_format_is_not_replayed(project) -> None:
    recorded = record(project)
    newer = edit_json(lambda data: data.update(format=2, plugin_version="9.9.0"))
    message = replay_edited(project, recorded, newer)
    assert "is in format 2, written by aitest-bdd 9.9.0, and this aitest-bdd reads format 1" in message
    message = replay_edited(project, recorded, edit_json(lambda data: data.update(format="1.0")))
    assert "has format '1.0', which aitest-bdd does not know (it reads format 1)" in message


@pytest.mark.script(SCRIPT)
def test_features_of_one_name_in_two_folders_have_recordings_of_their_own(project) -> None:
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_recordings_dir = recs\n")
    for folder in ("shop", "bank"):
        (project.pytester.path / folder).mkdir()
        (project.pytester.path / folder / "greet.feature").write_text(
            f'Feature: Greet\n  Scenario: Greeting\n    Given the agent "plain"\n    When the user says "hi {folder}"\n'
            f'    Then the response contains "hi {folder}"\n'
        )
    project.run("--aitest-record=once").assert_outcomes(passed=2)
    for folder in ("shop", "bank"):
        recording = json.loads((project.pytester.path / f"recs/{folder}/greet/test_greeting.json").read_text())
        assert recording["test"] == f"{folder}/greet.feature::test_greeting"

    project.server.stop()
    result, tests = results(project, "--aitest-record=none")
    result.assert_outcomes(passed=2)
    assert {test["conversations"][0]["turns"][0]["source"] for test in tests.values()} == {"replayed"}


@pytest.mark.script(SCRIPT)
def test_long_names_get_short_recording_files(project) -> None:
    long = "a very long scenario name " * 12
    project.feature(
        "long",
        f"""
        Feature: Long names
          Scenario: {long}
            Given the agent "plain"
            When the user says "hello"

          Scenario: {"b" * 236}
            Given the agent "plain"
            When the user says "hello"

          Scenario Outline: Echo
            Given the agent "plain"
            When the user says "<text>"
            Then the response contains "<text>"

            Examples:
              | text |
              | {"x" * 250} |
              | short |
        """,
    )
    project.run("--aitest-record=once").assert_outcomes(passed=4)
    names = sorted(path.name for path in (project.pytester.path / "recordings/long").iterdir())
    assert len(names) == 4 and "test_echo[short].json" in names and f"test_{'b' * 236}.json" in names
    assert all(len(name.encode()) <= 255 for name in names)

    project.server.stop()
    result, tests = results(project, "--aitest-record=none")
    result.assert_outcomes(passed=4)
    assert {test["conversations"][0]["turns"][0]["source"] for test in tests.values()} == {"replayed"}
