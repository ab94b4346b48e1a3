"""Shared test fixtures: a scripted model server and a pytester project wired to it."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from marked_processes import marked_processes
from pytest_bdd.feature import features

from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

AGENTS_CONFTEST = """
import sys

import pytest

from aitest_bdd import Agent, MCPServer, Provider

MARKER = {marker!r}
CRASH_AT_START = "import sys; print('boom: DATABASE_URL is not set', file=sys.stderr); sys.exit(3)"


def server(name, *args, **options):
    return MCPServer(
        name=name,
        command=[sys.executable, "-m", f"aitest_bdd.testing.servers.{{name}}", *args],
        env={{"AITEST_TEST_MARKER": MARKER}},
        **options,
    )


@pytest.fixture
def aitest_agents():
    provider = Provider(model="scripted-default", base_url={base_url!r}, max_retries=0, timeout=10)
    return [
        Agent(name="banking", provider=provider, mcp_servers=[server("banking")]),
        Agent(name="weather", provider=provider, mcp_servers=[server("weather")]),
        Agent(name="todo", provider=provider, mcp_servers=[server("todo")]),
        Agent(name="plain", provider=provider, max_tool_rounds=2),
        Agent(name="feature-bank", provider=provider, mcp_servers=[server("banking", scope="feature")]),
        Agent(name="run-bank", provider=provider, mcp_servers=[server("banking", scope="run")]),
        Agent(
            name="faulty",
            provider=provider,
            mcp_servers=[server("faulty", call_timeout=30)],
            max_tool_result_chars=1000,
        ),
        Agent(name="faulty-impatient", provider=provider, mcp_servers=[server("faulty", call_timeout=1)]),
        Agent(name="stubborn", provider=provider, mcp_servers=[server("faulty", "--stubborn")]),
        Agent(name="patient", provider=provider.model_copy(update={{"max_retries": 2}})),
        Agent(name="impatient", provider=provider.model_copy(update={{"timeout": 1.0}})),
        Agent(name="no-endpoint", provider=Provider(model="gpt-4.1-mini", max_retries=0)),
        Agent(
            name="broken-server",
            provider=provider,
            mcp_servers=[
                MCPServer(
                    name="broken",
                    command=[sys.executable, "-c", CRASH_AT_START],
                )
            ],
        ),
        Agent(name="twin-banks", provider=provider, mcp_servers=[server("banking"), server("banking")]),
        Agent(name="missing-program", provider=provider, mcp_servers=[MCPServer(command=["no-such-mcp-server-xyz"])]),
    ]


@pytest.fixture
def aitest_judge():
    return Provider(model="judge", base_url={base_url!r}, max_retries=0, timeout=10)
"""


class Project:
    """A pytester project whose agents talk to a scripted model server and real example MCP servers."""

    def __init__(self, pytester: pytest.Pytester, server: ScriptedModelServer) -> None:
        self.pytester = pytester
        self.server = server
        self.marker = uuid.uuid4().hex
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        pytester.makeconftest(AGENTS_CONFTEST.format(marker=self.marker, base_url=server.base_url))

    def feature(self, name: str, text: str) -> Path:
        """Write `name.feature`."""
        path = self.pytester.path / f"{name}.feature"
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def run(self, *args: str) -> pytest.RunResult:
        features.clear()  # pytest-bdd caches parsed features per process; a real run starts empty
        return self.pytester.runpytest("-p", "no:cacheprovider", *args)

    def live_servers(self) -> list[int]:
        """Pids of MCP server processes started by this project that are still running."""
        return marked_processes(self.marker)


@pytest.fixture
def scripted_server() -> Iterator[Any]:
    """A factory: start a scripted model server for a script given as a dict."""
    servers: list[ScriptedModelServer] = []

    def start(script: dict[str, Any]) -> ScriptedModelServer:
        server = ScriptedModelServer(Script.model_validate(script))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def project(
    pytester: pytest.Pytester, scripted_server: Any, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """A project on the script given by the test's `script` mark.

    Its runs print as on a developer's machine also in CI: pytest prints whole failure lines in its short
    summary when CI or BUILD_NUMBER is set, and a test that reads the output must not depend on that.
    """
    mark = request.node.get_closest_marker("script")
    assert mark is not None, "mark the test with @pytest.mark.script({...})"
    for name in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    return Project(pytester, scripted_server(mark.args[0]))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "script(data): the scripted model's script for the `project` fixture")


@pytest.fixture
def outside_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear xdist's worker variables, so that an inner `pytest -n N` run starts its own workers even when
    this suite itself runs under xdist."""
    for name in [name for name in os.environ if name.startswith("PYTEST_XDIST")]:
        monkeypatch.delenv(name)
