"""What MCP servers ask during a tool call, through real pytest runs on the scripted model: questions for the user
answered by the feature (elicitation), requests for the client's model (sampling), roots, progress and logs;
recorded, and replayed without model or server."""

from __future__ import annotations

import json

import everything_server
import pytest
from everything_server import Everything
from playwright.sync_api import Browser
from test_report_html import browser, open_report  # noqa: F401 (the module-scoped browser fixture)

everything = everything_server.everything

AGENTS = """

@pytest.fixture
def aitest_agents(base_agents):
    provider = base_agents[0].provider
    return [
        *base_agents,
        Agent(name="todo-roots", provider=provider, mcp_servers=[server("todo", roots=["exports", "file:///srv/x"])]),
        Agent(name="todo-sampler", provider=provider, mcp_servers=[server("todo", sampling_model="scripted-sampler")]),
        Agent(name="todo-shared", provider=provider, mcp_servers=[server("todo", scope="feature")]),
        Agent(name="faulty-errors", provider=provider, mcp_servers=[server("faulty", log_level="error")]),
        Agent(name="faulty-no-logs", provider=provider, mcp_servers=[server("faulty", log_level=None)]),
    ]
"""

SCRIPT = {
    "rules": [
        {"user_regex": "^Summarise this to-do list", "replies": [{"content": "One urgent task: buy milk."}]},
        {
            "user": "plan milk",
            "replies": [
                {"tool_calls": [{"name": "plan_task", "arguments": {"title": "Buy milk"}}]},
                {"content": "{result:plan_task}"},
            ],
        },
        {
            "user": "add and summarise",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "add_task", "arguments": {"title": "Buy milk", "priority": "high"}},
                        {"name": "summarise_tasks", "arguments": {}},
                    ]
                },
                {"content": "{result:summarise_tasks}"},
            ],
        },
        {
            "user": "add and review",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "add_task", "arguments": {"title": "Buy milk"}},
                        {"name": "review_tasks", "arguments": {}},
                    ]
                },
                {"content": "{result:review_tasks}"},
            ],
        },
        {
            "user": "chatter a little",
            "replies": [
                {"tool_calls": [{"name": "chatter", "arguments": {"count": 16}}]},
                {"content": "{result:chatter}"},
            ],
        },
        {
            "user": "chatter a lot",
            "replies": [
                {"tool_calls": [{"name": "chatter", "arguments": {"count": 150, "padding": 10000}}]},
                {"content": "{result:chatter}"},
            ],
        },
        {
            "user": "a long task",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "add_task", "arguments": {"title": "long " * 5000}},
                        {"name": "summarise_tasks", "arguments": {}},
                        {"name": "plan_task", "arguments": {"title": "long " * 5000}},
                    ]
                },
                {"content": "done"},
            ],
        },
        {
            "user": "where to export",
            "replies": [
                {"tool_calls": [{"name": "export_targets", "arguments": {}}]},
                {"content": "{result:export_targets}"},
            ],
        },
    ]
}

ANSWERED = """
Feature: Answered
  Scenario: The user plans a task
    Given the agent "todo"
    And the user will answer the server's question with:
      | field       | value |
      | priority    | high  |
      | due_in_days | 3     |
      | confirm     | yes   |
    When the user says "plan milk"
    Then the server asks the user for "choose its priority"
    And the response contains "Added task 1 'Buy milk': high priority, due in 3 days."

  Scenario: A summary by the client's model
    Given the agent "todo"
    When the user says "add and summarise"
    Then the response contains "Summary: One urgent task: buy milk."

  Scenario: A review with progress
    Given the agent "todo"
    When the user says "add and review"
    Then the server reports progress
    And the response contains "Reviewed 1 tasks; 1 still open."
"""

UNANSWERED = """
Feature: Unanswered
  Scenario: Nobody answers
    Given the agent "todo"
    When the user says "plan milk"

  Scenario: The user declines
    Given the agent "todo"
    And the user declines the server's questions
    When the user says "plan milk"
    Then the server asks the user for "how should the task"
    And the response contains "no task was added (decline)"
"""


def add_agents(project) -> None:
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace("def aitest_agents():", "def base_agents():") + AGENTS)


def results(project) -> dict[str, dict]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


def calls(test: dict) -> dict[str, dict]:
    return {call["name"]: call for call in test["conversations"][0]["turns"][0]["tool_calls"]}


def go_offline(project) -> int:
    """Stop the model and point every MCP server at a program that does not exist; the model's request count."""
    project.server.stop()
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(
        conftest.read_text().replace(
            'command=[sys.executable, "-m", f"aitest_bdd.testing.servers.{name}"]', 'command=["no-such-program"]'
        )
    )
    return len(project.server.requests)


@pytest.mark.script(SCRIPT)
def test_questions_sampling_and_progress_are_answered_recorded_and_replayed(project) -> None:
    project.feature("answered", ANSWERED)
    project.run("--aitest-record=once", "--aitest-json", "results.json").assert_outcomes(passed=3)
    recorded = results(project)

    planned = calls(recorded["The user plans a task"])["plan_task"]
    assert planned["result_text"] == "Added task 1 'Buy milk': high priority, due in 3 days."
    [question] = planned["elicitations"]
    assert question["message"] == "How should the task 'Buy milk' be planned? Choose its priority."
    assert set(question["requested_schema"]["properties"]) == {"priority", "due_in_days", "confirm"}
    assert (question["action"], question["content"]) == (
        "accept",
        {"priority": "high", "due_in_days": 3, "confirm": True},
    )

    summary_turn = recorded["A summary by the client's model"]["conversations"][0]["turns"][0]
    [sampling] = calls(recorded["A summary by the client's model"])["summarise_tasks"]["samplings"]
    assert sampling["messages"] == [
        {"role": "system", "content": "You summarise to-do lists."},
        {"role": "user", "content": "Summarise this to-do list in one sentence:\n- [open] Buy milk (high)"},
    ]
    assert (sampling["model"], sampling["text"], sampling["max_tokens"]) == (
        "scripted-default",
        "One urgent task: buy milk.",
        200,
    )
    agent_tokens = sum(call["usage"]["total_tokens"] for call in summary_turn["model_calls"])
    assert sampling["total_tokens"] > 0
    assert summary_turn["usage"]["total_tokens"] == agent_tokens + sampling["total_tokens"]

    review = calls(recorded["A review with progress"])["review_tasks"]
    assert [(note["progress"], note["total"], note["message"]) for note in review["progress"]] == [
        (0, 1, "starting the review"),
        (1, 1, "reviewed 'Buy milk'"),
    ]
    assert [(log["level"], log["logger"], log["data"]) for log in review["logs"]] == [
        ("info", "todo.review", "reviewed task 1: Buy milk")
    ]
    assert 0 <= review["progress"][0]["at_ms"] <= review["progress"][1]["at_ms"] <= review["duration_ms"]

    requests = go_offline(project)
    project.run("--aitest-record=none", "--aitest-json", "results.json").assert_outcomes(passed=3)
    assert len(project.server.requests) == requests
    replayed = results(project)
    for name, test in recorded.items():
        turn, again = test["conversations"][0]["turns"][0], replayed[name]["conversations"][0]["turns"][0]
        assert again["source"] == "replayed"
        assert again["usage"] == turn["usage"]
        assert [call["elicitations"] for call in again["tool_calls"]] == [c["elicitations"] for c in turn["tool_calls"]]
        assert [call["samplings"] for call in again["tool_calls"]] == [c["samplings"] for c in turn["tool_calls"]]
        assert [call["progress"] for call in again["tool_calls"]] == [c["progress"] for c in turn["tool_calls"]]


@pytest.mark.script(SCRIPT)
def test_an_answer_changed_since_the_recording_is_a_mismatch(project) -> None:
    project.feature("answered", ANSWERED)
    project.run("--aitest-record=once", "-k", "plans").assert_outcomes(passed=1, deselected=2)
    go_offline(project)
    project.feature("answered", ANSWERED.replace("| priority    | high  |", "| priority    | low   |"))
    result = project.run("--aitest-record=none", "-k", "plans")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*the answer to the MCP server's question \"How should the task 'Buy milk' be planned?*differs from the "
            "recording*",
            '*-    "priority": "high"*',
            '*+    "priority": "low"*',
            "*Re-record it with: pytest *--aitest-record=all*",
        ]
    )


@pytest.mark.script(SCRIPT)
def test_an_unanswered_question_fails_its_scenario_with_the_question_and_the_next_passes(project) -> None:
    project.feature("unanswered", UNANSWERED)
    result = project.run("--aitest-json", "results.json")
    result.assert_outcomes(passed=1, failed=1)
    found = results(project)
    failed = found["Nobody answers"]
    assert failed["status"] == "failed"
    assert failed["message"].splitlines()[0] == (
        "the agent could not answer: during the call to tool 'plan_task', the MCP server asked the user "
        "\"How should the task 'Buy milk' be planned? Choose its priority.\", and the scenario gives no answer: add"
    )
    assert "Given the user will answer the server's question with:\n  | priority | ... |" in failed["message"]
    [call] = failed["conversations"][0]["turns"][0]["tool_calls"]
    assert call["elicitations"][0]["action"] == "cancel"
    assert call["result_text"] == "The user did not confirm; no task was added (cancel)."

    declined = calls(found["The user declines"])["plan_task"]
    assert declined["elicitations"][0]["action"] == "decline"
    assert declined["elicitations"][0]["content"] is None


@pytest.mark.script(SCRIPT)
def test_roots_and_the_sampling_model_come_from_the_server_settings(project) -> None:
    add_agents(project)
    project.feature(
        "settings",
        """
        Feature: Settings
          Scenario: Roots
            Given the agent "todo-roots"
            When the user says "where to export"
            Then the response contains "file:///srv/x"

          Scenario: Sampling model
            Given the agent "todo-sampler"
            When the user says "add and summarise"
            Then the response contains "Summary: One urgent task: buy milk."
        """,
    )
    project.run("--aitest-json", "results.json").assert_outcomes(passed=2)
    found = results(project)
    exports = (project.pytester.path / "exports").as_uri()
    assert calls(found["Roots"])["export_targets"]["result_text"] == f"{exports}\nfile:///srv/x"
    [sampling] = calls(found["Sampling model"])["summarise_tasks"]["samplings"]
    assert sampling["model"] == "scripted-sampler"
    sampled = [
        body for body in project.server.requests if body["messages"][0]["content"] == "You summarise to-do lists."
    ]
    assert [body["model"] for body in sampled] == ["scripted-sampler"]


@pytest.mark.script(SCRIPT)
def test_a_shared_server_asks_each_scenario_its_own_user(project) -> None:
    add_agents(project)
    project.feature(
        "shared",
        """
        Feature: One server for the feature
          Scenario: The first user answers
            Given the agent "todo-shared"
            And the user will answer the server's question with:
              | priority    | low |
              | due_in_days | 1   |
              | confirm     | yes |
            When the user says "plan milk"
            Then the response contains "Added task 1 'Buy milk': low priority, due in 1 days."

          Scenario: The second user declines
            Given the agent "todo-shared"
            And the user declines the server's questions
            When the user says "plan milk"
            Then the response contains "no task was added (decline)"

          Scenario: The third user answers otherwise
            Given the agent "todo-shared"
            And the user will answer the server's question with:
              | priority    | high |
              | due_in_days | 2    |
              | confirm     | true |
            When the user says "plan milk"
            Then the response contains "Added task 2 'Buy milk': high priority, due in 2 days."
        """,
    )
    project.run("-p", "no:randomly").assert_outcomes(passed=3)


@pytest.mark.script(SCRIPT)
def test_the_reports_show_what_the_server_asked(project) -> None:
    project.feature("answered", ANSWERED)
    project.run("--aitest-report", "report.html", "--aitest-md", "report.md").assert_outcomes(passed=3)
    markdown = (project.pytester.path / "report.md").read_text(encoding="utf-8")
    assert "### What MCP servers asked" in markdown
    assert (
        "plan\\_task asked the user: How should the task 'Buy milk' be planned? Choose its priority. → answered "
        'accept {"priority": "high", "due\\_in\\_days": 3, "confirm": true}'
    ) in markdown
    assert "summarise\\_tasks sampling: scripted-default," in markdown
    html = (project.pytester.path / "report.html").read_text(encoding="utf-8")
    assert '"logs":[{"level":"info","logger":"todo.review","data":"reviewed task 1: Buy milk"' in html
    assert "function serverTimeline(call)" in html


EVERYTHING_AGENTS = """

@pytest.fixture
def aitest_agents(base_agents):
    everything = MCPServer(name="everything", roots=["/tmp/aitest-roots"], log_level="debug", **{options!r})
    return [*base_agents, Agent(name="everything", provider=base_agents[0].provider, mcp_servers=[everything])]
"""

EVERYTHING_SCRIPT = {
    "rules": [
        {"user_regex": "trigger-sampling-request context: a haiku", "replies": [{"content": "Sampled haiku."}]},
        {
            "user": "everything asks",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "trigger-elicitation-request", "arguments": {}},
                        {"name": "trigger-sampling-request", "arguments": {"prompt": "a haiku", "maxTokens": 30}},
                        {"name": "get-roots-list", "arguments": {}},
                        {"name": "trigger-long-running-operation", "arguments": {"duration": 0.4, "steps": 2}},
                    ]
                },
                {"content": "done"},
            ],
        },
    ]
}

EVERYTHING_FEATURE = """
Feature: server-everything asks
  Scenario: Everything asks
    Given the agent "everything"
    And the user will answer the server's question with:
      | name                       | Ada Lovelace |
      | check                      | yes          |
      | integer                    | 7            |
      | number                     | 2.5          |
      | titledSingleSelectEnum     | Wonder Woman |
      | untitledMultipleSelectEnum | Piano, Drums |
    When the user says "everything asks"
    Then the server asks the user for "provide inputs for the following fields"
    And the server reports progress
"""


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
@pytest.mark.script(EVERYTHING_SCRIPT)
def test_server_everything_asks_and_is_answered(project, everything: Everything, transport: str) -> None:
    conftest = project.pytester.path / "conftest.py"
    agents = EVERYTHING_AGENTS.replace("{options!r}", repr(everything.options))
    conftest.write_text(conftest.read_text().replace("def aitest_agents():", "def base_agents():") + agents)
    project.feature("everything", EVERYTHING_FEATURE)
    result = project.run("--aitest-json", "results.json", "--aitest-md", "report.md")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*server everything: 1 tool(s) that run only as MCP tasks are not offered: simulate-research-query*"]
    )
    test = results(project)["Everything asks"]
    conversation = test["conversations"][0]
    assert conversation["task_only_tools"] == {"everything": ["simulate-research-query"]}
    offered = [tool["name"] for tool in conversation["tools"]]
    assert {"trigger-elicitation-request", "trigger-sampling-request", "get-roots-list"} <= set(offered)
    found = calls(test)

    elicited = found["trigger-elicitation-request"]
    assert elicited["elicitations"][0]["content"] == {
        "name": "Ada Lovelace",
        "check": True,
        "integer": 7,
        "number": 2.5,
        "titledSingleSelectEnum": "hero-3",
        "untitledMultipleSelectEnum": ["Piano", "Drums"],
    }
    assert '"name": "Ada Lovelace"' in elicited["result_text"]
    assert '"titledSingleSelectEnum": "hero-3"' in elicited["result_text"]

    sampled = found["trigger-sampling-request"]
    assert '"text": "Sampled haiku."' in sampled["result_text"]
    assert sampled["samplings"][0]["messages"][-1] == {
        "role": "user",
        "content": "Resource trigger-sampling-request context: a haiku",
    }
    assert sampled["samplings"][0]["max_tokens"] == 30

    assert "URI: file:///tmp/aitest-roots" in found["get-roots-list"]["result_text"]
    progress = found["trigger-long-running-operation"]["progress"]
    assert [(note["progress"], note["total"]) for note in progress] == [(1, 2), (2, 2)]
    markdown = (project.pytester.path / "report.md").read_text(encoding="utf-8")
    assert "server everything: 1 tool(s) that run only as MCP tasks are not offered: simulate-research-query" in (
        markdown.replace("\\", "")
    )


@pytest.mark.script(SCRIPT)
def test_real_servers_against_a_recording_get_the_recorded_sampling_answers_without_a_model(project) -> None:
    project.feature("answered", ANSWERED)
    only = ("-k", "summary", "--aitest-json", "results.json")
    project.run("--aitest-record=once", *only).assert_outcomes(passed=1, deselected=2)
    recorded = calls(results(project)["A summary by the client's model"])["summarise_tasks"]
    project.server.stop()
    requests = len(project.server.requests)
    project.run("--aitest-record=none", "--aitest-real-tools", *only).assert_outcomes(passed=1, deselected=2)
    assert len(project.server.requests) == requests
    again = calls(results(project)["A summary by the client's model"])["summarise_tasks"]
    assert again["result_text"] == recorded["result_text"] == "Summary: One urgent task: buy milk."
    assert [(s["text"], s["total_tokens"], s["messages"]) for s in again["samplings"]] == [
        (s["text"], s["total_tokens"], s["messages"]) for s in recorded["samplings"]
    ]


@pytest.mark.script(SCRIPT)
def test_a_masked_answer_to_a_question_replays(project) -> None:
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_record_mask = \\bhigh\\b\n"
    project.pytester.makeini(ini)
    project.feature(
        "masked",
        """
        Feature: Masked
          Scenario: The user's answer is masked in the recording
            Given the agent "todo"
            And the user will answer the server's question with:
              | priority    | high |
              | due_in_days | 3    |
              | confirm     | yes  |
            When the user says "plan milk"
            Then the server asks the user for "choose its priority"
        """,
    )
    project.run("--aitest-record=once").assert_outcomes(passed=1)
    [recording] = (project.pytester.path / "recordings").rglob("*.json")
    assert '"priority": "[MASKED]"' in recording.read_text(encoding="utf-8")
    go_offline(project)
    project.run("--aitest-record=none").assert_outcomes(passed=1)


def _price(project, prices: dict[str, float]) -> None:
    """Price the named scripted models at that many dollars per token."""
    table = {model: {"input": dollars * 1e6, "output": dollars * 1e6} for model, dollars in prices.items()}
    (project.pytester.path / "prices.json").write_text(json.dumps(table))
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_pricing = prices.json\n")


@pytest.mark.script(SCRIPT)
def test_sampling_is_priced_on_its_own_model_and_an_unpriced_one_is_named(project) -> None:
    add_agents(project)
    project.feature(
        "cost",
        """
        Feature: Cost
          Scenario: Sampling costs
            Given the agent "todo-sampler"
            When the user says "add and summarise"
            Then the conversation costs less than $1000000
        """,
    )
    _price(project, {"scripted-default": 1})
    result = project.run("--aitest-record=live", "--aitest-json", "results.json")
    result.assert_outcomes(failed=1)
    test = results(project)["Sampling costs"]
    assert test["message"].startswith("price unknown for scripted-sampler (sampling for an MCP server): add it")
    turn = test["conversations"][0]["turns"][0]
    [sampling] = calls(test)["summarise_tasks"]["samplings"]
    agent_tokens = sum(call["usage"]["total_tokens"] for call in turn["model_calls"])
    assert sampling["cost_usd"] is None
    assert turn["cost_usd"] == pytest.approx(agent_tokens)

    _price(project, {"scripted-default": 1, "scripted-sampler": 2})
    project.run("--aitest-record=live", "--aitest-json", "results.json").assert_outcomes(passed=1)
    test = results(project)["Sampling costs"]
    turn = test["conversations"][0]["turns"][0]
    [sampling] = calls(test)["summarise_tasks"]["samplings"]
    assert sampling["cost_usd"] == pytest.approx(2 * sampling["total_tokens"])
    assert turn["cost_usd"] == pytest.approx(agent_tokens + 2 * sampling["total_tokens"])


@pytest.mark.script(SCRIPT)
def test_the_run_estimates_what_repeats_cost_with_their_sampling(project) -> None:
    add_agents(project)
    _price(project, {"scripted-default": 1, "scripted-sampler": 1000})
    project.feature(
        "repeated",
        """
        Feature: Repeated
          Scenario: Summaries
            Given the agent "todo-sampler"
            When the user says "add and summarise"
        """,
    )
    project.run("--aitest-record=all", "--aitest-json", "results.json").assert_outcomes(passed=1)
    [turn] = results(project)["Summaries"]["conversations"][0]["turns"]
    result = project.run("--aitest-record=all", "--aitest-repeat", "2")
    result.stdout.fnmatch_lines(
        [f"repeats: 1 scenario, up to 2 attempts, 2 of them live; estimated cost ${2 * turn['cost_usd']:,.2f} for 2*"]
    )


@pytest.mark.script(SCRIPT)
def test_log_messages_below_the_servers_log_level_are_dropped(project) -> None:
    add_agents(project)
    project.feature(
        "levels",
        """
        Feature: Levels
          Scenario: Errors and worse
            Given the agent "faulty-errors"
            When the user says "chatter a little"

          Scenario: No logs
            Given the agent "faulty-no-logs"
            When the user says "chatter a little"
        """,
    )
    project.run("--aitest-json", "results.json").assert_outcomes(passed=2)
    found = results(project)
    errors = calls(found["Errors and worse"])["chatter"]
    assert [log["level"] for log in errors["logs"]] == ["error", "critical", "alert", "emergency"] * 2
    assert len(errors["progress"]) == 16
    assert calls(found["No logs"])["chatter"]["logs"] == []


@pytest.mark.script(SCRIPT)
def test_what_a_server_sends_during_a_call_is_kept_within_bounds_and_what_was_left_out_is_said(
    project,
    browser: Browser,  # noqa: F811
) -> None:
    project.feature(
        "chatty",
        """
        Feature: Chatty
          Scenario: A chatty server
            Given the agent "faulty"
            When the user says "chatter a lot"

          Scenario: Long texts
            Given the agent "todo"
            And the user declines the server's questions
            When the user says "a long task"
        """,
    )
    outputs = ("--aitest-json", "results.json", "--aitest-md", "report.md", "--aitest-report", "report.html")
    project.run(*outputs).assert_outcomes(passed=2)
    found = results(project)
    chatter = calls(found["A chatty server"])["chatter"]
    debug = sum(1 for number in range(1, 151) if number % 8 == 0)  # below the default log level, info
    assert (len(chatter["progress"]), len(chatter["logs"])) == (100, 100)
    assert chatter["left_out"] == {"progress": 50, "logs": 150 - debug - 100}
    data = chatter["logs"][0]["data"]
    assert data.startswith('{"chatter": 1, "padding": "xxx')
    sent = len(json.dumps({"chatter": 1, "padding": "x" * 10000}))
    assert data.endswith(f"[cut: the server sent {sent:,} characters; the first 4,000 are kept]")
    markdown = (project.pytester.path / "report.md").read_text(encoding="utf-8")
    assert "chatter: 32 log messages and 50 progress notifications more than a call keeps were left out" in markdown
    page = open_report(browser, project.pytester.path / "report.html")
    try:
        page.get_by_text("A chatty server", exact=True).first.click()
        page.locator(".tool-head", has_text="chatter").first.click()
        page.get_by_text("During the call: 200 messages from the server").first.click()
        assert page.get_by_text(
            "left out, beyond what a call keeps: 50 progress notifications, 32 log messages"
        ).first.is_visible()
    finally:
        page.context.close()

    long = calls(found["Long texts"])
    [sampling] = long["summarise_tasks"]["samplings"]
    assert len(sampling["messages"][1]["content"]) < 20_100
    assert "[cut: the server sent " in sampling["messages"][1]["content"]
    [question] = long["plan_task"]["elicitations"]
    assert len(question["message"]) < 20_100 and question["message"].endswith("the first 20,000 are kept]")
