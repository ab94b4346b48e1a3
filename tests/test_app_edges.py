"""The edges of an app-run agent: a turn timeout stops a blocking app, one app runs one conversation at a time, tool
calls that cannot be seen are said in the Python API too, and what the proxy's traffic reads as a tool call."""

from __future__ import annotations

import time

import pytest
from openai.types.chat import ChatCompletion

from aitest_bdd.conversation.traffic import ObservedTools, reads_as_failure
from aitest_bdd.conversation.turns import Turn
from aitest_bdd.errors import TurnError

APPS_CONFTEST = """
import time

import pytest

from aitest_bdd import Agent, Provider
from aitest_bdd.apps.callable import CallableApp


def slow(request):
    time.sleep(5)
    return "too late"


SHARED = CallableApp(lambda request: "hello")


@pytest.fixture
def aitest_agents():
    provider = Provider(model="m1", base_url={base_url!r}, max_retries=0, timeout=10)
    return [
        Agent(name="slow", provider=provider, app=CallableApp(slow), turn_timeout=1),
        Agent(name="shared", provider=provider, app=SHARED),
    ]
"""


@pytest.fixture
def apps(project):
    project.pytester.makeconftest(APPS_CONFTEST.format(base_url=project.server.base_url))
    return project


@pytest.mark.script({"rules": [{"user_regex": ".", "replies": [{"content": "unused"}]}]})
def test_the_turn_timeout_stops_an_app_that_blocks(apps) -> None:
    apps.feature(
        "slow",
        """
        Feature: Slow
          Scenario: Blocks
            Given the agent "slow"
            When the user says "hello"
        """,
    )
    started = time.monotonic()
    result = apps.run()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the turn was stopped after Agent(turn_timeout=1) seconds*"])
    assert time.monotonic() - started < 4


@pytest.mark.script({"rules": [{"user_regex": ".", "replies": [{"content": "unused"}]}]})
def test_one_app_runs_one_conversation_at_a_time(apps) -> None:
    apps.pytester.makepyfile(
        test_shared="""
        from aitest_bdd import Agent


        async def test_two_agents_with_one_app(aitest_run, aitest_agents):
            shared = next(agent for agent in aitest_agents if agent.name == "shared")
            other = Agent(name="other", provider=shared.provider, app=shared.app)
            assert (await aitest_run(shared, "hello")).final_response == "hello"
            await aitest_run(other, "hello")
        """
    )
    result = apps.run()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*already runs another conversation*give each Agent an app of its own*"])


def test_hidden_tool_calls_are_said_to_the_python_api() -> None:
    turn = Turn(number=1, user_message="hi", model="m", hidden_tool_calls="agent 'x' does not expose its tool calls")

    for read in (lambda: turn.tool_was_called("a"), turn.tool_call_count, lambda: turn.tool_calls_for("a")):
        with pytest.raises(TurnError, match="does not expose its tool calls"):
            read()
    assert Turn(number=1, user_message="hi", model="m").tool_call_count() == 0


@pytest.mark.parametrize(
    ("text", "failed"),
    [
        ("Error: insufficient funds", True),
        ("error : no such account", True),
        ("Error executing tool transfer: Insufficient funds", True),
        ("An error occurred while running the tool.", True),
        ('{"isError": true, "content": []}', True),
        ('{"is_error": true}', True),
        ("Error rate: 0%", False),
        ("Errors happen", False),
        ('{"isError": false}', False),
        ('{"balance": 1500, "error": null}', False),
        ("", False),
    ],
)
def test_a_tool_result_reads_as_failed_only_as_agents_report_failures(text: str, failed: bool) -> None:
    assert reads_as_failure(text) is failed


def _asking(*calls: tuple[str, str, str]) -> ChatCompletion:
    """A completion whose reply asks for tool calls (id, name, JSON arguments)."""
    tool_calls = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        for call_id, name, arguments in calls
    ]
    return ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {"role": "assistant", "content": None, "tool_calls": tool_calls},
                }
            ],
        }
    )


def test_results_are_read_in_the_same_turn_or_the_next_turns_first_request() -> None:
    observed = ObservedTools()
    first = observed.start_turn()
    observed.response(_asking(("a", "get_balance", '{"account": "checking"}'), ("b", "transfer", "not json")))
    observed.request("chat", {"messages": [{"role": "tool", "tool_call_id": "a", "content": '{"balance": 1}'}]})
    second = observed.start_turn()
    output = [{"type": "input_text", "text": "Error: no"}]
    tool_output = {"type": "function_call_output", "call_id": "b", "output": output}
    observed.request("responses", {"input": [tool_output]})

    assert [(call.name, call.arguments, call.raw_arguments) for call in first] == [
        ("get_balance", {"account": "checking"}, '{"account": "checking"}'),
        ("transfer", {}, "not json"),
    ]
    assert [(call.result_text, call.is_error) for call in first] == [('{"balance": 1}', False), ("Error: no", True)]
    assert second == []
