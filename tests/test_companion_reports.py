"""pytest-html and Allure (allure-pytest-bdd) get each test's transcript, redacted; Allure also its tool calls."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

SECRET = "sk-companion-marker-3e71c9"

SCRIPT = {
    "rules": [
        {
            "user": "echo it",
            "replies": [
                {"tool_calls": [{"name": "echo", "arguments": {"text": f"the key is {SECRET}"}}]},
                {"content": "the tool said: {result}; sent with {authorization}"},
            ],
        },
    ]
}

AGENT = f"""
import pytest

from aitest_bdd import Agent as _Agent, Provider as _Provider


@pytest.fixture
def aitest_agents(aitest_agents):
    faulty = next(agent for agent in aitest_agents if agent.name == "faulty")
    keyed = _Provider(model="scripted-default", base_url={{base_url!r}}, api_key={SECRET!r}, max_retries=0)
    return [*aitest_agents, _Agent(name="keyed", provider=keyed, mcp_servers=faulty.mcp_servers)]
"""

FEATURE = """
Feature: Companions
  Scenario: echoes
    Given the agent "keyed"
    When the user says "echo it"
    Then the agent calls "echo"
    And the response contains "nothing like this"
"""

PYTHON_TEST = """
async def test_api(aitest_run, aitest_agents):
    keyed = next(agent for agent in aitest_agents if agent.name == "keyed")
    turn = await aitest_run(keyed, "echo it")
    assert [call.name for call in turn.tool_calls] == ["echo"]
"""

USER_LINE = "user: echo it"
TOOL_CALL_LINE = 'tool call: echo({"text": "the key is [SECRET]"})'


def write_project(project) -> None:
    """A feature and a Python API test in a folder whose conftest adds an agent with a key to the project's agents."""
    folder = project.pytester.path / "companions"
    folder.mkdir()
    (folder / "conftest.py").write_text(AGENT.replace("{base_url!r}", repr(project.server.base_url)), encoding="utf-8")
    (folder / "companions.feature").write_text(FEATURE, encoding="utf-8")
    (folder / "test_api.py").write_text(PYTHON_TEST, encoding="utf-8")


@pytest.mark.script(SCRIPT)
def test_pytest_html_rows_show_the_transcript(project) -> None:
    write_project(project)
    project.run("--html", "report.html").assert_outcomes(passed=1, failed=1)
    page = (project.pytester.path / "report.html").read_text(encoding="utf-8")
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob is not None, "pytest-html's page keeps its rows in data-jsonblob"
    tests = json.loads(html.unescape(blob.group(1)))["tests"]
    for nodeid in ("companions/companions.feature::test_echoes", "companions/test_api.py::test_api"):
        extras = [
            extra["content"] for row in tests[nodeid] for extra in row["extras"] if extra["format_type"] == "html"
        ]
        assert len(extras) == 1, (nodeid, extras)
        shown = html.unescape(extras[0])
        assert USER_LINE in shown and TOOL_CALL_LINE in shown and "sent with Bearer [SECRET]" in shown, shown
    written = [page, *(path.read_text(encoding="utf-8") for path in (project.pytester.path / "assets").iterdir())]
    assert not [text for text in written if SECRET in text]


@pytest.mark.script(SCRIPT)
def test_allure_results_hold_the_transcript_and_the_tool_calls(project) -> None:
    write_project(project)
    project.run("--alluredir", "allure-results").assert_outcomes(passed=1, failed=1)
    folder: Path = project.pytester.path / "allure-results"  # allure-pytest-bdd writes scenarios' results only
    [result] = [json.loads(path.read_text()) for path in folder.glob("*-result.json")]
    attachments = {attachment["name"]: attachment for attachment in result["attachments"]}
    transcript = attachments["aitest transcript"]
    assert transcript["type"] == "text/plain"
    text = (folder / transcript["source"]).read_text(encoding="utf-8")
    assert USER_LINE in text and TOOL_CALL_LINE in text
    tool_calls = attachments["aitest tool calls"]
    assert tool_calls["type"] == "application/json"
    [call] = json.loads((folder / tool_calls["source"]).read_text(encoding="utf-8"))
    assert (call["agent"], call["turn"], call["name"]) == ("keyed", 1, "echo")
    assert call["arguments"] == {"text": "the key is [SECRET]"}
    leaks = [path.name for path in folder.iterdir() if SECRET in path.read_text(encoding="utf-8", errors="replace")]
    assert not leaks
