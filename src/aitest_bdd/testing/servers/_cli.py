"""Helpers shared by the example MCP servers: tool registration and the command line entry.

Every example server module has a ``build_server()`` factory (fresh state each call) and ends with::

    if __name__ == "__main__":
        main()

where ``main`` calls :func:`run_cli` with that factory.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, NoReturn

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

TRANSPORTS = ("stdio", "streamable-http", "sse")


READ_ONLY = ToolAnnotations(read_only_hint=True)
CHANGING = ToolAnnotations(read_only_hint=False, destructive_hint=False)
"""A tool that changes the server's state by adding to it, never by deleting or overwriting."""


def add_tools(
    server: MCPServer[Any], *functions: Callable[..., Any], changing: Collection[Callable[..., Any]] = ()
) -> None:
    """Register ``functions`` as tools, using their dedented docstrings as descriptions, annotated as read-only
    except those in ``changing``.

    (The SDK would use the raw ``__doc__``, which keeps the source indentation.)
    """
    for fn in functions:
        server.add_tool(fn, description=inspect.getdoc(fn), annotations=CHANGING if fn in changing else READ_ONLY)


def run_stdio(server: MCPServer[Any]) -> NoReturn:
    """Serve over stdio; once the client closes stdin, flush and exit at once.

    The exit skips interpreter teardown and atexit handlers: these example servers register none.
    """
    server.run("stdio")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


def parse_args(prog: str, description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="stdio",
        help="how clients connect (default: stdio)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address for HTTP transports (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port for HTTP transports (default: 8000)")
    return parser.parse_args(argv)


def run_cli(
    build: Callable[[], MCPServer[Any]],
    *,
    prog: str,
    description: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse ``argv`` and run the server built by ``build`` on the chosen transport (blocks until stopped)."""
    args = parse_args(prog, description, argv)
    server = build()
    if args.transport == "stdio":
        run_stdio(server)
    elif args.transport == "sse":
        server.run("sse", host=args.host, port=args.port)
    else:
        # Served at http://HOST:PORT/mcp
        server.run("streamable-http", host=args.host, port=args.port)
