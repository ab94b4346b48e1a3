"""The Python API: `aitest_run` in async tests, sessions shared by `@pytest.mark.session`."""

from __future__ import annotations

import pytest

WEATHER_SCRIPT = {
    "rules": [
        {
            "user_regex": "weather in paris",
            "replies": [
                {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
                {"content": "It is 18°C and partly cloudy in Paris."},
            ],
        },
        {
            "user_regex": "tomorrow",
            "turn": 2,
            "replies": [
                {"tool_calls": [{"name": "get_forecast", "arguments": {"city": "Paris", "days": 1}}]},
                {"content": "Tomorrow in Paris: rain."},
            ],
        },
        {"user_regex": "tomorrow", "replies": [{"content": "Tomorrow where? Tell me the city."}]},
    ]
}

SEED_EXAMPLE = """
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

weather_agent = Agent(
    name="weather",
    provider=Provider(model="scripted-a", base_url={base_url!r}, max_retries=0),
    mcp_servers=[MCPServer(command=[sys.executable, "-m", "aitest_bdd.testing.servers.weather"])],
)


@pytest.mark.session("weather-chat")
class TestWeatherConversation:
    async def test_initial_query(self, aitest_run):
        result = await aitest_run(weather_agent, "What's the weather in Paris?")
        assert result.success
        assert "Paris" in result.final_response

    async def test_followup(self, aitest_run):
        result = await aitest_run(weather_agent, "What about tomorrow?")
        assert result.tool_was_called("get_forecast")
        assert not result.tool_was_called("get_weather"), "the first turn's calls leaked into this turn"
        assert result.tool_call_count("get_forecast") == 1
        assert result.tool_call_arg("get_forecast", "city") == "Paris"
        assert result.usage.total_tokens > 0
        assert result.duration_ms > 0
        assert result.error is None
"""


@pytest.mark.script(WEATHER_SCRIPT)
def test_seed_example_runs_as_written(project) -> None:
    project.pytester.makepyfile(test_weather=SEED_EXAMPLE.format(base_url=project.server.base_url))
    result = project.run("-v")
    result.assert_outcomes(passed=2)
    second_turn = project.server.requests[-1]["messages"]
    assert [m["content"] for m in second_turn if m["role"] == "user"] == [
        "What's the weather in Paris?",
        "What about tomorrow?",
    ]


@pytest.mark.script(WEATHER_SCRIPT)
def test_the_python_api_runs_without_pytest_bdd(project) -> None:
    """A suite of Python tests only may turn pytest-bdd off; its feature files are then not collected."""
    project.pytester.makepyfile(test_weather=SEED_EXAMPLE.format(base_url=project.server.base_url))
    project.feature("ignored", 'Feature: Ignored\n  Scenario: not collected\n    Given the agent "plain"\n')
    result = project.run("-p", "no:pytest-bdd")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=2)


@pytest.mark.script(WEATHER_SCRIPT)
def test_parametrized_variants_are_separate_sessions(project) -> None:
    project.pytester.makepyfile(
        test_models=f"""
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

def agent(model):
    return Agent(
        name="weather",
        provider=Provider(model=model, base_url={project.server.base_url!r}, max_retries=0),
        mcp_servers=[MCPServer(command=[sys.executable, "-m", "aitest_bdd.testing.servers.weather"])],
    )


@pytest.mark.parametrize("model", ["model-a", "model-b"])
@pytest.mark.session("shopping-flow")
class TestFlow:
    async def test_first(self, aitest_run, model):
        result = await aitest_run(agent(model), "What's the weather in Paris?")
        assert result.success

    async def test_second(self, aitest_run, model):
        result = await aitest_run(agent(model), "What about tomorrow?")
        assert result.tool_was_called("get_forecast"), result.final_response
"""
    )
    result = project.run("-v")
    result.assert_outcomes(passed=4)
    for model in ("model-a", "model-b"):
        last = [r for r in project.server.requests if r["model"] == model][-1]["messages"]
        assert len([m for m in last if m["role"] == "user"]) == 2, "each variant carries only its own history"


@pytest.mark.script({"rules": [{"user_regex": "hello", "replies": [{"content": "Hi!"}]}]})
def test_failed_turn_keeps_the_history(project) -> None:
    project.pytester.makepyfile(
        test_fail=f"""
from aitest_bdd import Agent, Provider

agent = Agent(name="plain", provider=Provider(model="m", base_url={project.server.base_url!r}, max_retries=0))


async def test_history_survives_a_failed_turn(aitest_run):
    first = await aitest_run(agent, "hello")
    assert first.final_response == "Hi!"
    failed = await aitest_run(agent, "something unscripted")
    assert not failed.success
    assert "no script rule matches" in failed.error
    again = await aitest_run(agent, "hello again")
    assert again.success
"""
    )
    project.run().assert_outcomes(passed=1)
    last = project.server.requests[-1]["messages"]
    assert [m["content"] for m in last if m["role"] == "user"] == ["hello", "hello again"]
    assert [m["content"] for m in last if m["role"] == "assistant"] == ["Hi!"]


@pytest.mark.script(WEATHER_SCRIPT)
def test_session_classes_stay_on_one_xdist_worker(project) -> None:
    example = SEED_EXAMPLE.format(base_url=project.server.base_url)
    project.pytester.makepyfile(
        test_weather=example + "\n\ndef test_alone_one():\n    pass\n\n\ndef test_alone_two():\n    pass\n"
    )
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    result.assert_outcomes(passed=4)
    workers = {
        line.split("]")[0].split("[")[-1]
        for line in result.stdout.lines
        if "TestWeatherConversation" in line and "PASSED" in line
    }
    assert len(workers) == 1, f"one session ran on several workers: {workers}"
