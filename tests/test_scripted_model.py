"""The scripted model server, exercised with the real openai SDK over loopback HTTP."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from pydantic import ValidationError

from aitest_bdd.testing.scripted_model import (
    HTTPFault,
    Script,
    ScriptedModelServer,
    ScriptedReply,
    ScriptedToolCall,
    ScriptError,
    ScriptRule,
)


@contextmanager
def serve(*rules: ScriptRule, **script_fields: object) -> Iterator[tuple[ScriptedModelServer, openai.OpenAI]]:
    """Run a server for the given rules and yield it with a client that never retries."""
    with ScriptedModelServer(Script(rules=list(rules), **script_fields)) as server:
        yield server, openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def text_rule(user_regex: str, content: str, **fields: object) -> ScriptRule:
    return ScriptRule(user_regex=user_regex, replies=[ScriptedReply(content=content)], **fields)


def ask(client: openai.OpenAI, *messages: dict | str) -> openai.types.chat.ChatCompletion:
    """Send a conversation; plain strings are user messages."""
    wire = [{"role": "user", "content": m} if isinstance(m, str) else m for m in messages]
    return client.chat.completions.create(model="gpt-test", messages=wire)


def post_raw(server: ScriptedModelServer, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_exact_match_strips_whitespace_and_regex_ignores_case() -> None:
    rules = (
        ScriptRule(user="  hello  ", replies=[ScriptedReply(content="exact")]),
        text_rule(r"weather in \w+", "regex"),
    )
    with serve(*rules) as (_, client):
        assert ask(client, "hello\n").choices[0].message.content == "exact"
        assert ask(client, "What's the WEATHER IN Paris?").choices[0].message.content == "regex"
        with pytest.raises(openai.BadRequestError):
            ask(client, "hello there")


def test_turn_restricts_rule_to_nth_user_message() -> None:
    rules = (text_rule("hi", "first time", turn=1), text_rule("hi", "again: {user}"))
    with serve(*rules) as (_, client):
        assert ask(client, "hi").choices[0].message.content == "first time"
        second = ask(client, "hi", {"role": "assistant", "content": "first time"}, "hi you")
        assert second.choices[0].message.content == "again: hi you"


def test_tool_call_then_templated_answer_from_tool_results() -> None:
    rule = ScriptRule(
        user_regex="weather",
        replies=[
            ScriptedReply(
                tool_calls=[
                    ScriptedToolCall(name="get_weather", arguments={"city": "Paris"}),
                    ScriptedToolCall(name="get_time"),
                ]
            ),
            ScriptedReply(content='Weather: {result:get_weather}; last: {result}; {"raw": "json"} {nope}'),
        ],
    )
    with serve(rule) as (_, client):
        first = ask(client, "weather please")
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        weather, clock = choice.message.tool_calls
        assert (weather.function.name, json.loads(weather.function.arguments)) == (
            "get_weather",
            {"city": "Paris"},
        )
        assert (clock.function.name, clock.function.arguments) == ("get_time", "{}")
        assert weather.id != clock.id

        conversation = [
            "weather please",
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": weather.id, "content": "sunny"},
            {"role": "tool", "tool_call_id": clock.id, "content": "noon"},
        ]
        final = ask(client, *conversation).choices[0]
        assert final.finish_reason == "stop"
        assert final.message.tool_calls is None
        assert final.message.content == 'Weather: sunny; last: noon; {"raw": "json"} {nope}'

        past_end = ask(client, *conversation, {"role": "assistant", "content": "x"})
        assert past_end.choices[0].message.content == final.message.content


def test_usage_model_name_and_recorded_requests() -> None:
    with serve(text_rule(".", "a reply of some length")) as (server, client):
        first = ask(client, "question")
        second = ask(client, "question")
        longer = ask(client, "a much longer question " * 20)
        assert [m.id for m in client.models.list()] == ["aitest-scripted"]
    assert first.model == "aitest-scripted:gpt-test"
    assert first.id.startswith("chatcmpl-scripted-") and first.id != second.id
    usage = first.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert second.usage == usage
    assert longer.usage is not None and longer.usage.prompt_tokens > usage.prompt_tokens
    assert [r["messages"][-1]["content"] for r in server.requests[:2]] == ["question", "question"]
    assert len(server.requests) == 3


def test_no_matching_rule_is_a_400_that_says_how_to_fix_it() -> None:
    rule = text_rule("^known$", "ok")
    with serve(rule, name="demo") as (_, client), pytest.raises(openai.BadRequestError) as excinfo:
        ask(client, "hi", {"role": "assistant", "content": "?"}, "unknown")
    assert excinfo.value.status_code == 400
    assert 'no script rule matches user message "unknown" (turn 2) in script "demo"' in excinfo.value.message
    assert "add a rule with user/user_regex" in excinfo.value.message


def test_streaming_sends_the_reply_in_chunks_the_sdk_reads() -> None:
    with serve(text_rule(".", "all is well")) as (_, client):
        question = [{"role": "user", "content": "x"}]
        stream = client.chat.completions.create(
            model="m", messages=question, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert pieces == ["all ", "is ", "well"]
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens > 0


@pytest.mark.parametrize(("status", "error_class"), [(500, openai.InternalServerError), (429, openai.RateLimitError)])
def test_fault_fails_the_first_times_requests_then_recovers(status: int, error_class: type) -> None:
    fault = HTTPFault(status=status, message="scripted outage", retry_after=2, times=1)
    rule = ScriptRule(user_regex=".", replies=[ScriptedReply(content="recovered", error=fault)])
    with serve(rule) as (_, client):
        with pytest.raises(error_class) as excinfo:
            ask(client, "hi")
        assert ask(client, "hi").choices[0].message.content == "recovered"
    error = excinfo.value
    assert error.status_code == status
    assert error.response.headers["retry-after"] == "2"
    assert error.body["message"] == "scripted outage"


def test_fault_without_times_always_fails() -> None:
    rule = ScriptRule(user_regex=".", replies=[ScriptedReply(error=HTTPFault(status=503))])
    with serve(rule) as (_, client):
        for _ in range(3):
            with pytest.raises(openai.InternalServerError) as excinfo:
                ask(client, "hi")
            assert "retry-after" not in excinfo.value.response.headers


def test_malformed_body_is_200_but_not_json() -> None:
    rule = ScriptRule(user_regex=".", replies=[ScriptedReply(malformed_body=True)])
    with serve(rule) as (server, client):
        status, body = post_raw(server, {"model": "m", "messages": [{"role": "user", "content": "x"}]})
        with pytest.raises((ValueError, openai.APIError)):
            ask(client, "x")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_no_choices_is_a_valid_completion_without_choices() -> None:
    rule = ScriptRule(user_regex=".", replies=[ScriptedReply(content="unused", no_choices=True)])
    with serve(rule) as (_, client):
        completion = ask(client, "x")
    assert completion.choices == []
    assert completion.object == "chat.completion"


def test_raw_arguments_are_sent_verbatim() -> None:
    call = ScriptedToolCall(name="search", arguments={"ignored": True}, raw_arguments='{"q": "unterminated')
    with serve(ScriptRule(user_regex=".", replies=[ScriptedReply(tool_calls=[call])])) as (_, client):
        tool_call = ask(client, "x").choices[0].message.tool_calls[0]
    assert tool_call.function.arguments == '{"q": "unterminated'


def test_script_and_reply_latency_are_added() -> None:
    rule = ScriptRule(user_regex=".", replies=[ScriptedReply(content="slow", latency_ms=150)])
    with serve(rule, latency_ms=100) as (_, client):
        started = time.monotonic()
        assert ask(client, "x").choices[0].message.content == "slow"
        elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 5


def test_concurrent_conversations_get_their_own_replies() -> None:
    reply = ScriptedReply(content="you said {user}", latency_ms=50)
    rule = ScriptRule(user_regex=r"^echo \d+$", replies=[reply])
    with serve(rule) as (_, client), ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda n: ask(client, f"echo {n}").choices[0].message.content, range(16)))
    assert replies == [f"you said echo {n}" for n in range(16)]


def test_only_the_most_recent_requests_are_kept() -> None:
    script = Script(rules=[text_rule(".", "ok")])
    with ScriptedModelServer(script, keep_requests=2) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        for question in ("one", "two", "three"):
            ask(client, question)
        assert [r["messages"][-1]["content"] for r in server.requests] == ["two", "three"]


def test_connection_is_kept_alive_and_stop_ends_it_while_idle() -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with serve(text_rule(".", "ok")) as (server, _):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for _ in range(2):
            connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert (response.status, response.version) == (200, 11)
            assert json.loads(response.read())["choices"][0]["message"]["content"] == "ok"
            assert response.getheader("Connection") is None
        sock = connection.sock
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert sock.recv(1) == b"", "the idle connection stayed open after stop()"
    connection.close()


def test_stop_returns_promptly_while_a_reply_hangs() -> None:
    outcome: list[BaseException] = []

    def call(client: openai.OpenAI) -> None:
        try:
            ask(client.with_options(timeout=30), "x")
        except openai.APIError as exc:
            outcome.append(exc)

    server = ScriptedModelServer(Script(rules=[ScriptRule(user_regex=".", replies=[ScriptedReply(hang=True)])]))
    server.start()
    caller = threading.Thread(target=call, args=(openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0),))
    caller.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "the hanging request never reached the server"
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert len(outcome) == 1


def test_script_load_json_and_yaml(tmp_path: Path) -> None:
    data = {"name": "demo", "rules": [{"user": "hi", "replies": [{"content": "hello"}]}]}
    json_file = tmp_path / "script.json"
    json_file.write_text(json.dumps(data))
    yaml_file = tmp_path / "script.yaml"
    yaml_file.write_text("name: demo\nrules:\n  - user: hi\n    replies:\n      - content: hello\n")
    assert Script.load(json_file) == Script.load(yaml_file) == Script.model_validate(data)
    assert Script.load(json_file).rules[0].replies[0].content == "hello"


def test_yaml_script_without_pyyaml_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "script.yml"
    path.write_text("rules: []\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ScriptError, match=r"PyYAML is not installed; install PyYAML or use a \.json script"):
        Script.load(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"rules": [', "not valid JSON"),
        ('{"rules": [{"user": "hi", "user_regex": "hi", "replies": [{}]}]}', "exactly one of 'user'"),
        ('{"rules": [{"user": "hi", "replys": []}]}', "replys"),
        ('{"rules": [{"user_regex": "(", "replies": [{}]}]}', "invalid regular expression"),
    ],
)
def test_bad_script_file_raises_script_error_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken_script.json"
    path.write_text(text)
    with pytest.raises(ScriptError) as excinfo:
        Script.load(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)


def test_rule_requires_exactly_one_matcher() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'user'"):
        ScriptRule(replies=[ScriptedReply(content="x")])


def test_command_line_serves_a_script(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"rules": [{"user_regex": ".", "replies": [{"content": "from the CLI"}]}]}))
    command = [sys.executable, "-m", "aitest_bdd.testing.scripted_model", str(path), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1"), process.stderr.read()
        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        assert ask(client, "hi").choices[0].message.content == "from the CLI"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_command_line_reports_bad_script(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{")
    command = [sys.executable, "-m", "aitest_bdd.testing.scripted_model", str(path), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "bad.json" in result.stderr and "not valid JSON" in result.stderr


def test_unknown_path_is_404() -> None:
    with serve(text_rule(".", "ok")) as (server, _), pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{server.base_url}/embeddings", timeout=10)
    assert excinfo.value.code == 404
    assert "unknown path" in json.loads(excinfo.value.read())["error"]["message"]


def test_a_404_with_a_body_does_not_spoil_the_kept_alive_connection() -> None:
    with serve(text_rule(".", "ok")) as (server, _):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        connection.request("POST", "/v1/embeddings", body=body, headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 404
        connection.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        assert json.loads(response.read())["choices"][0]["message"]["content"] == "ok"
        connection.close()
