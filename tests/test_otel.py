"""OpenTelemetry export: real pytest runs on the scripted model with the banking MCP server, traces sent to a real
OTLP/HTTP receiver on loopback (or written as OTLP JSON lines), the trace context sent to the model and to an MCP
server started by the test."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TRACE_ECHO = str(Path(__file__).with_name("trace_echo_mcp.py"))

SCRIPT = {
    "rules": [
        {"user_regex": "CRITERION:\\s+polite", "replies": [{"content": '{"pass": true, "reasoning": "Polite."}'}]},
        {
            "user_regex": "checking balance",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "get_balance", "arguments": {"account": "checking"}},
                        {"name": "traceparent", "arguments": {}},
                    ]
                },
                {"content": "Your checking balance is ${result:get_balance.formatted}."},
            ],
        },
        {
            "user_regex": "overdraft",
            "replies": [
                {"tool_calls": [{"name": "overdraw_everything", "arguments": {}}]},
                {"content": "I cannot do that."},
            ],
        },
    ]
}

FEATURE = """
Feature: Traced
  Scenario: Balance
    Given the agent "traced"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"
    And the response contains "1,500.00"
    And the response satisfies "polite"

  Scenario: Overdraft
    Given the agent "traced"
    When the user says "Give me an overdraft"
    Then the response contains "cannot"
"""

AGENTS = """

@pytest.fixture
def aitest_agents():
    provider = Provider(model="scripted-default", base_url={base_url!r}, max_retries=0, timeout=10)
    echo = MCPServer(name="trace-echo", command=[sys.executable, {echo!r}], env={{"AITEST_TEST_MARKER": MARKER}})
    return [
        Agent(name="traced", provider=provider, system_prompt="You are a careful bank clerk.",
              mcp_servers=[server("banking"), echo]),
    ]
"""

MESSAGE_TEXTS = ("checking balance", "Your checking balance", "USD", "careful bank clerk", "Polite.")
"""Texts of the conversation (the user's message, the reply, a tool result, the system prompt, the judge's
reasoning): in the traces only with --aitest-otel-content."""


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: it decodes each protobuf export request it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.requests.append(MessageToDict(ExportTraceServiceRequest.FromString(body)))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1/traces"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[dict[str, Any]]:
        return [span for request in self.requests for span in spans_of(request)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def spans_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans of an OTLP export request (as a dict), each with its attributes as a plain dict."""
    spans = []
    for resource in request.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                span["attrs"] = attributes(span.get("attributes", []))
                for event in span.get("events", []):
                    event["attrs"] = attributes(event.get("attributes", []))
                spans.append(span)
    return spans


def attributes(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        value = pair["value"]
        if "arrayValue" in value:
            values[pair["key"]] = [next(iter(item.values())) for item in value["arrayValue"].get("values", [])]
        else:
            kind, item = next(iter(value.items()))
            values[pair["key"]] = int(item) if kind == "intValue" else item
    return values


def hex_id(value: str) -> str:
    """A protobuf id, base64 in MessageToDict, as hex."""
    import base64

    return base64.b64decode(value).hex()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    started = Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", started.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")
    yield started
    started.close()


def traced_project(project) -> None:
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + AGENTS.format(base_url=project.server.base_url, echo=TRACE_ECHO))
    project.feature("traced", FEATURE)


def results(project) -> dict[str, dict[str, Any]]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


@pytest.mark.script(SCRIPT)
def test_each_scenario_is_a_trace_that_the_model_and_the_mcp_server_join(project, receiver) -> None:
    traced_project(project)
    result = project.run("--aitest-otel", "--aitest-json", "results.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*aitest otel: 2 traces exported to {receiver.url}*"])

    spans = receiver.spans()
    traces: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        traces.setdefault(hex_id(span["traceId"]), []).append(span)
    assert len(traces) == 2
    tests = results(project)
    balance = tests["Balance"]["conversations"][0]
    trace = traces[balance["trace_id"]]
    by_name = {span["name"]: span for span in trace}
    assert sorted(span["name"] for span in trace) == [
        "chat scripted-default",
        "chat scripted-default",
        "execute_tool get_balance",
        "execute_tool traceparent",
        "invoke_agent traced",
    ]
    agent = by_name["invoke_agent traced"]
    assert hex_id(agent["spanId"]) == balance["span_id"] and "parentSpanId" not in agent
    assert agent["attrs"]["gen_ai.operation.name"] == "invoke_agent"
    assert agent["attrs"]["gen_ai.agent.name"] == "traced"
    assert agent["attrs"]["gen_ai.conversation.id"] == balance["trace_id"]
    assert agent["attrs"]["gen_ai.request.model"] == "scripted-default"
    assert agent["attrs"]["aitest.replayed"] is False
    events = [event for event in agent["events"] if event["name"] == "gen_ai.evaluation.result"]
    verdicts = [(e["attrs"]["gen_ai.evaluation.name"], e["attrs"]["gen_ai.evaluation.score.label"]) for e in events]
    assert verdicts == [
        ("polite", "passed"),
        ('Then the agent calls "get_balance"', "passed"),
        ('And the response contains "1,500.00"', "passed"),
        ('And the response satisfies "polite"', "passed"),
    ]

    chats = [span for span in trace if span["name"].startswith("chat")]
    chats.sort(key=lambda span: int(span["startTimeUnixNano"]))
    turn = balance["turns"][0]
    for chat, call in zip(chats, turn["model_calls"], strict=True):
        assert hex_id(chat["spanId"]) == call["span_id"]
        assert hex_id(chat["parentSpanId"]) == balance["span_id"]
        assert chat["attrs"]["gen_ai.operation.name"] == "chat"
        assert chat["attrs"]["gen_ai.request.model"] == "scripted-default"
        assert chat["attrs"]["gen_ai.response.model"] == call["model"]
        assert chat["attrs"]["gen_ai.usage.input_tokens"] == call["usage"]["prompt_tokens"] > 0
        assert chat["attrs"]["gen_ai.usage.output_tokens"] == call["usage"]["completion_tokens"] > 0
        assert chat["attrs"]["gen_ai.response.finish_reasons"] == [call["finish_reason"]]
        assert int(chat["endTimeUnixNano"]) > int(chat["startTimeUnixNano"]) >= int(agent["startTimeUnixNano"])

    tool = by_name["execute_tool get_balance"]
    call = turn["tool_calls"][0]
    assert tool["attrs"]["gen_ai.tool.name"] == "get_balance"
    assert tool["attrs"]["gen_ai.tool.call.id"] == call["id"]
    assert tool["attrs"]["mcp.method.name"] == "tools/call"
    assert tool["attrs"]["aitest.mcp.server"] == "banking"
    assert tool.get("status", {}).get("code") != "STATUS_CODE_ERROR"

    # the MCP server started by the test was sent the trace context of its call's span
    echo = by_name["execute_tool traceparent"]
    assert turn["tool_calls"][1]["result_text"] == f"00-{balance['trace_id']}-{hex_id(echo['spanId'])}-01"
    # the model was sent the trace context of each chat span (the judge's request is not the agent's)
    sent = {headers["traceparent"] for headers in project.server.request_headers if "traceparent" in headers}
    chat_parents = {
        f"00-{trace_id}-{hex_id(span['spanId'])}-01"
        for trace_id, spans_ in traces.items()
        for span in spans_
        if span["name"].startswith("chat")
    }
    assert sent == chat_parents and len(sent) == 4

    overdraft = traces[tests["Overdraft"]["conversations"][0]["trace_id"]]
    failed_tool = next(span for span in overdraft if span["name"] == "execute_tool overdraw_everything")
    assert failed_tool["status"]["code"] == "STATUS_CODE_ERROR"
    assert failed_tool["attrs"]["error.type"] == "tool_error"

    # without --aitest-otel-content no message text is in any span
    exported = json.dumps(receiver.requests)
    for text in MESSAGE_TEXTS:
        assert text not in exported


@pytest.mark.script(SCRIPT)
def test_contents_only_when_asked_and_a_replay_is_marked(project, receiver) -> None:
    traced_project(project)
    project.run("--aitest-record=once", "--aitest-otel-file", "live.jsonl", "--aitest-otel-content").assert_outcomes(
        passed=2
    )
    lines = (project.pytester.path / "live.jsonl").read_text().splitlines()
    assert len(lines) == 2
    live = [span for line in lines for span in spans_of(json.loads(line))]
    content = json.dumps(live)
    for text in MESSAGE_TEXTS:
        assert text in content
    agents = [span for span in live if span["name"] == "invoke_agent traced"]
    assert [len(span["traceId"]) for span in agents] == [32, 32]  # hex, as OTLP/JSON has them
    assert [span["attrs"]["aitest.replayed"] for span in agents] == [False, False]
    assert receiver.requests == []  # a file only: nothing sent

    result = project.run("--aitest-record=none", "--aitest-otel-file", "replayed.jsonl")
    result.assert_outcomes(passed=2)
    replayed = [span for line in (project.pytester.path / "replayed.jsonl").read_text().splitlines()
                for span in spans_of(json.loads(line))]
    agents = [span for span in replayed if span["name"] == "invoke_agent traced"]
    assert [span["attrs"]["aitest.replayed"] for span in agents] == [True, True]
    assert {span["attrs"]["aitest.source"] for span in replayed if "aitest.source" in span["attrs"]} == {"replayed"}
    for text in MESSAGE_TEXTS:
        assert text not in json.dumps(replayed)


@pytest.mark.script(SCRIPT)
def test_without_the_option_nothing_is_traced(project, receiver) -> None:
    traced_project(project)
    project.run("--aitest-json", "results.json").assert_outcomes(passed=2)
    assert receiver.requests == []
    assert not any("traceparent" in headers for headers in project.server.request_headers)
    balance = results(project)["Balance"]["conversations"][0]
    assert balance["trace_id"] is None
    assert balance["turns"][0]["tool_calls"][1]["result_text"] == ""


@pytest.mark.script(SCRIPT)
def test_an_endpoint_that_refuses_the_traces_is_named_with_why(project, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing = Receiver(status=401)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", refusing.url)
    try:
        traced_project(project)
        result = project.run("--aitest-otel")
    finally:
        refusing.close()
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"aitest otel: 2 traces not exported to {refusing.url}: *401*"])


@pytest.mark.script(SCRIPT)
def test_without_the_extra_the_option_is_a_usage_error(project) -> None:
    traced_project(project)
    blocker = project.pytester.path / "no_otel.py"
    blocker.write_text('import sys\nsys.modules["opentelemetry.sdk"] = None\n')
    result = project.pytester.runpytest_subprocess("-p", "no_otel", "--aitest-otel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--aitest-otel needs the OpenTelemetry libraries: pip install 'aitest-bdd[otel]'" in result.stderr.str()


def test_scripted_model_keeps_request_headers(scripted_server) -> None:
    import httpx2 as httpx

    server = scripted_server({"rules": [{"user_regex": ".", "replies": [{"content": "hi"}]}]})
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    httpx.post(f"{server.base_url}/chat/completions", json=body, headers={"traceparent": "00-a-b-01"})
    assert server.request_headers[-1]["traceparent"] == "00-a-b-01"

