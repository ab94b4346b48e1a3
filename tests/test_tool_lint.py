"""Tool lint: a deliberately poor MCP server and the example servers, through real runs; the rules' reading of
descriptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitest_bdd.results.tool_lint import listed_values

POOR_SERVER = str(Path(__file__).with_name("poor_server.py"))
SCRIPT = {"rules": [{"user_regex": "hello", "replies": [{"content": "Hello!"}]}]}
POOR_AGENTS = f"""

@pytest.fixture
def aitest_agents():
    provider = Provider(model="scripted-default", base_url={{base_url!r}}, max_retries=0, timeout=10)
    poor = MCPServer(name="poor", command=[sys.executable, {POOR_SERVER!r}])
    changed = MCPServer(name="poor", command=[sys.executable, {POOR_SERVER!r}, "--changed"])
    return [
        Agent(name="poor", provider=provider, mcp_servers=[poor]),
        Agent(name="poor-changed", provider=provider, mcp_servers=[changed]),
        *[Agent(name=name, provider=provider, mcp_servers=[server(name)]) for name in EXAMPLES],
    ]
"""
EXAMPLES = ("banking", "weather", "todo", "faulty")
POOR_FINDINGS = {
    ("no-description", "do_it", "description"),
    ("short-description", "stuff", "description"),
    ("parameter-without-description", "stuff", "parameters.x"),
    ("closed-values-without-enum", "set_mode", "parameters.mode"),
    ("similar-names", "get_balance", "name"),
    ("similar-names", "getBalance", "name"),
    ("similar-names", "get-balance", "name"),
    ("changing-definition", "moving_target", "description"),
    ("missing-destructive-hint", "delete_everything", "annotations.destructiveHint"),
    *(
        (rule, tool, field)
        for tool in ("do_it", "stuff")
        for rule, field in (
            ("missing-read-only-hint", "annotations.readOnlyHint"),
            ("missing-destructive-hint", "annotations.destructiveHint"),
        )
    ),
}


def scenario(name: str, agent: str) -> str:
    return f"""
  Scenario: {name}
    Given the agent "{agent}"
    When the user says "hello"
    Then the response contains "Hello"
"""


def poor_project(project, *agents: str) -> None:
    conftest = project.pytester.path / "conftest.py"
    extra = POOR_AGENTS.format(base_url=project.server.base_url).replace("EXAMPLES", repr(EXAMPLES))
    conftest.write_text(conftest.read_text(encoding="utf-8") + extra, encoding="utf-8")
    project.feature("tools", "Feature: Tools\n" + "".join(scenario(f"With {agent}", agent) for agent in agents))


def findings(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["tool_surface"]["findings"]


@pytest.mark.script(SCRIPT)
def test_the_poor_server_breaks_each_rule(project, tmp_path: Path) -> None:
    poor_project(project, "poor", "poor-changed")
    out = tmp_path / "out"
    result = project.run(f"--aitest-json={out}/r.json", f"--aitest-report={out}/r.html", f"--aitest-md={out}/r.md")
    result.assert_outcomes(passed=2)
    assert result.ret == 0  # the lint is shown, not a gate, unless asked for
    found = findings(out / "r.json")
    assert {(finding["rule"], finding["tool"], finding["field"]) for finding in found} == POOR_FINDINGS
    assert {finding["server"] for finding in found} == {"poor"}
    by_rule = {finding["rule"]: finding for finding in found}
    assert by_rule["closed-values-without-enum"]["fix"] == (
        'add "enum": ["fast", "safe"] to its schema (in Python: Literal[...])'
    )
    assert by_rule["changing-definition"]["problem"] == (
        "tools/list gave 2 different definitions of the tool in one run (its description)"
    )
    result.stdout.fnmatch_lines(["poor: 0 of 9 tools exercised; never: *", "tool lint: 13 findings on 8 tools *"])
    html = (out / "r.html").read_text(encoding="utf-8")
    assert '<h2 id="tool-lint">Tool lint</h2>' in html
    assert all(f'data-rule="{rule}"' in html for rule, _tool, _field in POOR_FINDINGS)
    markdown = (out / "r.md").read_text(encoding="utf-8")
    assert "| poor | set\\_mode | parameters.mode | parameter 'mode' lists its values in words (fast, safe)" in markdown


@pytest.mark.script(SCRIPT)
def test_strict_tools_fails_the_run_and_names_each_finding(project) -> None:
    poor_project(project, "poor")
    result = project.run("--aitest-strict-tools")
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "aitest tool gate: --aitest-strict-tools: poor do_it description: the tool has no description "
            "(fix: describe what the tool does, when to use it and what it returns)"
        ]
    )


@pytest.mark.script(SCRIPT)
def test_the_example_servers_pass_the_lint(project, tmp_path: Path) -> None:
    poor_project(project, *EXAMPLES)
    path = tmp_path / "r.json"
    result = project.run(f"--aitest-json={path}")
    result.assert_outcomes(passed=4)
    assert findings(path) == []
    result.stdout.fnmatch_lines(["tool lint: no findings on * tools"])


@pytest.mark.parametrize(
    ("description", "values"),
    [
        ("Account name: 'checking' or 'savings'.", ["checking", "savings"]),
        ("Which tasks to list: 'all' (default), 'open' or 'done'.", ["all", "open", "done"]),
        ('Sort order: "asc" | "desc"', ["asc", "desc"]),
        ("City name. One of: Paris, London, New York.", ["Paris", "London", "New York"]),
        ("Allowed values: low, normal, high", ["low", "normal", "high"]),
        ("What needs to be done, e.g. 'Buy milk'.", []),
        ("A label, e.g. 'home' or 'work'.", []),
        ("Tags such as 'a', 'b'", []),
        ("Number of days (1 to 5).", []),
        ("One of the accounts the user named when they asked for the transfer, or the default one", []),
    ],
)
def test_closed_values_are_read_from_descriptions(description: str, values: list[str]) -> None:
    assert listed_values(description) == values
