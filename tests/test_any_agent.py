"""The banking feature, unchanged, against four agents: aitest-bdd's own tool loop, an OpenAI Agents SDK agent, a
LangGraph agent and a script that knows only OPENAI_BASE_URL, each on the scripted model with the banking MCP
server; each recorded, then replayed with the model server gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BANKING_FEATURE = (ROOT / "features" / "banking.feature").read_text(encoding="utf-8")
BANKING_STEPS = (ROOT / "step_defs" / "banking_steps.py").read_text(encoding="utf-8")
DEMO_SCRIPT = json.loads((ROOT / "features" / "demo_model.json").read_text(encoding="utf-8"))
SYSTEM = "You are a careful banking assistant. Use the tools; never guess a balance."

CONFTEST = """
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

BANKING = [sys.executable, "-m", "aitest_bdd.testing.servers.banking"]
SYSTEM = {system!r}
MARKER = {marker!r}
pytest_plugins = ["banking_steps"]


def banking_agent(provider):
{agent}


@pytest.fixture
def aitest_agents():
    provider = Provider(model="gpt-4.1-mini", base_url={base_url!r}, max_retries=0, timeout=10)
    return [banking_agent(provider)]


@pytest.fixture
def aitest_judge():
    return Provider(model="gpt-4.1-mini", base_url={base_url!r}, max_retries=0, timeout=10)
"""

AGENTS = {
    "own loop": """
    server = MCPServer(name="banking", command=BANKING, env={"AITEST_TEST_MARKER": MARKER})
    return Agent(name="banking", provider=provider, mcp_servers=[server], system_prompt=SYSTEM)
""",
    "OpenAI Agents SDK": """
    import agents
    from agents.mcp import MCPServerStdio

    from aitest_bdd.apps.openai_agents import OpenAIAgentsApp

    server = MCPServerStdio(
        params={"command": BANKING[0], "args": BANKING[1:], "env": {"AITEST_TEST_MARKER": MARKER}},
        use_structured_content=True,
    )
    sdk_agent = agents.Agent(name="banking", instructions=SYSTEM, mcp_servers=[server])
    return Agent(name="banking", provider=provider, app=OpenAIAgentsApp(sdk_agent))
""",
    "LangGraph": """
    from contextlib import asynccontextmanager

    import mcp
    from langchain_core.tools import StructuredTool, ToolException
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent
    from mcp.client.stdio import StdioServerParameters

    from aitest_bdd.apps.langgraph import LangGraphApp

    def tool(client, listed):
        async def call(**arguments):
            result = await client.call_tool(listed.name, arguments)
            text = "".join(block.text for block in result.content if block.type == "text")
            if result.is_error:
                raise ToolException(text)
            return text

        return StructuredTool(name=listed.name, description=listed.description or "", args_schema=listed.input_schema,
                              coroutine=call, handle_tool_error=True)

    @asynccontextmanager
    async def build(model):
        params = StdioServerParameters(command=BANKING[0], args=BANKING[1:], env={"AITEST_TEST_MARKER": MARKER})
        async with mcp.Client(params) as client:
            tools = [tool(client, listed) for listed in (await client.list_tools()).tools]
            chat = ChatOpenAI(model=model.model, base_url=model.base_url, api_key=model.api_key, max_retries=0)
            yield create_react_agent(chat, tools, prompt=SYSTEM)

    return Agent(name="banking", provider=provider, app=LangGraphApp(build))
""",
    "script": """
    from aitest_bdd.apps.service import ServiceApp

    command = [sys.executable, "-m", "aitest_bdd.testing.agents.chat_service", "--port", "{port}",
               "--system", SYSTEM, "--mcp", "--", *BANKING]
    url = "http://127.0.0.1:{port}/v1/chat/completions"
    return Agent(name="banking", provider=provider,
                 app=ServiceApp(command=command, url=url, env={"AITEST_TEST_MARKER": MARKER}))
""",
}


def use_agent(project, kind: str) -> None:
    """The project's one agent, "banking", is `kind`; the banking feature and its domain step, as in `features/`."""
    project.feature("banking", BANKING_FEATURE)
    (project.pytester.path / "banking_steps.py").write_text(BANKING_STEPS, encoding="utf-8")
    conftest = CONFTEST.format(system=SYSTEM, marker=project.marker, base_url=project.server.base_url, agent="{agent}")
    project.pytester.makeconftest(conftest.replace("{agent}", AGENTS[kind].strip("\n")))


def run(project, *args: str) -> pytest.RunResult:
    """A run in a process of its own, as a user's: the frameworks keep module state that in-process runs would share."""
    return project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--aitest-json", "results.json", *args)


def turn_sources(project) -> set[str]:
    """Where the turns of the last run's scenarios came from: live, recorded or replayed."""
    data = json.loads((project.pytester.path / "results.json").read_text())
    conversations = [conversation for test in data["tests"] for conversation in test["conversations"]]
    return {turn["source"] for conversation in conversations for turn in conversation["turns"]}


@pytest.mark.script(DEMO_SCRIPT)
@pytest.mark.parametrize("kind", list(AGENTS))
@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_the_banking_feature_passes_unchanged_and_replays_offline(project, kind: str) -> None:
    use_agent(project, kind)

    recorded = run(project, "--aitest-record=once")
    recorded.assert_outcomes(passed=5)
    assert turn_sources(project) == {"recorded"}
    assert project.server.requests
    recordings = sorted(path.name for path in (project.pytester.path / "recordings").rglob("*.json*"))
    assert len(recordings) == 5

    project.server.stop()  # the replay must need no model
    replayed = run(project, "--aitest-record=none")
    replayed.assert_outcomes(passed=5)
    assert turn_sources(project) == {"replayed"}
    assert project.live_servers() == []
