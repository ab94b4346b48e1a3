"""Example MCP server that misbehaves on request, for fault tests.

Run it with ``python -m aitest_bdd.testing.servers.faulty`` (stdio). Each tool fails in one way.
``--stubborn`` makes the process ignore SIGTERM and the end of its input, so a client must kill it.
``--slow-start SECONDS`` makes it wait that long before it answers anything.
"""

from __future__ import annotations

import argparse
import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Annotated, get_args

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CallToolResult,
    LoggingLevel,
    LoggingMessageNotification,
    LoggingMessageNotificationParams,
    TextContent,
    ToolAnnotations,
)
from pydantic import Field

from aitest_bdd.testing.servers._cli import CHANGING, READ_ONLY

# The SDK refuses to send text that is not valid Unicode; these stand-ins are swapped for it on the wire.
LONE_SURROGATE = "~~lone-surrogate~~"
INVALID_UTF8 = "~~invalid-utf8~~"
WIRE_BYTES = {LONE_SURROGATE.encode(): b"\\ud800", INVALID_UTF8.encode(): b"\xff\xfe"}
Megabytes = Annotated[float, Field(description="The size of the answer, in megabytes.")]
ENDS_THE_SERVER = ToolAnnotations(read_only_hint=False, destructive_hint=True)


def build_server() -> MCPServer:
    """A server whose tools crash, hang, raise, flood, answer with far too much or with broken text.

    Their definitions are clean (described, annotated): the tool lint finds nothing in them.
    """
    server = MCPServer("faulty")

    def echo(text: Annotated[str, Field(description="The text to send back.")]) -> str:
        """Return the text unchanged (the one tool that behaves)."""
        return text

    def crash() -> str:
        """Kill the server process in the middle of the call."""
        os._exit(7)

    def hang(seconds: Annotated[float, Field(description="How long to wait, in seconds.")] = 3600) -> str:
        """Do not answer for a long time."""
        time.sleep(seconds)
        return "woke up"

    def fail(
        message: Annotated[str, Field(description="The error message to raise.")] = "the ledger is locked",
    ) -> str:
        """Raise an error whose message the client sees."""
        raise ToolError(message)

    def huge(megabytes: Megabytes = 10) -> str:
        """Answer with a text of the given size."""
        return "x" * int(megabytes * 1024 * 1024)

    def huge_structured(megabytes: Megabytes = 20) -> CallToolResult:
        """Answer with a short text and structured content of the given size."""
        rows = ["x" * 1000] * int(megabytes * 1000)
        return CallToolResult(content=[TextContent(type="text", text="rows sent")], structured_content={"rows": rows})

    def stdout_noise() -> str:
        """Write a line that is not JSON-RPC to stdout, then answer."""
        sys.stdout.write("this is not a protocol message\n")
        sys.stdout.flush()
        return "answered after the noise"

    def stderr_flood(megabytes: Megabytes = 5) -> str:
        """Write a lot to stderr, then answer."""
        line = "log line that nobody asked for " * 4 + "\n"
        for _ in range(int(megabytes * 1024 * 1024 / len(line))):
            sys.stderr.write(line)
        sys.stderr.flush()
        return "answered after the flood"

    def lone_surrogate() -> dict[str, str]:
        """Answer with text and structured content cut inside a UTF-16 pair (a lone surrogate escape)."""
        return {"text": f"cut at {LONE_SURROGATE}"}

    def invalid_utf8() -> str:
        """Answer with text whose bytes on the wire are not UTF-8."""
        return f"bytes {INVALID_UTF8} here"

    async def chatter(
        ctx: Context,
        text: Annotated[str, Field(description="The text each progress note and log message carries.")] = "chatter",
        count: Annotated[int, Field(description="How many progress notes and log messages to send.")] = 150,
        padding: Annotated[int, Field(description="How many characters of padding each log's data has.")] = 0,
    ) -> str:
        """Send many progress notes, and log messages at every level whatever level the client asked for, the text
        in each (as a name in the log's data), then answer."""
        levels = get_args(LoggingLevel)
        for number in range(1, count + 1):
            await ctx.report_progress(number, count, f"{text} {number}")
            data = {text: number, "padding": "x" * padding}
            params = LoggingMessageNotificationParams(level=levels[number % len(levels)], logger="chatter", data=data)
            await ctx.session.send_notification(LoggingMessageNotification(params=params), ctx.request_id)
        return f"sent {count} progress notes and log messages"

    def spawn_child() -> str:
        """Start a helper process that keeps running after the server exits, unless the client ends it."""
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL)
        return f"started helper process {helper.pid}"

    read_only = (echo, hang, fail, huge, huge_structured, stdout_noise, stderr_flood, lone_surrogate, invalid_utf8)
    for tool in (*read_only, chatter):
        server.add_tool(tool, description=inspect.getdoc(tool), annotations=READ_ONLY)
    server.add_tool(crash, description=inspect.getdoc(crash), annotations=ENDS_THE_SERVER)
    server.add_tool(spawn_child, description=inspect.getdoc(spawn_child), annotations=CHANGING)
    return server


def swap_on_the_wire(replacements: dict[bytes, bytes]) -> threading.Thread:
    """Pass this process's stdout through a thread that replaces each key's bytes with its value's; the thread
    ends once stdout is closed and everything written to it has been passed on."""
    wire = os.fdopen(os.dup(1), "wb")
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)

    def relay() -> None:
        with os.fdopen(read_end, "rb") as written:
            for line in written:
                for stand_in, raw in replacements.items():
                    line = line.replace(stand_in, raw)
                wire.write(line)
                wire.flush()

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="faulty", description="An MCP server (stdio) that misbehaves on request.")
    parser.add_argument("--stubborn", action="store_true", help="ignore SIGTERM and the end of input")
    parser.add_argument("--slow-start", type=float, default=0, metavar="SECONDS", help="wait before serving")
    args = parser.parse_args(argv)
    time.sleep(args.slow_start)
    relay = swap_on_the_wire(WIRE_BYTES)
    if args.stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        threading.Thread(target=lambda: build_server().run("stdio"), daemon=True).start()
        while True:
            time.sleep(3600)
    build_server().run("stdio")
    # The last answers may still be in the relay: close stdout and let it pass them on before exiting at once
    # (a helper child that holds stdout open keeps the relay waiting, hence the bound).
    sys.stdout.flush()
    os.close(1)
    relay.join(timeout=2)
    os._exit(0)


if __name__ == "__main__":
    main()
