"""A stdio MCP server that tells when its process started: its tool ``started`` answers the wall-clock time (Unix
seconds) at which the server's Python began to run, taken before anything else is imported.

Run it as ``python clock_mcp.py``.
"""

import time

STARTED = time.time()

from mcp.server.mcpserver import MCPServer  # noqa: E402 (after the clock is read)

from aitest_bdd.testing.servers._cli import add_tools, run_stdio  # noqa: E402


def started() -> str:
    """When this server's process started, in Unix seconds."""
    return f"{STARTED:.6f}"


if __name__ == "__main__":
    server = MCPServer("clock")
    add_tools(server, started)
    run_stdio(server)
