"""pytest-rerunfailures: a rerun of a failed test starts from the conversation as it was before the failed run."""

from __future__ import annotations

import json

import pytest

ECHO_SCRIPT = {"rules": [{"user_regex": ".", "replies": [{"content": "noted"}]}]}

FAILS_ONCE = """
from pathlib import Path


def first_run(name):
    \"\"\"Whether this is the first run of `name` (counted in a file, as the rerun is in the same process).\"\"\"
    counter = Path("attempts-" + name)
    count = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(count + 1))
    return count == 0
"""

SESSION_CLASS = (
    FAILS_ONCE
    + """
import pytest

from aitest_bdd import Agent, Provider

agent = Agent(name="plain", provider=Provider(model="m", base_url={base_url!r}, max_retries=0))


@pytest.mark.session("chat")
class TestChat:
    async def test_1(self, aitest_run):
        assert (await aitest_run(agent, "step 1")).number == 1

    async def test_2(self, aitest_run):
        turn = await aitest_run(agent, "step 2")
        assert not first_run("2"), "the first run fails"
        assert turn.number == 2, turn.number

    async def test_3(self, aitest_run):
        turn = await aitest_run(agent, "step 3")
        assert not first_run("3"), "the first run fails"
        assert turn.number == 3, turn.number
"""
)


def _user_messages(request: dict) -> list[str]:
    return [message["content"] for message in request["messages"] if message["role"] == "user"]


@pytest.mark.script(ECHO_SCRIPT)
def test_a_rerun_in_a_session_class_starts_from_the_history_before_the_failed_attempt(project) -> None:
    """Also the last test of the class, after which the session would close; and the recording replays as made."""
    project.pytester.makepyfile(test_chat=SESSION_CLASS.format(base_url=project.server.base_url))
    result = project.run("--reruns", "1", "--aitest-record=once")
    assert result.parseoutcomes() == {"passed": 3, "rerun": 2}
    assert [_user_messages(request) for request in project.server.requests] == [
        ["step 1"],
        ["step 1", "step 2"],
        ["step 1", "step 2"],
        ["step 1", "step 2", "step 3"],
        ["step 1", "step 2", "step 3"],
    ]
    (recording,) = (project.pytester.path / "recordings").rglob("*.json")
    interactions = json.loads(recording.read_text())["sessions"]["plain"]["interactions"]
    assert [interaction["turn"] for interaction in interactions] == [1, 2, 3], "a failed run was recorded"

    for counter in project.pytester.path.glob("attempts-*"):
        counter.unlink()
    replayed = project.run("--reruns", "1", "--aitest-record=none")
    assert replayed.parseoutcomes() == {"passed": 3, "rerun": 2}
    assert len(project.server.requests) == 5, "the replay asked the model"


@pytest.mark.script(ECHO_SCRIPT)
def test_a_rerun_of_a_scenario_is_a_fresh_conversation(project) -> None:
    existing = (project.pytester.path / "conftest.py").read_text()
    project.pytester.makeconftest(
        existing
        + FAILS_ONCE
        + """
from pytest_bdd import then


@then("the first run fails")
def fails_once():
    assert not first_run("scenario"), "the first run fails"
"""
    )
    project.feature(
        "chat",
        """
        Feature: Chat
          Scenario: Two turns, then a failure on the first run
            Given the agent "plain"
            When the user says "step 1"
            And the user says "step 2"
            Then the first run fails
        """,
    )
    result = project.run("--reruns", "1")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    assert [_user_messages(request) for request in project.server.requests] == [
        ["step 1"],
        ["step 1", "step 2"],
        ["step 1"],
        ["step 1", "step 2"],
    ]
