"""Agents that apps run, in whole pytest runs: a fault fails its scenario with one message and never the run; the
edges (opaque agents, streaming, the Responses API, replays, repeats, secrets, the Python API) work."""

from __future__ import annotations

import json

import openai
import pytest

import aitest_bdd.apps.callable
import aitest_bdd.apps.service

PINNED = (openai, aitest_bdd.apps.callable, aitest_bdd.apps.service)
"""Imported here, so that every in-process run uses these modules as loaded once: pytester forgets the modules a run
imports, and importing them anew makes each run slower by a second."""

SECRET = "sk-test-secret-123456"
SCRIPT = {
    "rules": [
        {"user_regex": "model breaks", "replies": [{"error": {"status": 400, "message": "the model is down"}}]},
        {
            "user_regex": "balance of checking",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Checking holds ${result:get_balance.formatted}."},
            ],
        },
        {
            "user_regex": "frozen account",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "frozen"}}]},
                {"content": "That account is frozen."},
            ],
        },
        {"user_regex": "Bearer", "replies": [{"content": "You said {user}"}]},
        {"user_regex": ".", "replies": [{"content": "Hello there!"}]},
    ]
}

CONFTEST = """
import json
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from aitest_bdd import Agent, Provider
from aitest_bdd.app import AppTurn
from aitest_bdd.apps.callable import CallableApp
from aitest_bdd.apps.service import ServiceApp

MARKER = {marker!r}
BASE_URL = {base_url!r}
SEEN = Path(__file__).parent / "seen.jsonl"
PARAMETERS = {{"type": "object", "properties": {{"account": {{"type": "string"}}}}, "required": ["account"]}}
CHAT_TOOLS = [{{"type": "function", "function": {{"name": "get_balance", "parameters": PARAMETERS}}}}]
RESPONSES_TOOLS = [{{"type": "function", "name": "get_balance", "parameters": PARAMETERS}}]
ORPHAN_AND_EXIT = (
    "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('no config file', file=sys.stderr); sys.exit(3)"
)


def get_balance(account):
    if account == "frozen":
        return "Error: account frozen"
    return json.dumps({{"account": account, "formatted": "1,500.00"}})


def client(request):
    return OpenAI(base_url=request.model.base_url, api_key=request.model.api_key, max_retries=0)


def note(request):
    with SEEN.open("a") as seen:
        seen.write(json.dumps({{"state": request.state, "conversation": request.conversation_id}}) + "\\n")


def streaming_chat(request):
    \"\"\"A tool loop of its own on streamed chat completions.\"\"\"
    note(request)
    messages = [*request.history, {{"role": "user", "content": request.message}}]
    with client(request) as openai:
        while True:
            stream = openai.chat.completions.create(
                model=request.model.model, messages=messages, tools=CHAT_TOOLS, stream=True,
                stream_options={{"include_usage": True}},
            )
            content, calls = "", {{}}
            for chunk in stream:
                for choice in chunk.choices:
                    content += choice.delta.content or ""
                    for part in choice.delta.tool_calls or []:
                        call = calls.setdefault(part.index, {{"id": "", "name": "", "arguments": ""}})
                        call["id"] = part.id or call["id"]
                        call["name"] += part.function.name or ""
                        call["arguments"] += part.function.arguments or ""
            if not calls:
                return AppTurn(reply=content, state=(request.state or 0) + 1)
            asked = [
                {{"id": c["id"], "type": "function", "function": {{"name": c["name"], "arguments": c["arguments"]}}}}
                for c in calls.values()
            ]
            messages.append({{"role": "assistant", "content": content or None, "tool_calls": asked}})
            for c in calls.values():
                result = get_balance(**json.loads(c["arguments"]))
                messages.append({{"role": "tool", "tool_call_id": c["id"], "content": result}})


def responses_loop(request):
    \"\"\"The same on the Responses API, streamed.\"\"\"
    items = [*request.history, {{"role": "user", "content": request.message}}]
    with client(request) as openai:
        while True:
            events = openai.responses.create(
                model=request.model.model, input=items, tools=RESPONSES_TOOLS, stream=True
            )
            response = next(event.response for event in events if event.type == "response.completed")
            calls = [item for item in response.output if item.type == "function_call"]
            if not calls:
                return response.output_text
            for call in calls:
                items.append({{"type": "function_call", "call_id": call.call_id, "name": call.name,
                              "arguments": call.arguments}})
                output = get_balance(**json.loads(call.arguments))
                items.append({{"type": "function_call_output", "call_id": call.call_id, "output": output}})


@pytest.fixture
def aitest_agents():
    provider = Provider(model="gpt-4.1-mini", base_url=BASE_URL, max_retries=0, timeout=10)
    responses = provider.model_copy(update={{"api": "responses"}})
    return [
        Agent(name="opaque", provider=provider, app=CallableApp(lambda request: "Your balance is $42.")),
        Agent(name="streaming", provider=provider, app=CallableApp(streaming_chat)),
        Agent(name="responses", provider=responses, app=CallableApp(responses_loop)),
        Agent(name="broken", provider=provider, app=ServiceApp(
            command=[sys.executable, "-c", ORPHAN_AND_EXIT], url="http://127.0.0.1:{{port}}/chat",
            env={{"AITEST_TEST_MARKER": MARKER}},
        )),
        Agent(name="echo", provider=provider, app=ServiceApp(
            command=[sys.executable, str(Path(__file__).parent / "echo_service.py"), "{{port}}"],
            url="http://127.0.0.1:{{port}}/turn", protocol="json", request={{"text": "{{message}}"}},
            reply_path="reply", headers={{"Authorization": "Bearer {secret}"}},
        )),
    ]
"""


ECHO_SERVICE = """
import json
import os
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer


class Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        said = f"{body['text']} with {self.headers['Authorization']}"
        ask = {"model": os.environ["OPENAI_MODEL"], "messages": [{"role": "user", "content": said}]}
        model = urllib.request.Request(
            os.environ["OPENAI_BASE_URL"] + "/chat/completions", json.dumps(ask).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]},
        )
        with urllib.request.urlopen(model) as answer:
            reply = json.load(answer)["choices"][0]["message"]["content"]
        data = json.dumps({"reply": reply}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""
"""A service that asks the model to echo what it was sent, its Authorization header included."""


@pytest.fixture
def apps(project):
    """The project with the app agents of CONFTEST."""
    conftest = CONFTEST.format(marker=project.marker, base_url=project.server.base_url, secret=SECRET)
    project.pytester.makeconftest(conftest)
    (project.pytester.path / "echo_service.py").write_text(ECHO_SERVICE, encoding="utf-8")
    return project


def run_apart(project, *args: str) -> pytest.RunResult:
    """A run in a process of its own, for a ServiceApp: its HTTP client loads its transport on first use, which an
    in-process run would load anew, next to the copy that the client's error mapping holds."""
    return project.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def results(project) -> dict:
    return json.loads((project.pytester.path / "results.json").read_text(encoding="utf-8"))


def turns(project, test: int = 0) -> list[dict]:
    return [turn for conversation in results(project)["tests"][test]["conversations"] for turn in conversation["turns"]]


def seen(project) -> list[dict]:
    path = project.pytester.path / "seen.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return [json.loads(line) for line in lines]


@pytest.mark.script(SCRIPT)
def test_an_opaque_agent_fails_tool_steps_for_want_of_tool_calls_and_passes_reply_steps(apps) -> None:
    apps.feature(
        "opaque",
        """
        Feature: Opaque
          Scenario: Tools
            Given the agent "opaque"
            When the user says "What's my balance?"
            Then the agent calls "get_balance"

          Scenario: Reply
            Given the agent "opaque"
            When the user says "What's my balance?"
            Then the response contains "$42"
        """,
    )
    result = apps.run("--aitest-record=once")

    result.assert_outcomes(passed=1, failed=1)
    assert result.stdout.str().count("agent 'opaque' does not expose its tool calls") == 1  # said once, not chained
    assert "called no tools" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*does not expose its tool calls*", "", "Turn 1", "  user: What's my balance?"])
    replayed = apps.run("--aitest-record=none", "-k", "reply")  # a turn with no model call is recorded too
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*1 turn (1 live)*"])  # nothing went through the proxy: the agent ran live


@pytest.mark.script(SCRIPT)
@pytest.mark.parametrize("agent", ["streaming", "responses"])
def test_tool_calls_are_read_from_streamed_traffic_recorded_and_replayed(apps, agent: str) -> None:
    apps.feature(
        "bank",
        f"""
        Feature: Bank
          Scenario: Balance
            Given the agent "{agent}"
            When the user says "What is the balance of checking?"
            Then the agent calls "get_balance" with:
              | account | checking |
            And the response contains "1,500.00"

          Scenario: Frozen
            Given the agent "{agent}"
            When the user says "Look at my frozen account"
            Then the agent calls "get_balance"
            And the response contains "frozen"
        """,
    )
    recorded = apps.run("--aitest-record=once", "--aitest-json", "results.json")
    recorded.assert_outcomes(passed=2)
    asked = len(apps.server.requests)
    assert asked == 4

    apps.server.stop()
    replayed = apps.run("--aitest-record=none", "--aitest-json", "results.json")

    replayed.assert_outcomes(passed=2)
    assert len(apps.server.requests) == asked
    balance, frozen = turns(apps, 0), turns(apps, 1)
    assert {turn["source"] for turn in balance + frozen} == {"replayed"}
    (call,) = balance[0]["tool_calls"]
    assert (call["name"], call["arguments"], call["is_error"]) == ("get_balance", {"account": "checking"}, False)
    assert json.loads(call["result_text"])["formatted"] == "1,500.00"
    (failed,) = frozen[0]["tool_calls"]
    assert (failed["result_text"], failed["is_error"]) == ("Error: account frozen", True)
    assert balance[0]["usage"]["prompt_tokens"] > 0 and balance[0]["usage"]["completion_tokens"] > 0
    assert len(balance[0]["model_calls"]) == 2


@pytest.mark.script(SCRIPT)
def test_a_model_failure_fails_its_scenario_with_the_models_error_and_the_next_one_passes(apps) -> None:
    apps.feature(
        "failure",
        """
        Feature: Failure
          Scenario: Broken
            Given the agent "streaming"
            When the user says "the model breaks"
            Then the response contains "anything"

          Scenario: Fine
            Given the agent "streaming"
            When the user says "What is the balance of checking?"
            Then the response contains "1,500.00"
        """,
    )
    result = apps.run("-rf")

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    said = "the agent could not answer: model 'gpt-4.1-mini' request failed with HTTP 400: the model is down"
    assert output.splitlines().count(said) == 1
    assert "streaming_chat failed" not in output
    assert "BadRequestError" not in output and "502" not in output


@pytest.mark.script(SCRIPT)
def test_a_replay_that_no_longer_matches_fails_its_scenario_with_the_command_to_record_it_again(apps) -> None:
    feature = apps.feature(
        "bank",
        """
        Feature: Bank
          Scenario: Balance
            Given the agent "streaming"
            When the user says "What is the balance of checking?"
            Then the response contains "1,500.00"

          Scenario: Greeting
            Given the agent "streaming"
            When the user says "hello"
            Then the response contains "Hello"
        """,
    )
    apps.run("--aitest-record=once").assert_outcomes(passed=2)
    feature.write_text(feature.read_text().replace("balance of checking?", "balance of checking, please?"))

    result = apps.run("--aitest-record=none", "--aitest-json", "results.json", "--aitest-report", "report.html")

    result.assert_outcomes(passed=1, failed=1)
    assert "Re-record it with: pytest 'bank.feature::test_balance' --aitest-record=all" in result.stdout.str()
    failed, passed = results(apps)["tests"]
    assert (failed["status"], passed["status"]) == ("failed", "passed")
    assert "the model request of turn 1 no longer matches the recording" in failed["message"]
    assert '+      "content": "What is the balance of checking, please?"' in failed["message"]
    assert (apps.pytester.path / "report.html").stat().st_size > 0


@pytest.mark.script(SCRIPT)
def test_an_app_that_cannot_start_fails_its_scenario_in_one_line_and_leaves_no_process(apps) -> None:
    apps.feature(
        "start",
        """
        Feature: Start
          Scenario: Broken
            Given the agent "broken"
            When the user says "hello"
            Then the response contains "Hello"

          Scenario: Fine
            Given the agent "opaque"
            When the user says "hello"
            Then the response contains "$42"
        """,
    )
    result = run_apart(apps, "-rf")

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    (line,) = [line for line in output.splitlines() if line.startswith("agent 'broken' could not start: ")]
    assert line.endswith("exited before it was ready")
    assert "no config file" in output
    assert apps.live_servers() == []


@pytest.mark.script(SCRIPT)
def test_a_secret_in_an_apps_headers_is_masked_in_results_report_and_recording(apps) -> None:
    apps.feature(
        "secret",
        """
        Feature: Secret
          Scenario: Echo
            Given the agent "echo"
            When the user says "hi"
            Then the response contains "You said hi"
        """,
    )
    args = ("--aitest-record=once", "--aitest-json", "results.json", "--aitest-report", "report.html")
    result = run_apart(apps, *args)

    result.assert_outcomes(passed=1)
    assert turns(apps)[0]["final_response"] == "You said hi with [SECRET]"
    assert SECRET in json.dumps(apps.server.requests[-1]), "the model was sent the secret"
    written = [apps.pytester.path / "results.json", apps.pytester.path / "report.html"]
    written += list((apps.pytester.path / "recordings").rglob("*.json*"))
    assert len(written) == 3
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text and "[SECRET]" in text, path.name
    assert SECRET not in result.stdout.str()


@pytest.mark.script(SCRIPT)
def test_a_tool_stub_on_an_app_agent_fails_with_why(apps) -> None:
    apps.feature(
        "stub",
        '''
        Feature: Stub
          Scenario: Stubbed
            Given the agent "streaming"
            And the tool "get_balance" returns:
              """
              {"formatted": "9.00"}
              """
            When the user says "What is the balance of checking?"
            Then the response contains "9.00"
        ''',
    )
    result = apps.run()

    result.assert_outcomes(failed=1)
    assert "tool stubs and faults need aitest-bdd's own tool loop" in result.stdout.str()


@pytest.mark.script(SCRIPT)
def test_each_repeated_attempt_is_a_new_conversation_recorded_and_replayed(apps) -> None:
    apps.feature(
        "repeat",
        """
        Feature: Repeat
          @repeat(2)
          Scenario: Twice
            Given the agent "streaming"
            When the user says "What is the balance of checking?"
            And the user says "hello"
            Then the response contains "Hello"
        """,
    )
    apps.run("--aitest-record=once").assert_outcomes(passed=1)
    recorded = seen(apps)
    asked = len(apps.server.requests)
    apps.server.stop()
    apps.run("--aitest-record=none").assert_outcomes(passed=1)
    replayed = seen(apps)

    for attempts in (recorded, replayed):
        assert [entry["state"] for entry in attempts] == [None, 1, None, 1]
        first, second = {entry["conversation"] for entry in attempts[:2]}, {e["conversation"] for e in attempts[2:]}
        assert len(first) == len(second) == 1 and first != second
    assert asked == 6


@pytest.mark.script(SCRIPT)
def test_the_python_api_runs_an_app_agent(apps) -> None:
    apps.pytester.makepyfile(
        test_api="""
        from conftest import BASE_URL, CallableApp, streaming_chat

        from aitest_bdd import Agent, Provider

        agent = Agent(name="api", provider=Provider(model="gpt-4.1-mini", base_url=BASE_URL, max_retries=0),
                      app=CallableApp(streaming_chat))


        async def test_two_turns(aitest_run):
            first = await aitest_run(agent, "What is the balance of checking?")
            assert first.success, first.error
            assert first.tool_call_arg("get_balance", "account") == "checking"
            assert "1,500.00" in first.final_response
            second = await aitest_run(agent, "hello")
            assert second.final_response == "Hello there!"
            assert not second.tool_calls
        """
    )
    result = apps.run("test_api.py")

    result.assert_outcomes(passed=1)
    assert [entry["state"] for entry in seen(apps)] == [None, 1]
