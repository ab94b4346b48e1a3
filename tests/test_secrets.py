"""No secret leaves the process: a marker secret through each channel reaches no output, recording or terminal."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

PROVIDER_KEY = "sk-provider-marker-7f3a91"
ENV_KEY = "sk-environment-marker-51c2e0"
URL_PASSWORD = "url-password-marker-9d04"
MCP_QUERY_KEY = "mcp-query-marker-22be17"
MCP_HEADER = "mcp-header-marker-c58d3a"
SERVER_ENV = "server-env-marker-0a77f1"
EXPANDED = "expanded-var-marker-e3b9"
MASKED = "order-4711-0815"
JUDGE_KEY = "sk-judge-marker-64e8b2"
MASKED_RESOURCE = "Overdraft: not allowed"
SECRETS = [
    *(PROVIDER_KEY, ENV_KEY, URL_PASSWORD, MCP_QUERY_KEY, MCP_HEADER, SERVER_ENV, EXPANDED, MASKED, JUDGE_KEY),
    MASKED_RESOURCE,
]
TASK = f"the key is {PROVIDER_KEY}"

SCRIPT = {
    "rules": [
        {"user": "echo my key", "replies": [{"content": "your credentials: {authorization}"}]},
        {"user": "reject my key", "replies": [{"error": {"status": 401, "message": "invalid key: {authorization}"}}]},
        {
            "user": "echo it",
            "replies": [
                {"tool_calls": [{"name": "echo", "arguments": {"text": f"the key is {PROVIDER_KEY}"}}]},
                {"content": "the tool said: {result}"},
            ],
        },
        {"user": "my order", "replies": [{"content": f"your order number is {MASKED}"}]},
        {
            "user": "plan with the key",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "add_task", "arguments": {"title": TASK}},
                        {"name": "summarise_tasks", "arguments": {}},
                        {"name": "plan_task", "arguments": {"title": TASK}},
                        {"name": "review_tasks", "arguments": {}},
                    ]
                },
                {"content": "done"},
            ],
        },
        {"user_regex": "^Summarise this to-do list", "replies": [{"content": "sampled with {authorization}"}]},
        {
            "user": "chatter the key",
            "replies": [
                {"tool_calls": [{"name": "chatter", "arguments": {"text": PROVIDER_KEY, "count": 3}}]},
                {"content": "done"},
            ],
        },
        {"user": "hello", "replies": [{"content": "Hello!"}]},
        {"user_regex": "CRITERION", "replies": [{"error": {"status": 401, "message": "judge key {authorization}"}}]},
    ]
}

PRINT_AND_EXIT = (
    "import os, sys; print('starting with', os.environ.get('SERVICE_CONFIG'), *sys.argv[1:], file=sys.stderr); "
    "sys.exit(3)"
)

AGENTS = f"""
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider


@pytest.fixture
def aitest_judge(aitest_agents):
    base_url = aitest_agents[0].provider.base_url
    return Provider(model="judge", base_url=base_url, api_key={JUDGE_KEY!r}, max_retries=0)


@pytest.fixture
def aitest_agents(aitest_agents):
    by_name = {{agent.name: agent for agent in aitest_agents}}
    base_url = by_name["plain"].provider.base_url
    keyed = Provider(model="scripted-default", base_url=base_url, api_key={PROVIDER_KEY!r}, max_retries=0)
    from_env = Provider(model="scripted-default", base_url=base_url, max_retries=0)
    unreachable = Provider(model="m", base_url="http://user:{URL_PASSWORD}@127.0.0.1:9/v1", max_retries=0)
    return [
        *aitest_agents,
        Agent(name="keyed", provider=keyed),
        Agent(name="from-env", provider=from_env),
        Agent(name="keyed-tools", provider=keyed, mcp_servers=by_name["faulty"].mcp_servers),
        Agent(name="keyed-todo", provider=keyed, mcp_servers=by_name["todo"].mcp_servers),
        Agent(name="keyed-bank", provider=keyed, mcp_servers=by_name["banking"].mcp_servers),
        Agent(name="unreachable", provider=unreachable),
        Agent(
            name="mcp-url",
            provider=keyed,
            mcp_servers=[
                MCPServer(
                    url="http://127.0.0.1:9/mcp?api_key={MCP_QUERY_KEY}",
                    headers={{"Authorization": "Bearer {MCP_HEADER}"}},
                    startup_timeout=5,
                )
            ],
        ),
        Agent(
            name="talkative-server",
            provider=keyed,
            mcp_servers=[
                MCPServer(
                    command=[sys.executable, "-c", {PRINT_AND_EXIT!r}, "${{AITEST_CONFIG_VALUE}}"],
                    env={{"SERVICE_CONFIG": {SERVER_ENV!r}}},
                )
            ],
        ),
    ]
"""

FEATURE = """Feature: Secrets

  Scenario: the model echoes the key
    Given the agent "keyed"
    When the user says "echo my key"
    Then the response contains "nothing like this"

  Scenario: the model echoes the key from the environment
    Given the agent "from-env"
    When the user says "echo my key"
    Then the response contains "your credentials"

  Scenario: an HTTP error quotes the key
    Given the agent "keyed"
    When the user says "reject my key"

  Scenario: a tool result carries the key
    Given the agent "keyed-tools"
    When the user says "echo it"
    Then the response contains "nothing like this"

  Scenario: a password in the base URL
    Given the agent "unreachable"
    When the user says "hello"

  Scenario: a key in an MCP server's URL and headers
    Given the agent "mcp-url"
    When the user says "hello"

  Scenario: a server's stderr shows its environment and arguments
    Given the agent "talkative-server"
    When the user says "hello"

  Scenario: a masked pattern
    Given the agent "keyed"
    When the user says "my order"
    Then the response contains "nothing like this"

  Scenario: a server asks and reports with the key
    Given the agent "keyed-todo"
    And the user declines the server's questions
    When the user says "plan with the key"
    Then the response contains "nothing like this"

  Scenario: a server logs the key as a name
    Given the agent "keyed-tools"
    When the user says "chatter the key"
    Then the response contains "nothing like this"

  Scenario: a resource holds a masked text
    Given the agent "keyed-bank"
    And the resource "bank://policies/fees" is in the context
    When the user says "hello"
    Then the response contains "nothing like this"

  Scenario: the judge's error quotes its key
    Given the agent "keyed"
    When the user says "hello"
    Then the response satisfies "it greets"
"""

PYTHON_TESTS = """
def agent(agents, name):
    return next(agent for agent in agents if agent.name == name)


async def test_a_server_that_cannot_start(aitest_run, aitest_agents):
    await aitest_run(agent(aitest_agents, "talkative-server"), "hello")


async def test_an_error_text_in_an_assertion(aitest_run, aitest_agents):
    turn = await aitest_run(agent(aitest_agents, "keyed"), "reject my key")
    assert turn.error is None, turn.error
"""

OUTPUTS = ("results.json", "report.html", "summary.md", "junit.xml", "cucumber.json", "messages.ndjson")


@pytest.mark.script(SCRIPT)
def test_no_secret_reaches_an_output_a_recording_or_the_terminal(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("AITEST_CONFIG_VALUE", EXPANDED)
    path: Path = project.pytester.path
    project.pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "aitest_record_mask =\n    order-\\d{4}-\\d{4}\n    Overdraft: \\w+ \\w+\n"
    )
    folder = path / "secrets"
    folder.mkdir()
    (folder / "conftest.py").write_text(AGENTS, encoding="utf-8")
    (folder / "secrets.feature").write_text(FEATURE, encoding="utf-8")
    (folder / "test_api_secrets.py").write_text(PYTHON_TESTS, encoding="utf-8")
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "--aitest-record=all", "--aitest-json", "results.json",
        "--aitest-report", "report.html", "--aitest-md", "summary.md", "--junitxml", "junit.xml",
        "--cucumberjson", "cucumber.json", "--aitest-messages", "messages.ndjson", timeout=120,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=13)
    texts = {name: (path / name).read_text(encoding="utf-8") for name in OUTPUTS}
    embedded = [
        base64.b64decode(embedding["data"]).decode("utf-8")
        for element in (element for feature in json.loads(texts["cucumber.json"]) for element in feature["elements"])
        for step in element["steps"]
        for embedding in step.get("embeddings", [])
    ]
    assert embedded, "the Cucumber JSON must carry the steps' attachments"
    texts["cucumber.json attachments"] = "\n".join(embedded)
    recordings = sorted((folder / "recordings").rglob("*.json"))
    assert recordings, "the scenarios whose turns ran must be recorded"
    texts |= {str(file.relative_to(path)): file.read_text(encoding="utf-8") for file in recordings}
    texts["terminal"] = result.stdout.str() + result.stderr.str()
    leaks = [f"{secret} in {where}" for secret in SECRETS for where, text in texts.items() if secret in text]
    assert not leaks, "\n".join(leaks)

    # The channels were exercised: each failure names its cause, with the secret replaced.
    terminal = texts["terminal"]
    assert "your credentials: Bearer [SECRET]" in texts["results.json"]
    assert "invalid key: Bearer [SECRET]" in terminal
    assert "could not reach model 'm' at http://127.0.0.1:9/v1/chat/completions" in terminal
    assert "MCP server 'http://127.0.0.1:9/mcp?api_key=...'" in terminal
    assert "starting with [SECRET] [SECRET]" in terminal
    assert "${AITEST_CONFIG_VALUE}" in terminal
    assert "your order number is [MASKED]" in texts["results.json"]
    assert "judge key: Bearer [SECRET]" in terminal or "judge key Bearer [SECRET]" in terminal
    results = texts["results.json"]
    for echoed in (
        "sampled with Bearer [SECRET]",  # a sampling answer
        "How should the task 'the key is [SECRET]' be planned?",  # a question for the user
        "reviewed 'the key is [SECRET]'",  # a progress message
        "reviewed task 1: the key is [SECRET]",  # a log message
        '{\\"[SECRET]\\": 1, \\"padding\\": \\"\\"}',  # a log's data, whose names the server chose
        "[MASKED]; a transfer larger than the balance",  # a resource's text
    ):
        assert echoed in results, echoed


def test_labels_never_carry_secrets() -> None:
    from aitest_bdd import MCPServer

    by_url = MCPServer(url=f"http://user:{URL_PASSWORD}@example.test/mcp?token={MCP_QUERY_KEY}")
    by_command = MCPServer(command=[sys.executable, "server.py", "--api-key", PROVIDER_KEY, f"--token={ENV_KEY}"])
    labels = [by_url.label, by_url.expanded().label, by_command.label, by_command.expanded().label]
    assert not [label for label in labels for secret in SECRETS if secret in label], labels
    assert by_url.label == "http://example.test/mcp?token=..."
    assert by_command.label.endswith("server.py --api-key ... --token=...")
