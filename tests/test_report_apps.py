"""The outputs of a run whose agents are apps: they name what ran each agent, say when an agent's tool calls could
not be seen, and cover an app's tools under its agent, outside the MCP servers' coverage gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from aitest_bdd.results.schema import RunResults

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCRIPT = {
    "rules": [
        {
            "user_regex": "euro rate",
            "replies": [
                {"tool_calls": [{"name": "get_rate", "arguments": {"currency": "EUR"}}]},
                {"content": "One euro buys {result:get_rate.rate} dollars."},
            ],
        }
    ]
}

CONFTEST = """
import json

import pytest
from openai import OpenAI

from aitest_bdd import Agent, Provider
from aitest_bdd.apps.callable import CallableApp

TOOLS = [
    {"type": "function", "function": {"name": "get_rate", "description": "The exchange rate of a currency to USD.",
     "parameters": {"type": "object", "properties": {"currency": {"type": "string", "enum": ["EUR", "GBP"]}},
                    "required": ["currency"]}}},
    {"type": "function", "function": {"name": "convert", "description": "Convert an amount of USD to a currency.",
     "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
                    "required": ["amount", "currency"]}}},
]


def teller(request):
    client = OpenAI(base_url=request.model.base_url, api_key=request.model.api_key, max_retries=0)
    messages = [*request.history, {"role": "user", "content": request.message}]
    while True:
        completion = client.chat.completions.create(model=request.model.model, messages=messages, tools=TOOLS)
        message = completion.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"rate": 1.1})})


def oracle(request):
    return "One euro buys 1.1 dollars, as always."


@pytest.fixture
def aitest_agents():
    provider = Provider(model="gpt-4.1-mini", base_url=BASE_URL, max_retries=0, timeout=10)
    return [
        Agent(name="teller", provider=provider, app=CallableApp(teller)),
        Agent(name="oracle", provider=provider, app=CallableApp(oracle)),
    ]
"""

FEATURE = """
Feature: Rates
  Scenario: The teller looks the rate up
    Given the agent "teller"
    When the user says "What is the euro rate?"
    Then the agent calls "get_rate"
    And the response contains "1.1"

  Scenario: The oracle just knows
    Given the agent "oracle"
    When the user says "What is the euro rate?"
    Then the response contains "1.1"
"""


@pytest.fixture
def ran(project: Any) -> Path:
    """The rates project, run once with every output; its directory."""
    project.pytester.makeconftest(CONFTEST.replace("BASE_URL", repr(project.server.base_url)))
    project.feature("rates", FEATURE)
    outputs = ("--aitest-json", "results.json", "--aitest-report", "report.html", "--aitest-md", "summary.md")
    outputs += ("--aitest-otel-file", "traces.jsonl")
    result = project.run(*outputs, "--aitest-min-tool-coverage", "100%")
    result.assert_outcomes(passed=2)
    assert result.ret == 0  # the app's tool `convert` was never called, and the MCP coverage gate passes
    result.stdout.fnmatch_lines(
        [
            "agent teller (Python function): 1 of 2 tools exercised; never: convert",
            "--aitest-min-tool-coverage counts MCP servers only, not the tools an app offered its model*",
        ]
    )
    return project.pytester.path


@pytest.fixture
def page(ran: Path) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto((ran / "report.html").as_uri())
        page.wait_for_selector("body[data-ready=true]")
        yield page
        browser.close()
        assert errors == []


@pytest.mark.script(SCRIPT)
def test_the_html_report_names_the_app_and_says_when_tool_calls_are_hidden(page: Page) -> None:
    for entry in page.query_selector_all("#list > .entry"):
        entry.query_selector(".head").click()
    page.wait_for_selector(".turn >> nth=1")
    turns = {
        node.query_selector(".bubble.assistant .said").text_content(): node for node in page.query_selector_all(".turn")
    }
    teller = turns["One euro buys 1.1 dollars."]
    oracle = turns["One euro buys 1.1 dollars, as always."]

    assert teller.query_selector(".turn-head .muted").text_content() == "teller · Python function · gpt-4.1-mini"
    assert teller.query_selector(".tool .tool-name").text_content() == "get_rate"
    assert teller.query_selector(".hidden-tools") is None
    assert oracle.query_selector(".hidden-tools").text_content() == "Tool calls not exposed by this agent"
    assert "does not expose its tool calls" in oracle.query_selector(".hidden-tools").get_attribute("title")
    assert oracle.query_selector(".tool") is None
    stats = page.eval_on_selector_all("#list > .entry .head .stats", "nodes => nodes.map(n => n.textContent)")
    assert sorted(stat.split(" · ")[1] for stat in stats) == ["1 tool call", "tool calls not exposed"]
    agents = page.eval_on_selector_all("dl.facts dt:text-is('Agents') + dd", "nodes => nodes.map(n => n.textContent)")
    assert sorted(agents) == ["oracle (Python function) on gpt-4.1-mini", "teller (Python function) on gpt-4.1-mini"]
    coverage = page.eval_on_selector_all("#tool-coverage h3", "nodes => nodes.map(n => n.textContent)")
    assert coverage == ["agent teller (Python function): 1 of 2 tools exercised; never: convert"]
    assert "does not count them" in page.text_content("#tool-coverage .app-tools")


@pytest.mark.script(SCRIPT)
def test_the_markdown_summary_names_the_app_and_says_when_tool_calls_are_hidden(ran: Path) -> None:
    summary = (ran / "summary.md").read_text(encoding="utf-8")

    assert "| oracle | Python function | gpt-4.1-mini | 1 | tool calls not exposed by this agent |" in summary
    assert "| teller | Python function | gpt-4.1-mini | 1 | 1 |" in summary
    assert "| agent teller (Python function) | 1 of 2 | convert |" in summary
    assert "counts MCP servers only, not the tools an app offered its model (agent teller)" in summary
    assert "(server not recorded)" not in summary


@pytest.mark.script(SCRIPT)
def test_the_results_and_the_traces_keep_the_app(ran: Path) -> None:
    results = RunResults.model_validate(json.loads((ran / "results.json").read_text(encoding="utf-8")))
    spans = [
        span
        for line in (ran / "traces.jsonl").read_text(encoding="utf-8").splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    attributes = {
        span["name"]: {item["key"]: next(iter(item["value"].values())) for item in span["attributes"]} for span in spans
    }

    assert attributes["invoke_agent teller"]["aitest.agent.app"] == "Python function"
    assert attributes["invoke_agent oracle"]["aitest.agent.app"] == "Python function"
    assert "mcp.method.name" not in attributes["execute_tool get_rate"]  # not an MCP server's tool, as far as known
    assert results.tool_surface is not None
    assert [(server.server, server.agent) for server in results.tool_surface.servers] == [
        ("agent teller (Python function)", "teller")
    ]
    [get_rate] = [tool for tool in results.tool_surface.servers[0].tools if tool.name == "get_rate"]
    assert [(used.name, used.values_never_used) for used in get_rate.parameters] == [("currency", ["GBP"])]
    assert any("tools an app offered its model" in note for note in results.tool_surface.not_checked)
