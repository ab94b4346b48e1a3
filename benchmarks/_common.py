"""Helpers shared by the benchmark scripts: statistics, a banking script, and the machine description."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aitest_bdd import Agent, MCPServer, Provider

REPO_ROOT = Path(__file__).resolve().parent.parent

# Three turns, each: one model reply with two tool calls, then a text reply (2 model calls, 2 tool calls).
BANKING_TURNS: tuple[tuple[str, list[dict[str, Any]], str], ...] = (
    (
        "What are my balances?",
        [
            {"name": "get_balance", "arguments": {"account": "checking"}},
            {"name": "get_balance", "arguments": {"account": "savings"}},
        ],
        "Checking and savings hold {result:get_balance.formatted}.",
    ),
    (
        "Move 1 dollar from checking to savings",
        [
            {"name": "transfer", "arguments": {"from_account": "checking", "to_account": "savings", "amount": 1}},
            {"name": "get_transactions", "arguments": {"account": "checking", "limit": 3}},
        ],
        "Done: moved {result:transfer.formatted_amount}.",
    ),
    (
        "Show my recent savings activity",
        [
            {"name": "get_transactions", "arguments": {"account": "savings", "limit": 5}},
            {"name": "list_accounts", "arguments": {}},
        ],
        "Here is your recent savings activity.",
    ),
)


def banking_script(latency_ms: float = 0) -> dict[str, Any]:
    """A scripted-model script for the three banking turns, each reply delayed by `latency_ms`."""
    rules = [
        {"user": user, "replies": [{"tool_calls": calls}, {"content": answer}]} for user, calls, answer in BANKING_TURNS
    ]
    return {"name": "benchmark-banking", "latency_ms": latency_ms, "rules": rules}


def banking_server(**env: str) -> MCPServer:
    """The example banking MCP server over stdio."""
    command = [sys.executable, "-m", "aitest_bdd.testing.servers.banking"]
    return MCPServer(name="banking", command=command, env=env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until 127.0.0.1:`port` accepts connections; fail if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g} s")


@contextmanager
def http_banking_server() -> Iterator[str]:
    """One banking MCP server over streamable HTTP on 127.0.0.1, shared by every session; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "aitest_bdd.testing.servers.banking", "--transport", "streamable-http"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def banking_agent(base_url: str, with_server: bool = True) -> Agent:
    """A banking agent on the scripted model at `base_url`."""
    provider = Provider(model="scripted", base_url=base_url, max_retries=0, timeout=30)
    servers = [banking_server()] if with_server else []
    return Agent(name="banking", provider=provider, mcp_servers=servers, system_prompt="You are a banking assistant.")


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> str:
    """`median / p95 / mean` of `values`, in the values' unit."""
    if not values:
        return "n/a"
    return f"{statistics.median(values):8.3f} {percentile(values, 95):8.3f} {statistics.fmean(values):8.3f}"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """The 1-minute load average, to tell whether other work shared the CPUs."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def machine() -> str:
    """One line: CPU, logical cores, Python version, current load."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {load_average()}"
