"""MCP prompts and resources: a prompt is the user's turn, a resource enters the context, both are recorded and
replayed, and what is not offered fails its own scenario only. On the banking example server and on
server-everything over stdio and streamable HTTP."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import everything_server
import pytest
from everything_server import Everything
from fault_table import HEALTHY, OUTPUTS
from playwright.sync_api import sync_playwright
from test_report_html import CHROMIUM, CHROMIUM_ARGS

from aitest_bdd import Agent, MCPServer, Provider
from aitest_bdd.conversation.mcp_context import RESOURCE_INTRO
from aitest_bdd.conversation.session import AgentSession
from aitest_bdd.errors import ToolServerError
from aitest_bdd.runtime import Runtime
from aitest_bdd.tools.toolbox import Toolbox

everything = everything_server.everything

REVIEW = "Please review my checking account: is anything unusual in its statement below?"
FEES = "Transfers between your own accounts: free."
SCRIPT = {
    "rules": [
        {
            "user_regex": "^Please review my checking account",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Nothing unusual. Your balance is {result:get_balance.formatted} USD."},
            ],
        },
        {"user": "Are transfers free?", "replies": [{"content": "Yes, transfers between your accounts are free."}]},
        {"user": "hello", "replies": [{"content": "hello"}]},
    ]
}

FEATURE = """Feature: prompts and resources

  Scenario: a prompt
    Given the agent "banking"
    When the user runs the prompt "review_account" with:
      | argument | value    |
      | account  | checking |
    Then the agent calls "get_balance"
    And the response contains "1,500.00"
    And the server offers the prompt "review_account"
    And the server "banking" offers the resource "bank://policies/fees"
    And the server offers the resource template "bank://statements/{account}"

  Scenario: a resource
    Given the agent "banking"
    And the resource "bank://policies/fees" is in the context
    When the user says "Are transfers free?"
    Then the response contains "free"
"""


def user_messages(request: dict[str, Any]) -> list[Any]:
    return [message["content"] for message in request["messages"] if message["role"] == "user"]


def results_by_name(path: Path) -> dict[str, dict[str, Any]]:
    return {test["name"]: test for test in json.loads((path / "results.json").read_text())["tests"]}


@pytest.mark.script(SCRIPT)
def test_a_prompt_is_the_users_turn_and_a_resource_enters_the_context(project) -> None:
    project.feature("context", FEATURE)
    project.run(*OUTPUTS).assert_outcomes(passed=2)
    requests = project.server.requests
    prompted = [request for request in requests if any(REVIEW in str(text) for text in user_messages(request))]
    assert [len(user_messages(request)) for request in prompted] == [1, 1]  # the answer after the tool call too
    said = user_messages(prompted[0])[0]
    assert said.startswith(REVIEW + "\n\n[resource bank://statements/checking (text/plain)]\nStatement of the checking")
    asked = next(request for request in requests if "Are transfers free?" in user_messages(request))
    resource, question = user_messages(asked)
    assert resource.startswith("Resource attached to the conversation:\n\n[resource bank://policies/fees (text/plain)]")
    assert FEES in resource and question == "Are transfers free?"

    tests = results_by_name(project.pytester.path)
    turn = tests["a prompt"]["conversations"][0]["turns"][0]
    assert turn["prompt"] == {"name": "review_account", "server": "banking", "arguments": {"account": "checking"}}
    assert turn["user_message"] == said
    assert turn["final_response"] == "Nothing unusual. Your balance is 1,500.00 USD."
    turn = tests["a resource"]["conversations"][0]["turns"][0]
    assert [(used["uri"], used["server"], used["text"]) for used in turn["resources"]] == [
        ("bank://policies/fees", "banking", resource)
    ]
    assert turn["prompt"] is None

    markdown = (project.pytester.path / "summary.md").read_text(encoding="utf-8")
    assert "prompt review\\_account (account=checking)" in markdown
    assert "resource bank://policies/fees" in markdown
    assert shown_in_report(project.pytester.path / "report.html") == [
        ["Ran prompt review_account (account=checking) of banking", "User"],
        ["Resource · banking", "User"],
    ]


def shown_in_report(report: Path) -> list[list[str]]:
    """For each test's first turn in the HTML report: the line about a prompt and who speaks, in order."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        shown = []
        for entry in page.eval_on_selector_all("#list > .entry", "nodes => nodes.map(n => n.id)"):
            page.click(f"#{entry} .head")
            shown.append(
                page.eval_on_selector(
                    f"#{entry} .turn",
                    "turn => [...turn.querySelectorAll('.prompt-used, .bubble .who')].map(n => n.textContent)"
                    ".filter(text => text !== 'Assistant')",
                )
            )
        browser.close()
    return sorted(shown)


@pytest.mark.script(SCRIPT)
def test_a_prompt_and_a_resource_replay_with_no_server(project) -> None:
    project.feature("context", FEATURE)
    project.run("--aitest-record=once").assert_outcomes(passed=2)
    recording = json.loads((project.pytester.path / "recordings/context/test_a_prompt.json").read_text())
    interactions = recording["sessions"]["banking"]["interactions"]
    kinds = [(item["kind"], item["request"].get("method"), item["turn"]) for item in interactions]
    assert kinds[:2] == [("offers", "prompts/list", 1), ("prompt", None, 1)]
    # what the Then steps after turn 1 ask is recorded, like what the Given and When steps ask, under the next turn
    assert ("offers", "resources/templates/list", 2) in kinds
    sent = len(project.server.requests)
    conftest = project.pytester.path / "conftest.py"
    agents = conftest.read_text()
    no_server = agents.replace('"-m", f"aitest_bdd.testing.servers.{name}"', '"-c", "exit(3)"')  # any start fails
    assert no_server != agents
    conftest.write_text(no_server)
    project.run("--aitest-record=none", *OUTPUTS).assert_outcomes(passed=2)
    assert len(project.server.requests) == sent, "the replay asked the model"
    tests = results_by_name(project.pytester.path)
    turn = tests["a prompt"]["conversations"][0]["turns"][0]
    assert (turn["source"], turn["prompt"]["name"]) == ("replayed", "review_account")
    assert tests["a resource"]["conversations"][0]["turns"][0]["resources"][0]["uri"] == "bank://policies/fees"


FAULTS = (
    """Feature: what is not offered

  Scenario: an unknown prompt
    Given the agent "banking"
    When the user runs the prompt "close_account"

  Scenario: a missing argument
    Given the agent "banking"
    When the user runs the prompt "review_account"

  Scenario: an unknown resource
    Given the agent "banking"
    And the resource "bank://policies/loans" is in the context

  Scenario: a prompt not offered
    Given the agent "banking"
    Then the server offers the prompt "open_account"

  Scenario: a prompt its server does not offer
    Given the agent "banking"
    When the user runs the prompt "open_account" from the server "banking"

  Scenario: a server the agent does not have
    Given the agent "banking"
    When the user says "Are transfers free?"
    Then the server "bank" offers the prompt "review_account"

  Scenario: a table of one column
    Given the agent "banking"
    When the user runs the prompt "review_account" from the server "banking" with:
      | account |
"""
    + HEALTHY
)


@pytest.mark.script(SCRIPT)
def test_what_is_not_offered_fails_its_scenario_with_one_message(project) -> None:
    project.feature("faults", FAULTS)
    project.run(*OUTPUTS).assert_outcomes(passed=1, failed=7)
    tests = results_by_name(project.pytester.path)
    assert tests["healthy"]["status"] == "passed"
    messages = {name: test["message"] for name, test in tests.items() if test["status"] == "failed"}
    assert messages == {
        "an unknown prompt": "no MCP server of agent 'banking' offers the prompt 'close_account'; the prompts "
        "offered: banking: review_account",
        "a missing argument": "the prompt 'review_account' of MCP server 'banking' requires 'account' (it takes: "
        "account (required)); give its arguments in a table: | argument | value |",
        "an unknown resource": "no MCP server of agent 'banking' lists the resource 'bank://policies/loans' or a "
        "resource template that matches it; the resources listed: banking: bank://policies/fees; the templates: "
        "banking: bank://statements/{account}. For a resource a server reads but does not list, name the server: "
        'Given the resource "bank://policies/loans" from the server "NAME" is in the context',
        "a prompt not offered": "expected an MCP server of agent 'banking' to offer the prompt \"open_account\", "
        "but none does; the prompts offered: banking: review_account",
        "a prompt its server does not offer": "MCP server 'banking' does not offer the prompt 'open_account'; the "
        "prompts offered: banking: review_account",
        "a server the agent does not have": "agent 'banking' has no MCP server 'bank'; it has: banking\n\nTurn 1\n"
        "  user: Are transfers free?\n  assistant: Yes, transfers between your accounts are free.",
        "a table of one column": 'the step "the user runs the prompt "review_account" from the server "banking" '
        'with:" needs a table of argument and value rows, e.g. | account | checking |',
    }
    assert project.live_servers() == []


EVERYTHING_SCRIPT = {
    "rules": [
        {"user": "What's weather in Paris?", "replies": [{"content": "Sunny in Paris."}]},
        {"user_regex": "^This prompt includes the Text resource", "replies": [{"content": "Analysed."}]},
        {"user": "Summarise the documents", "replies": [{"content": "Two documents."}]},
    ]
}
EVERYTHING_FEATURE = """Feature: server-everything's prompts and resources

  Scenario: prompts and resources
    Given the agent "everything"
    And the resource "demo://resource/static/document/features.md" is in the context
    And the resource "demo://resource/dynamic/text/2" is in the context
    When the user runs the prompt "args-prompt" with:
      | city | Paris |
    Then the response contains "Sunny"
    When the user runs the prompt "resource-prompt" from the server "everything" with:
      | argument     | value |
      | resourceType | Text  |
      | resourceId   | 1     |
    Then the response contains "Analysed"
    When the user says "Summarise the documents"
    Then the server offers the prompt "simple-prompt"
    And the server offers the resource "demo://resource/static/document/architecture.md"
    And the server offers the resource template "demo://resource/dynamic/blob/{resourceId}"
"""
EVERYTHING_AGENT = """

@pytest.fixture
def aitest_agents(base_agents):
    provider = base_agents[0].provider
    server = MCPServer(name="everything", **{options!r})
    return [*base_agents, Agent(name="everything", provider=provider, mcp_servers=[server])]
"""


@pytest.mark.parametrize("transport", ["stdio", "streamable-http", "sse"])
@pytest.mark.script(EVERYTHING_SCRIPT)
def test_prompts_and_resources_of_server_everything(project, everything: Everything, transport: str) -> None:
    options = dict(everything.options)
    if transport == "stdio":
        options["env"] = {"AITEST_TEST_MARKER": project.marker}
    conftest = project.pytester.path / "conftest.py"
    agents = conftest.read_text().replace("def aitest_agents():", "def base_agents():")
    conftest.write_text(agents + EVERYTHING_AGENT.format(options=options))
    project.feature("everything", EVERYTHING_FEATURE)
    try:
        project.run(*OUTPUTS).assert_outcomes(passed=1)
    finally:
        for pid in project.live_servers():  # only when the run failed: leave no process behind
            os.kill(pid, signal.SIGKILL)
    last = user_messages(project.server.requests[-1])
    features, dynamic, weather, embedded, summarise = last
    assert features.startswith(
        "Resource attached to the conversation:\n\n"
        "[resource demo://resource/static/document/features.md (text/markdown)]\n"
    )
    assert dynamic.startswith(
        "Resource attached to the conversation:\n\n[resource demo://resource/dynamic/text/2 (text/plain)]\nResource 2:"
    )
    assert weather == "What's weather in Paris?"
    assert "analyze the following resource:\n\n[resource demo://resource/dynamic/text/1 (text/plain)]\n" in embedded
    assert summarise == "Summarise the documents"
    turns = results_by_name(project.pytester.path)["prompts and resources"]["conversations"][0]["turns"]
    assert [turn["prompt"] and turn["prompt"]["name"] for turn in turns] == ["args-prompt", "resource-prompt", None]
    assert [[used["uri"] for used in turn["resources"]] for turn in turns] == [
        ["demo://resource/static/document/features.md", "demo://resource/dynamic/text/2"],
        [],
        [],
    ]


FAILED_TURN_SCRIPT = {
    "rules": [
        {"user": "cut short", "replies": [{"content": "word " * 20, "finish_reason": "length"}]},
        {"user": "Are transfers free?", "replies": [{"content": "Yes, transfers between your accounts are free."}]},
        {"user": "hello", "replies": [{"content": "hello"}]},
    ]
}


def test_a_resource_enters_the_history_only_with_a_turn_that_succeeds(scripted_server) -> None:
    model = scripted_server(FAILED_TURN_SCRIPT)
    provider = Provider(model="scripted-default", base_url=model.base_url, max_retries=0, timeout=10)
    banking = MCPServer(name="banking", command=[sys.executable, "-m", "aitest_bdd.testing.servers.banking"])
    runtime = Runtime()
    session = AgentSession(Agent(name="banking", provider=provider, mcp_servers=[banking]), runtime)

    def resources_sent() -> int:
        return sum(str(text).startswith(RESOURCE_INTRO) for text in user_messages(model.requests[-1]))

    try:
        session.add_resource("bank://policies/fees")
        failed = session.say("cut short")
        assert failed.error and [used.uri for used in failed.resources] == ["bank://policies/fees"]
        assert resources_sent() == 1
        assert session.history == [], "the failed turn left the resource in the history"
        answered = session.say("Are transfers free?")
        assert answered.error is None
        assert [used.uri for used in answered.resources] == ["bank://policies/fees"]
        assert resources_sent() == 1
        later = session.say("hello")
        assert (later.error, later.resources, resources_sent()) == (None, [], 1)
        before = session.checkpoint()
        session.add_resource("bank://policies/fees")
        session.rewind(before)  # the resource added after the checkpoint is forgotten with what came after it
        assert session.say("hello").resources == []
    finally:
        session.close()
        runtime.close()


HOSTILE_AGENT = """

@pytest.fixture
def aitest_agents(base_agents):
    command = [sys.executable, {hostile!r}]
    server = MCPServer(name="hostile", command=command, env={{"AITEST_TEST_MARKER": MARKER}})
    return [*base_agents, Agent(name="hostile", provider=base_agents[0].provider, mcp_servers=[server])]
"""
DIES = (
    """Feature: a server that dies

  Scenario: during prompts/get
    Given the agent "hostile"
    When the user runs the prompt "crash"

  Scenario: during resources/read
    Given the agent "hostile"
    And the resource "hostile://crash" is in the context
"""
    + HEALTHY
)


@pytest.mark.script(SCRIPT)
def test_a_server_that_dies_during_a_prompt_or_a_resource_fails_its_scenario_with_one_message(project) -> None:
    conftest = project.pytester.path / "conftest.py"
    agents = conftest.read_text().replace("def aitest_agents():", "def base_agents():")
    hostile = str(Path(__file__).parent / "hostile_mcp.py")
    conftest.write_text(agents + HOSTILE_AGENT.format(hostile=hostile))
    project.feature("dies", DIES)
    project.run(*OUTPUTS).assert_outcomes(passed=1, failed=2)
    messages = {name: test["message"] for name, test in results_by_name(project.pytester.path).items()}
    dropped = "Connection closed (the server exited or dropped the connection; its stderr or log says why)"
    assert messages == {
        "during prompts/get": f"MCP server 'hostile' failed during prompts/get of 'crash': {dropped}",
        "during resources/read": f"MCP server 'hostile' failed during resources/read of 'hostile://crash': {dropped}",
        "healthy": None,
    }
    assert project.live_servers() == []


def test_a_toolbox_asked_for_a_server_it_does_not_have_says_so() -> None:
    with pytest.raises(ToolServerError, match=r"^there is no MCP server 'bank' in this toolbox; its servers: none$"):
        anyio.run(Toolbox([]).prompt, "bank", "review_account", {})
