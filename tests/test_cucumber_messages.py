"""Cucumber Messages (`--aitest-messages`) and pytest-bdd's Cucumber JSON with embeddings, from real runs on the
scripted model with the banking server: the messages validate against the Cucumber Messages schema and render in
Cucumber's own HTML formatter, in Chromium; no secret reaches either file."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from playwright.sync_api import Browser, sync_playwright
from referencing import Registry, Resource
from test_report_html import CHROMIUM, CHROMIUM_ARGS

NODE = Path(__file__).parent / "node"
SCHEMA = NODE / "node_modules/@cucumber/messages/messages.schema.json"
PROVIDER_KEY = "sk-provider-marker-5c1d9e"
JUDGE_KEY = "sk-judge-marker-77a0f3"

SCRIPT = {
    "rules": [
        {
            "user_regex": "CRITERION:\\s+names the balance",
            "replies": [{"content": json.dumps({"pass": True, "reasoning": "It names $1,500.00."})}],
        },
        {
            "user": "balance please",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is ${result:get_balance.formatted}."},
            ],
        },
        {"user_regex": "^hello", "replies": [{"content": "Hello! How can I help? {authorization}"}]},
    ]
}

FEATURE = """
Feature: Banking messages
  Background:
    Given the agent "keyed-bank"

  Scenario: Balance
    When the user says "balance please"
    Then the agent calls "get_balance"
    And the response satisfies "names the balance"

  Scenario: Wrong greeting
    When the user says "hello"
    Then the response contains "goodbye"
    And the response is not empty

  Scenario Outline: Greeting <who>
    When the user says "hello <who>"
    Then the response contains "Hello"

    Examples:
      | who   |
      | Alice |
      | Bob   |
"""

KEYED = f"""

@pytest.fixture
def aitest_judge(aitest_agents):
    base_url = aitest_agents[0].provider.base_url
    return Provider(model="judge", base_url=base_url, api_key={JUDGE_KEY!r}, max_retries=0)


@pytest.fixture
def aitest_agents(aitest_agents):
    by_name = {{agent.name: agent for agent in aitest_agents}}
    keyed = by_name["banking"].provider.model_copy(update={{"api_key": {PROVIDER_KEY!r}, "model": "gpt-4.1-mini"}})
    return [*aitest_agents, Agent(name="keyed-bank", provider=keyed, mcp_servers=by_name["banking"].mcp_servers)]
"""

RENDER = """
const fs = require("node:fs");
const { CucumberHtmlStream } = require("@cucumber/html-formatter");
const [source, target] = process.argv.slice(2);
const html = new CucumberHtmlStream();
html.pipe(fs.createWriteStream(target));
for (const line of fs.readFileSync(source, "utf8").split("\\n")) if (line.trim()) html.write(JSON.parse(line));
html.end();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def run_banking(project, *args: str) -> tuple[pytest.RunResult, list[dict]]:
    """The banking feature run with `args`, and the Cucumber Messages it wrote to messages.ndjson."""
    folder = project.pytester.path / "bank"
    folder.mkdir()
    (folder / "conftest.py").write_text("import pytest\n\nfrom aitest_bdd import Agent, Provider\n" + KEYED)
    (folder / "banking.feature").write_text(FEATURE.lstrip(), encoding="utf-8")
    result = project.run("--aitest-messages", "messages.ndjson", *args)
    result.assert_outcomes(passed=3, failed=1)
    lines = (project.pytester.path / "messages.ndjson").read_text(encoding="utf-8").splitlines()
    return result, [json.loads(line) for line in lines]


def kinds(envelopes: list[dict]) -> list[str]:
    return [next(iter(envelope)) for envelope in envelopes]


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    registry = Registry().with_resources((uri, Resource.from_contents(part)) for uri, part in schema["$defs"].items())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.script(SCRIPT)
def test_the_messages_validate_and_hold_every_pickle_step_and_attachment(project) -> None:
    _, envelopes = run_banking(project)
    check = validator()
    problems = [f"{kinds([e])[0]}: {error.message}" for e in envelopes for error in check.iter_errors(e)]
    assert not problems, "\n".join(problems[:10])
    order = kinds(envelopes)
    assert order[:4] == ["meta", "source", "gherkinDocument", "pickle"]
    assert order.index("testRunStarted") < order.index("testCase") and order[-1] == "testRunFinished"
    assert envelopes[-1]["testRunFinished"]["success"] is False
    assert envelopes[1]["source"]["data"].startswith("Feature: Banking messages")

    pickles = {e["pickle"]["id"]: e["pickle"] for e in envelopes if "pickle" in e}
    assert sorted(p["name"] for p in pickles.values()) == [
        "Balance",
        "Greeting Alice",
        "Greeting Bob",
        "Wrong greeting",
    ]
    balance = next(p for p in pickles.values() if p["name"] == "Balance")
    assert balance["steps"][0]["text"] == 'the agent "keyed-bank"', "the Background's step"

    steps = {step["id"]: step for pickle in pickles.values() for step in pickle["steps"]}
    test_steps = {s["id"]: s for e in envelopes if "testCase" in e for s in e["testCase"]["testSteps"]}
    results = [
        (steps[test_steps[e["testStepFinished"]["testStepId"]]["pickleStepId"]]["text"], e["testStepFinished"])
        for e in envelopes
        if "testStepFinished" in e and "pickleStepId" in test_steps[e["testStepFinished"]["testStepId"]]
    ]
    status = {text: finished["testStepResult"]["status"] for text, finished in results}
    assert status['the response contains "goodbye"'] == "FAILED"
    assert status["the response is not empty"] == "SKIPPED"
    assert status['the response satisfies "names the balance"'] == "PASSED"
    failed = next(f["testStepResult"] for text, f in results if text == 'the response contains "goodbye"')
    assert 'to contain "goodbye"' in failed["message"]
    assert all(f["testStepResult"]["duration"]["seconds"] >= 0 for _, f in results)
    assert len(results) == sum(len(p["steps"]) for p in pickles.values())

    attached: dict[str, dict[str, str]] = {}
    for envelope in envelopes:
        if attachment := envelope.get("attachment"):
            text = steps[test_steps[attachment["testStepId"]]["pickleStepId"]]["text"]
            attached.setdefault(text, {})[attachment["fileName"]] = attachment["body"]
    balance_turn = attached['the user says "balance please"']
    assert "tool call: get_balance" in balance_turn["transcript.txt"]
    assert json.loads(balance_turn["tool-calls.json"])[0]["arguments"] == {"account": "checking"}
    usage = json.loads(balance_turn["usage.json"])[0]
    assert usage["total_tokens"] > 0 and usage["cost_usd"] > 0
    assert "It names $1,500.00." in attached['the response satisfies "names the balance"']["judge.txt"]
    assert 'the agent calls "get_balance"' not in attached, "a step that ran no turn has no transcript"

    text = (project.pytester.path / "messages.ndjson").read_text(encoding="utf-8")
    assert PROVIDER_KEY not in text and JUDGE_KEY not in text and "[SECRET]" in text


@pytest.mark.script(SCRIPT)
def test_cucumber_json_gains_each_steps_attachments_as_embeddings(project) -> None:
    run_banking(project, "--cucumberjson", "cucumber.json")
    raw = (project.pytester.path / "cucumber.json").read_text(encoding="utf-8")
    elements = {element["name"]: element for element in json.loads(raw)[0]["elements"]}
    embedded = {
        step["name"]: {e["name"]: (e["mime_type"], base64.b64decode(e["data"]).decode()) for e in step["embeddings"]}
        for step in elements["Balance"]["steps"]
        if "embeddings" in step
    }
    assert set(embedded) == {'the user says "balance please"', 'the response satisfies "names the balance"'}
    turn = embedded['the user says "balance please"']
    assert turn["transcript.txt"][0] == "text/plain" and "tool call: get_balance" in turn["transcript.txt"][1]
    assert turn["tool-calls.json"][0] == "application/json"
    assert "It names $1,500.00." in embedded['the response satisfies "names the balance"']["judge.txt"][1]
    rows = [element for element in json.loads(raw)[0]["elements"] if element["name"].startswith("Greeting")]
    said = [base64.b64decode(row["steps"][1]["embeddings"][0]["data"]).decode() for row in rows]
    assert len(said) == 2 and "user: hello Alice" in said[0] and "user: hello Bob" in said[1], said
    decoded = raw + "".join(
        base64.b64decode(e["data"]).decode()
        for element in elements.values()
        for step in element["steps"]
        for e in step.get("embeddings", [])
    )
    assert PROVIDER_KEY not in decoded and JUDGE_KEY not in decoded and "[SECRET]" in decoded


@pytest.mark.script(SCRIPT)
def test_cucumbers_html_formatter_renders_the_messages_in_chromium(project, browser) -> None:
    run_banking(project)
    node = shutil.which("node")
    assert node, "Node.js is needed (tests/node)"
    html = project.pytester.path / "cucumber.html"
    script = project.pytester.path / "render.cjs"
    script.write_text(RENDER)
    subprocess.run(
        [node, str(script), str(project.pytester.path / "messages.ndjson"), str(html)],
        check=True,
        timeout=60,
        env={"NODE_PATH": str(NODE / "node_modules")},
    )
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(html.as_uri())
    page.get_by_text("Wrong greeting").first.wait_for(timeout=15_000)
    body = page.inner_text("body")
    for name in ("Banking messages", "Scenario: Balance", "Scenario: Wrong greeting", "Greeting <who>", "hello Bob"):
        assert name in body, name
    assert "tool call: get_balance" not in body
    page.get_by_text("transcript.txt").first.click()
    page.get_by_text("tool call: get_balance").first.wait_for(timeout=5_000)
    assert errors == []


BLOCKED = "import sys; sys.modules['cucumber_messages'] = None; import pytest; sys.exit(pytest.main(sys.argv[1:]))"


@pytest.mark.script(SCRIPT)
def test_messages_without_the_library_are_a_usage_error_before_the_run(project) -> None:
    project.feature("banking", FEATURE)
    command = [sys.executable, "-c", BLOCKED, "-p", "no:cacheprovider", "--aitest-messages", "messages.ndjson"]
    result = subprocess.run(command, cwd=project.pytester.path, capture_output=True, text=True, timeout=60)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "ERROR: --aitest-messages messages.ndjson: needs the cucumber-messages library: "
        "pip install 'aitest-bdd[cucumber]'"
    )
    assert project.server.requests == []
