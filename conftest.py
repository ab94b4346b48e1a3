"""The example project's agents.

`pytest features/` replays `features/recordings/`, recorded from the scripted demo model
(`features/demo_model.json`): offline, with no API key. `--aitest-record=all` records them again from
the scripted model; add `--aitest-model gpt-4.1-mini` (and OPENAI_API_KEY) to use a real model.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aitest_bdd import Agent, MCPServer, Provider
from aitest_bdd.run.context import run_context
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

pytest_plugins = ["step_defs.banking_steps"]

DEMO_SCRIPT = Path(__file__).parent / "features" / "demo_model.json"


def example_server(name: str) -> MCPServer:
    return MCPServer(name=name, command=[sys.executable, "-m", f"aitest_bdd.testing.servers.{name}"])


@pytest.fixture(scope="session")
def demo_model_url(pytestconfig: pytest.Config) -> Iterator[str | None]:
    """The scripted demo model's URL, or None when a real model was chosen."""
    if run_context(pytestconfig).model_override:
        yield None
        return
    with ScriptedModelServer(Script.load(DEMO_SCRIPT)) as server:
        yield server.base_url


@pytest.fixture
def aitest_agents(demo_model_url: str | None) -> list[Agent]:
    provider = Provider(model="gpt-4.1-mini", base_url=demo_model_url)
    return [
        Agent(
            name="banking",
            provider=provider,
            mcp_servers=[example_server("banking")],
            system_prompt="You are a careful banking assistant. Use the tools; never guess a balance.",
        ),
        Agent(
            name="weather",
            provider=provider,
            mcp_servers=[example_server("weather")],
            system_prompt="You are a weather assistant. Use the tools for current weather and forecasts.",
        ),
    ]


@pytest.fixture
def aitest_judge(demo_model_url: str | None, pytestconfig: pytest.Config) -> Provider | None:
    """The judge: the scripted demo model's judge rules, or the real judge (or agent) model."""
    if demo_model_url:
        return Provider(model="gpt-4.1-mini", base_url=demo_model_url)
    model = pytestconfig.getoption("aitest_judge_model") or run_context(pytestconfig).model_override
    return Provider(model=model) if model else None


RECORDINGS_USE = {
    "auto": "replayed from features/recordings/ where recorded; --aitest-record=all re-records",
    "none": "replayed from features/recordings/ only",
    "once": "recorded into features/recordings/ where no recording exists, replayed elsewhere",
    "all": "recorded anew into features/recordings/",
    "live": "live, without recordings",
}


def pytest_report_header(config: pytest.Config) -> str:
    context = run_context(config)
    if context.model_override:
        return f"example agents: real model {context.model_override!r} (set its API key, e.g. OPENAI_API_KEY)"
    mode = context.recording.mode.value
    return (
        f"example agents: scripted demo model (features/demo_model.json), {RECORDINGS_USE[mode]}; "
        "--aitest-model picks a real model"
    )
