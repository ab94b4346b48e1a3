"""An agent as a small service that knows only `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPENAI_MODEL`.

Run it with::

    python -m aitest_bdd.testing.agents.chat_service --port 8000 --system "You are a bank's assistant." \\
        --mcp -- python -m aitest_bdd.testing.servers.banking

It starts the MCP server after `--mcp --` over stdio and keeps it for its lifetime, and answers
`POST /v1/chat/completions` with a chat completion: for each request it runs its own tool loop with the
`openai` SDK on the request's messages and the server's tools. A tool's result goes to the model as its text,
a failed call as `Error: <text>`. Any agent, in any language, that reads those three variables can be tested
the same way, with `ServiceApp`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import mcp
from mcp.client.stdio import StdioServerParameters
from openai import AsyncOpenAI

MAX_TOOL_ROUNDS = 10


class ToolLoop:
    """The agent: a model and the tools of one MCP server."""

    def __init__(self, tools: mcp.Client, system: str) -> None:
        self.tools = tools
        self.system = system
        self.model = AsyncOpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
        self.model_name = os.environ["OPENAI_MODEL"]

    async def reply(self, messages: list[dict[str, Any]]) -> str:
        """Answer the last user message of `messages`, calling tools until the model has its answer."""
        listed = await self.tools.list_tools()
        tools: Any = [
            {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description or "", "parameters": tool.input_schema},
            }
            for tool in listed.tools
        ]
        messages = [{"role": "system", "content": self.system}, *messages] if self.system else list(messages)
        for _ in range(MAX_TOOL_ROUNDS):
            completion = await self.model.chat.completions.create(model=self.model_name, messages=messages, tools=tools)
            message = completion.choices[0].message
            if not message.tool_calls:
                return message.content or ""
            messages.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [c.model_dump() for c in message.tool_calls],
                }
            )
            for call in message.tool_calls:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": await self.call(call.function)})
        raise RuntimeError(f"no answer after {MAX_TOOL_ROUNDS} rounds of tool calls")

    async def call(self, function: Any) -> str:
        """Run one tool call; its result as text, a failure as `Error: <text>`."""
        try:
            arguments = json.loads(function.arguments or "{}")
        except json.JSONDecodeError:
            return "Error: the arguments are not valid JSON"
        result = await self.tools.call_tool(function.name, arguments)
        text = "\n".join(block.text for block in result.content if block.type == "text")
        return f"Error: {text}" if result.is_error else text


class Handler(BaseHTTPRequestHandler):
    """Answers `POST /v1/chat/completions` by running the server's tool loop on the agent's event loop."""

    server: AgentServer

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send(404, {"error": {"message": f"no such endpoint: {self.path}"}})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            running = asyncio.run_coroutine_threadsafe(self.server.agent.reply(body["messages"]), self.server.loop)
            reply = running.result()
        except Exception as error:
            self.send(500, {"error": {"message": f"{type(error).__name__}: {error}"}})
            return
        self.send(
            200,
            {
                "id": f"chatcmpl-{time.time_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.server.agent.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            },
        )

    def send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep stderr for errors."""


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, agent: ToolLoop, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.agent = agent
        self.loop = loop


async def serve(port: int, system: str, command: list[str]) -> None:
    """Start the MCP server, then answer requests until SIGTERM or Ctrl-C; the MCP server is closed on the way out."""
    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))  # it inherits ours
    async with mcp.Client(server) as tools:
        loop = asyncio.get_running_loop()
        httpd = AgentServer(port, ToolLoop(tools, system), loop)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        try:
            await stopping.wait()
        finally:
            httpd.shutdown()
            httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.partition("\n")[0], usage="%(prog)s --port PORT [--system PROMPT] --mcp -- COMMAND..."
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--system", default="", help="the system prompt")
    argv = sys.argv[1:]
    mcp_at = argv.index("--mcp") if "--mcp" in argv else len(argv)
    args = parser.parse_args(argv[:mcp_at])
    command = argv[mcp_at + 1 :]
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        parser.error("give the MCP server's command after --mcp --")
    asyncio.run(serve(args.port, args.system, command))


if __name__ == "__main__":
    main()
