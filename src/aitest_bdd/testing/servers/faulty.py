"""Example MCP server that misbehaves on request, for fault tests.

Run it with ``python -m aitest_bdd.testing.servers.faulty`` (stdio). Each tool fails in one way.
``--stubborn`` makes the process ignore SIGTERM and the end of its input, so a client must kill it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from aitest_bdd.testing.servers._cli import add_tools, run_stdio


def build_server() -> MCPServer:
    """A server whose tools crash, hang, raise, flood or answer with far too much."""
    server = MCPServer("faulty")

    def echo(text: str) -> str:
        """Return the text unchanged (the one tool that behaves)."""
        return text

    def crash() -> str:
        """Kill the server process in the middle of the call."""
        os._exit(7)

    def hang(seconds: float = 3600) -> str:
        """Do not answer for a long time."""
        time.sleep(seconds)
        return "woke up"

    def fail(message: str = "the ledger is locked") -> str:
        """Raise an error whose message the client sees."""
        raise ToolError(message)

    def huge(megabytes: float = 10) -> str:
        """Answer with a text of the given size."""
        return "x" * int(megabytes * 1024 * 1024)

    def stdout_noise() -> str:
        """Write a line that is not JSON-RPC to stdout, then answer."""
        sys.stdout.write("this is not a protocol message\n")
        sys.stdout.flush()
        return "answered after the noise"

    def stderr_flood(megabytes: float = 5) -> str:
        """Write a lot to stderr, then answer."""
        line = "log line that nobody asked for " * 4 + "\n"
        for _ in range(int(megabytes * 1024 * 1024 / len(line))):
            sys.stderr.write(line)
        sys.stderr.flush()
        return "answered after the flood"

    add_tools(server, echo, crash, hang, fail, huge, stdout_noise, stderr_flood)
    return server


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "--stubborn" in args:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        threading.Thread(target=lambda: build_server().run("stdio"), daemon=True).start()
        while True:
            time.sleep(3600)
    run_stdio(build_server())


if __name__ == "__main__":
    main()
