"""Tool-surface coverage: real runs on the scripted model with the example banking server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitest_bdd.report.merge import main as merge_main
from aitest_bdd.results.coverage import parse_share
from aitest_bdd.results.schema import RunResults

SCRIPT = {
    "rules": [
        {
            "user_regex": "checking balance",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is $1,500.00."},
            ],
        },
        {
            "user_regex": "move 200",
            "replies": [
                {
                    "tool_calls": [
                        {
                            "name": "transfer",
                            "arguments": {"from_account": "checking", "to_account": "savings", "amount": 200},
                        }
                    ]
                },
                {"content": "Done."},
            ],
        },
        {
            "user_regex": "history",
            "replies": [
                {"tool_calls": [{"name": "get_transactions", "arguments": {"account": "pension"}}]},
                {"content": "There is no such account."},
            ],
        },
    ]
}
FEATURE = """
Feature: Banking
  Scenario: Balance
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"

  Scenario: Transfer
    Given the agent "banking"
    When the user says "Move 200 to savings"
    Then the agent calls "transfer"

  Scenario: History of an unknown account
    Given the agent "banking"
    When the user says "Show the history of my pension"
    Then the agent calls "get_transactions"
"""
LINE = "banking: 2 of 4 tools exercised; never: get_transactions (every call failed), list_accounts"


def surface(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["tool_surface"]


def tools(block: dict) -> dict[str, dict]:
    (server,) = [server for server in block["servers"] if server["server"] == "banking"]
    return {tool["name"]: tool for tool in server["tools"]}


@pytest.mark.script(SCRIPT)
def test_terminal_line_json_block_and_report_section(project, tmp_path: Path) -> None:
    project.feature("banking", FEATURE)
    out = tmp_path / "out"
    result = project.run(f"--aitest-json={out}/r.json", f"--aitest-report={out}/r.html", f"--aitest-md={out}/r.md")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([LINE])
    block = surface(out / "r.json")
    used = tools(block)
    assert {name: (tool["offered"], tool["calls"], tool["succeeded"]) for name, tool in used.items()} == {
        "get_balance": (3, 1, 1),
        "get_transactions": (3, 1, 0),
        "list_accounts": (3, 0, 0),
        "transfer": (3, 1, 1),
    }
    assert used["transfer"]["tests"] == ["banking.feature::test_transfer"]
    parameters = {parameter["name"]: parameter for parameter in used["transfer"]["parameters"]}
    assert {name: (p["calls"], p["required"]) for name, p in parameters.items()} == {
        "amount": (1, True),
        "from_account": (1, True),
        "to_account": (1, True),
    }
    assert [p["name"] for p in used["get_transactions"]["parameters"] if not p["calls"]] == ["limit"]
    # each definition once, at run level; a conversation's tools name theirs
    assert sorted(tool["name"] for tool in block["definitions"]) == sorted(used)
    assert all(tool["parameters"]["type"] == "object" for tool in block["definitions"])
    offered = json.loads((out / "r.json").read_text())["tests"][0]["conversations"][0]["tools"]
    assert {tool["definition"] for tool in offered} == {tool["definition"] for tool in block["definitions"]}
    assert all(tool["parameters"] is None and tool["annotations"] is None for tool in offered)
    html = (out / "r.html").read_text(encoding="utf-8")
    assert "<h2>Tool coverage</h2>" in html
    assert "banking: 2 of 4 tools exercised; never: get_transactions, list_accounts</h3>" in html
    assert "from_account (1), to_account (1)" in html
    markdown = (out / "r.md").read_text(encoding="utf-8")
    assert "| banking | 2 of 4 | get\\_transactions, list\\_accounts |" in markdown


@pytest.mark.script(SCRIPT)
def test_same_coverage_serial_under_xdist_and_merged_shards(project, tmp_path: Path, outside_xdist: None) -> None:
    project.feature("banking", FEATURE)
    serial, parallel = tmp_path / "serial.json", tmp_path / "parallel.json"
    project.run(f"--aitest-json={serial}").assert_outcomes(passed=3)
    project.run("-n", "2", f"--aitest-json={parallel}").assert_outcomes(passed=3)
    shards = [tmp_path / "a.json", tmp_path / "b.json"]
    project.run("-k", "balance", f"--aitest-json={shards[0]}").assert_outcomes(passed=1)
    project.run("-k", "not balance", f"--aitest-json={shards[1]}").assert_outcomes(passed=2)
    merged = tmp_path / "merged.json"
    assert merge_main([str(merged), *map(str, shards)]) == 0
    expected = surface(serial)
    assert expected["servers"] and expected["definitions"]
    assert surface(parallel) == expected
    assert surface(merged) == expected
    assert surface(shards[0]) != expected  # a shard alone covers less


@pytest.mark.script(SCRIPT)
def test_replayed_run_has_the_same_coverage(project, tmp_path: Path) -> None:
    project.feature("banking", FEATURE)
    live, replayed = tmp_path / "live.json", tmp_path / "replayed.json"
    project.run("--aitest-record=all", f"--aitest-json={live}").assert_outcomes(passed=3)
    result = project.run("--aitest-record=none", f"--aitest-json={replayed}")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([LINE])
    assert surface(replayed)["servers"] == surface(live)["servers"]
    assert surface(replayed)["findings"] == surface(live)["findings"]
    assert surface(replayed)["not_checked"] == []


@pytest.mark.script(SCRIPT)
def test_recordings_without_annotations_say_what_the_lint_could_not_check(project, tmp_path: Path) -> None:
    project.feature("banking", FEATURE)
    project.run("--aitest-record=all").assert_outcomes(passed=3)
    for path in (project.pytester.path / "recordings").rglob("*.json"):  # as recordings made before annotations
        recording = json.loads(path.read_text())
        for session in recording["sessions"].values():
            del session["tool_annotations"]
        path.write_text(json.dumps(recording))
    replayed = tmp_path / "replayed.json"
    project.run("--aitest-record=none", f"--aitest-json={replayed}").assert_outcomes(passed=3)
    notes = surface(replayed)["not_checked"]
    assert len(notes) == 1 and "readOnlyHint and destructiveHint" in notes[0] and "get_balance (banking)" in notes[0]
    assert not [finding for finding in surface(replayed)["findings"] if finding["field"].startswith("annotations")]


@pytest.mark.script(SCRIPT)
def test_python_session_counts_each_call_once(project, tmp_path: Path) -> None:
    project.pytester.makepyfile(
        test_chat=f"""
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

agent = Agent(
    name="banking",
    provider=Provider(model="py-model", base_url={project.server.base_url!r}, max_retries=0),
    mcp_servers=[MCPServer(name="bank", command=[sys.executable, "-m", "aitest_bdd.testing.servers.banking"])],
)


@pytest.mark.session("bank-chat")
class TestChat:
    async def test_balance(self, aitest_run):
        assert (await aitest_run(agent, "What's my checking balance?")).tool_was_called("get_balance")

    async def test_transfer(self, aitest_run):
        assert (await aitest_run(agent, "Move 200 to savings")).tool_was_called("transfer")
"""
    )
    path = tmp_path / "r.json"
    project.run(f"--aitest-json={path}").assert_outcomes(passed=2)
    used = {tool["name"]: tool for tool in surface(path)["servers"][0]["tools"]}
    assert (used["get_balance"]["calls"], used["get_balance"]["offered"]) == (1, 1)
    assert used["get_balance"]["tests"] == ["test_chat.py::TestChat::test_balance"]
    assert used["transfer"]["tests"] == ["test_chat.py::TestChat::test_transfer"]


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize(
    ("settings", "code"),
    [((), 0), (("--aitest-min-tool-coverage", "0.5"), 0), (("--aitest-min-tool-coverage", "80%"), 1)],
)
def test_coverage_gate_sets_the_exit_status(project, settings: tuple[str, ...], code: int) -> None:
    project.feature("banking", FEATURE)
    result = project.run(*settings)
    result.assert_outcomes(passed=3)
    assert result.ret == code
    gate = (
        "aitest tool gate: MCP server 'banking' exercised 2 of 4 tools (50%), below --aitest-min-tool-coverage 80%: "
        "never exercised get_transactions, list_accounts"
    )
    assert (gate in result.stdout.lines) == bool(code)


@pytest.mark.script(SCRIPT)
def test_coverage_gate_from_ini_and_a_bad_value(project) -> None:
    project.feature("banking", FEATURE)
    project.pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_min_tool_coverage = 0.9\n"
    )
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*MCP server 'banking' exercised 2 of 4 tools (50%), below*"])
    bad = project.run("--aitest-min-tool-coverage", "lots")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--aitest-min-tool-coverage 'lots' is not a share of tools*"])


@pytest.mark.parametrize(("text", "share"), [("0.8", 0.8), ("80%", 0.8), ("1", 1.0), (" 50 % ", 0.5)])
def test_share_parses(text: str, share: float) -> None:
    assert parse_share(text, "x") == pytest.approx(share)


@pytest.mark.parametrize("text", ["0", "120%", "1.5", "most", ""])
def test_share_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a share of tools"):
        parse_share(text, "x")


def test_old_results_without_a_tool_surface_still_read_and_merge(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": 2, "tests": []}))
    out = tmp_path / "out.json"
    assert merge_main([str(out), str(old)]) == 0
    assert RunResults.model_validate_json(out.read_text()).tool_surface is not None
