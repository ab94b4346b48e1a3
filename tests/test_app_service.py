"""ServiceApp: an agent reached over HTTP, started and stopped by aitest-bdd, against the scripted model."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aitest_bdd.app import AppError, AppRequest, ModelEndpoint
from aitest_bdd.apps.service import ServiceApp
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer, ScriptRule

DEMO_SCRIPT = Path(__file__).parent.parent / "features" / "demo_model.json"
MODEL = ModelEndpoint(base_url="http://127.0.0.1:9/v1", api_key="proxy-token", model="gpt-4.1-mini")


def ask(message: str, history: list[dict[str, str]] | None = None, model: ModelEndpoint = MODEL) -> AppRequest:
    return AppRequest(message=message, history=history or [], state=None, model=model, conversation_id="conv-7")


def processes() -> dict[int, tuple[int, int]]:
    """Each live (not zombie) process: pid -> (parent pid, process group)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent, group = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z":
            found[int(stat.parent.name)] = (int(parent), int(group))
    return found


def service_processes() -> set[int]:
    """The chat_service process this test started (and the process that leads its group, whose command line holds
    it), the processes of its group, and their children (the MCP server runs in a group of its own)."""
    leaders = [
        int(cmdline.parent.name)
        for cmdline in Path("/proc").glob("[0-9]*/cmdline")
        if b"aitest_bdd.testing.agents.chat_service" in _read(cmdline)
    ]
    running = processes()
    groups = {running[pid][1] for pid in leaders if pid in running}
    assert len(groups) == 1, "one chat_service process group runs"
    group = {pid for pid, (_, pgid) in running.items() if pgid in groups}
    return group | {pid for pid, (parent, _) in running.items() if parent in group}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


class Service:
    """A tiny JSON service on a background thread: answers every POST with `answer(body, headers)`."""

    def __init__(self, answer: Any) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(body)
                status, payload = answer(body, dict(self.headers))
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                with contextlib.suppress(ConnectionError):  # a client that timed out is gone
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.received: list[Any] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/chat"


@pytest.fixture
def service() -> Iterator[Any]:
    started: list[Service] = []

    def start(answer: Any) -> Service:
        started.append(Service(answer))
        return started[-1]

    yield start
    for each in started:
        each.httpd.shutdown()
        each.httpd.server_close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
@pytest.mark.asyncio
async def test_the_script_agent_answers_from_its_own_tool_loop_and_leaves_no_process() -> None:
    app = ServiceApp(
        command=[
            *(sys.executable, "-m", "aitest_bdd.testing.agents.chat_service", "--port", "{port}"),
            *("--system", "You are the bank's assistant."),
            *("--mcp", "--", sys.executable, "-m", "aitest_bdd.testing.servers.banking"),
        ],
        url="http://127.0.0.1:{port}/v1/chat/completions",
    )
    overdraw = {
        "user_regex": "Move everything",
        "replies": [
            {
                "tool_calls": [
                    {
                        "name": "transfer",
                        "arguments": {"from_account": "checking", "to_account": "savings", "amount": 99999},
                    }
                ]
            },
            {"content": "That did not work: {result}"},
        ],
    }
    script = Script.load(DEMO_SCRIPT)
    script = script.model_copy(update={"rules": [ScriptRule.model_validate(overdraw), *script.rules]})
    with ScriptedModelServer(script) as model:
        endpoint = ModelEndpoint(base_url=model.base_url, api_key="proxy-token", model="gpt-4.1-mini")
        await app.start(endpoint)
        try:
            first = await app.turn(ask("What's my checking balance?", model=endpoint))
            history = [
                {"role": "user", "content": "What's my checking balance?"},
                {"role": "assistant", "content": first.reply},
            ]
            second = await app.turn(ask("And my savings balance?", history, model=endpoint))
            third = await app.turn(ask("Move everything to savings.", model=endpoint))
            started = service_processes()
        finally:
            await app.stop()
    assert "1,500" in first.reply
    assert "3,200" in second.reply
    assert first.tool_calls is None
    assert third.reply.startswith("That did not work: Error: ")  # a failed tool call reaches the model as such
    assert "Insufficient funds in 'checking'" in third.reply
    assert model.requests[0]["messages"][0] == {"role": "system", "content": "You are the bank's assistant."}
    # the agent ran a tool loop: a tool call, then the tool result went back to the model, on both turns
    assert [m["role"] for m in model.requests[1]["messages"]][-2:] == ["assistant", "tool"]
    assert model.requests[2]["messages"][1:3] == history
    assert {headers["authorization"] for headers in model.request_headers} == {"Bearer proxy-token"}
    assert len(started) >= 2  # the agent and its MCP server
    assert not started & set(processes())


@pytest.mark.asyncio
async def test_a_json_service_gets_the_template_filled_and_the_conversation_id(service: Any) -> None:
    seen: list[dict[str, str]] = []

    def answer(body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        seen.append(headers)
        return 200, {"output": {"messages": [{"text": f"you said {body['input'][0]['text']}"}]}}

    running = service(answer)
    app = ServiceApp(
        url=running.url,
        protocol="json",
        request={"session": "{conversation_id}", "input": [{"text": "{message}", "n": 1}], "kind": "chat"},
        reply_path="output.messages.0.text",
        headers={"Authorization": "Bearer service-secret-1"},
    )
    await app.start(MODEL)
    try:
        turn = await app.turn(ask("hello {conversation_id}"))
    finally:
        await app.stop()
    assert turn.reply == "you said hello {conversation_id}"
    assert turn.tool_calls is None
    assert running.received == [
        {"session": "conv-7", "input": [{"text": "hello {conversation_id}", "n": 1}], "kind": "chat"}
    ]
    assert seen[0]["X-Conversation-Id"] == "conv-7"
    assert seen[0]["Authorization"] == "Bearer service-secret-1"


@pytest.mark.asyncio
async def test_a_command_that_exits_at_once_fails_with_its_status_and_stderr() -> None:
    crash = "import sys; print('boom: DATABASE_URL is not set', file=sys.stderr); sys.exit(3)"
    app = ServiceApp(command=[sys.executable, "-c", crash], url="http://127.0.0.1:{port}/chat")
    with pytest.raises(AppError) as raised:
        await app.start(MODEL)
    message = str(raised.value)
    assert "exited before it was ready" in message
    assert "boom: DATABASE_URL is not set" in message
    assert sys.executable in message


@pytest.mark.asyncio
async def test_a_service_that_never_gets_ready_fails_after_the_startup_timeout() -> None:
    app = ServiceApp(
        command=[
            sys.executable,
            "-c",
            "import sys, time; print('warming up', file=sys.stderr, flush=True); time.sleep(60)",
        ],
        url="http://127.0.0.1:{port}/chat",
        startup_timeout=0.5,
    )
    started = time.monotonic()
    with pytest.raises(
        AppError, match=r"did not answer at http://127\.0\.0\.1:\d+/ within startup_timeout=0\.5s"
    ) as raised:
        await app.start(MODEL)
    assert time.monotonic() - started < 5
    assert "warming up" in str(raised.value)


@pytest.mark.asyncio
async def test_an_http_error_names_the_status_without_the_secrets(service: Any) -> None:
    running = service(lambda body, headers: (500, f"internal error, token {headers['X-Api-Token']}"))
    app = ServiceApp(url=running.url, headers={"X-Api-Token": "service-secret-2"})
    await app.start(MODEL)
    try:
        with pytest.raises(AppError) as raised:
            await app.turn(ask("hi"))
    finally:
        await app.stop()
    assert "answered HTTP 500: internal error, token [SECRET]" in str(raised.value)
    assert "service-secret-2" not in str(raised.value)


@pytest.mark.asyncio
async def test_an_answer_without_the_reply_fails_with_an_excerpt(service: Any) -> None:
    running = service(lambda body, headers: (200, {"choices": []}))
    app = ServiceApp(url=running.url)
    await app.start(MODEL)
    try:
        with pytest.raises(AppError, match=r"answered with nothing at choices\.0\.message\.content, not a text: "):
            await app.turn(ask("hi"))
    finally:
        await app.stop()


@pytest.mark.asyncio
async def test_an_answer_that_is_not_json_or_comes_too_late_fails(service: Any) -> None:
    def answer(body: Any, headers: dict[str, str]) -> tuple[int, str]:
        if body["messages"][-1]["content"] == "slow":
            time.sleep(0.5)
        return 200, "<html>Bad gateway</html>"

    app = ServiceApp(url=service(answer).url, timeout=0.2)
    await app.start(MODEL)
    try:
        with pytest.raises(AppError, match=r"answered with something that is not JSON: <html>Bad gateway</html>$"):
            await app.turn(ask("hi"))
        with pytest.raises(AppError, match=r"did not answer within timeout=0\.2s$"):
            await app.turn(ask("slow"))
    finally:
        await app.stop()


def test_the_json_protocol_needs_a_template_and_a_reply_path() -> None:
    with pytest.raises(ValueError, match="needs a request template and a reply_path"):
        ServiceApp(url="http://127.0.0.1:1/chat", protocol="json", request={"q": "{message}"})


CRASHES_ON_POST = """
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        print("the teller database is gone", file=sys.stderr, flush=True)
        os._exit(7)


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@pytest.mark.asyncio
async def test_a_service_that_exits_during_a_turn_is_said_to_have_exited(tmp_path: Path) -> None:
    script = tmp_path / "crashes.py"
    script.write_text(CRASHES_ON_POST, encoding="utf-8")
    app = ServiceApp(command=[sys.executable, str(script), "{port}"], url="http://127.0.0.1:{port}/chat")
    await app.start(MODEL)
    try:
        with pytest.raises(AppError) as raised:
            await app.turn(ask("hi"))
    finally:
        await app.stop()
    assert "the service exited during the turn" in str(raised.value)
    assert "the teller database is gone" in str(raised.value)
