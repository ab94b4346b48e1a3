"""server-everything, the MCP reference server from npm (installed by `npm ci --prefix tests/node`), for tests.

Over stdio the plugin starts it from `stdio_command()`; over SSE and streamable HTTP the `everything` fixture
starts it on a free port of 127.0.0.1 and stops it after the test, also when the test fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

ENTRY = Path(__file__).parent / "node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
LAUNCH_NAMES = {"stdio": "stdio", "sse": "sse", "streamable-http": "streamableHttp"}
"""The argument that picks each transport, by the name `MCPServer(transport=...)` gives it."""
URL_PATHS = {"sse": "/sse", "streamable-http": "/mcp"}
LISTEN_SECONDS = 10.0
STOP_SECONDS = 5.0


def node() -> str:
    """The `node` program; the test is skipped where Node.js is not installed."""
    program = shutil.which("node")
    if program is None:
        pytest.skip("Node.js is not installed: server-everything is an npm package (.ci/run installs it)")
    assert ENTRY.is_file(), f"{ENTRY} is missing: run `npm ci --prefix tests/node`"
    return program


def stdio_command() -> list[str]:
    """The command that runs server-everything over stdio."""
    return [node(), str(ENTRY), LAUNCH_NAMES["stdio"]]


@dataclass
class Everything:
    """How a test reaches server-everything: the `MCPServer` options, and the process the test started, if any."""

    transport: str
    options: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None


@pytest.fixture
def everything(transport: str) -> Iterator[Everything]:
    """server-everything over the test's `transport` parameter: over HTTP, a server started for this test and
    stopped after it, whether the test passed or not."""
    if transport == "stdio":
        yield Everything(transport, {"command": stdio_command()})
        return
    port = _free_port()
    command = [node(), str(ENTRY), LAUNCH_NAMES[transport]]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, env={**os.environ, "PORT": str(port)}, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            _wait_until_listening(process, port, log)
            url = f"http://127.0.0.1:{port}{URL_PATHS[transport]}"
            yield Everything(transport, {"url": url, "transport": transport}, process)
        finally:
            _stop(process)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + LISTEN_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(f"server-everything did not listen on port {port}:\n{output}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
