"""Every configuration example in README.md and docs/*.md runs: a wrong field, import or option fails here.

Python blocks that define fixtures or steps become a project's conftest.py, whose agents are built and
resolved to model clients; test modules are collected; the rest run as statements, and each `Provider`
they build is resolved (a `# sends "NAME"` comment is the model name it must send). ini blocks are read
by pytest, and each option must be one that pytest or a plugin registers. A block that cannot run is
listed in NOT_RUN with the reason, so a new block is checked by default.
"""

from __future__ import annotations

import ast
import asyncio
import configparser
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from aitest_bdd import Agent, MCPServer, Provider
from aitest_bdd.models.providers import make_client

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^([ \t]*)```(python|ini)[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
SENDS = re.compile(r'#\s*sends\s+"([^"]+)"')

NOT_RUN = {
    ("docs/python-api.md", 'turn = await aitest_run(agent, "Move 5000 to savings")'): "a fragment of a test body",
    ("docs/sessions.md", 'pytest_plugins = ["step_defs.banking_steps"]'): "names the example project's module",
    ("docs/report.md", "from pathlib import Path"): "reads the results.json of an earlier run",
    ("docs/agents.md", "from openai import AsyncOpenAI"): "wraps the reader's own agent (my_company.support)",
}
"""Blocks that are not run, by file and first line, with the reason."""

COLLECTED_ONLY = "test modules that call a real model are imported and collected, not run"

PRELUDE = "import sys\n\nimport pytest\n\nfrom aitest_bdd import Agent, MCPServer, Provider\n\n"
"""The imports that a test module continuing an earlier block on its page leaves out."""

AGENTS_TEST = """
from aitest_bdd import Agent
from aitest_bdd.models.providers import make_client


def test_agents_resolve(aitest_agents):
    for agent in aitest_agents:
        assert isinstance(agent, Agent)
        make_client(agent.provider)
"""


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    language: str
    code: str

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.code.strip().splitlines()[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def doc_blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            code = textwrap.dedent(match.group(3))
            found.append(Block(str(path.relative_to(ROOT)), line, match.group(2), code))
    return found


BLOCKS = doc_blocks()


@pytest.fixture
def model_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the docs tell users to set, with values that reach no real service."""
    for name in ("OPENAI_BASE_URL", "OLLAMA_BASE_URL", "OLLAMA_HOST", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-example")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://docs-example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "docs-example")


def is_conftest(tree: ast.Module) -> bool:
    """Fixtures or step definitions: a block meant for conftest.py."""
    decorated = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.decorator_list]
    return bool(decorated) and not is_test_module(tree)


def is_test_module(tree: ast.Module) -> bool:
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    return any(name.startswith(("test_", "Test")) for name in names)


def run_statements(block: Block) -> None:
    """Run each statement; every Provider an expression builds is resolved to a client."""
    namespace: dict[str, object] = {"sys": sys, "Agent": Agent, "MCPServer": MCPServer, "Provider": Provider}
    lines = block.code.splitlines()
    http_client = httpx2.AsyncClient()
    try:
        for statement in ast.parse(block.code).body:
            if not isinstance(statement, ast.Expr):
                exec(compile(ast.Module([statement], []), str(block), "exec"), namespace)
                continue
            value = eval(compile(ast.Expression(statement.value), str(block), "eval"), namespace)
            providers = [value] if isinstance(value, Provider) else [value.provider] if isinstance(value, Agent) else []
            for provider in providers:
                _, model = make_client(provider, http_client)
                sends = SENDS.search(lines[statement.end_lineno - 1])
                if sends:
                    assert model == sends.group(1), f"{block}: {provider.model!r} sends {model!r}"
    finally:
        asyncio.run(http_client.aclose())


def check_ini(block: Block, pytester: pytest.Pytester) -> None:
    pytester.makeini(block.code)
    config = pytester.parseconfig()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(block.code)
    for name in parser["pytest"]:
        config.getini(name)  # ValueError for an option nothing registers


def supporting_files(pytester: pytest.Pytester) -> None:
    """Files that examples point at: the scripted model's script of testing-tools.md."""
    (pytester.path / "features").mkdir(exist_ok=True)
    shutil.copy(ROOT / "features" / "demo_model.json", pytester.path / "features" / "todo_model.json")


@pytest.mark.parametrize("block", [each for each in BLOCKS if each.key not in NOT_RUN], ids=str)
@pytest.mark.usefixtures("model_environment")
def test_docs_example_runs(block: Block, pytester: pytest.Pytester) -> None:
    if block.language == "ini":
        check_ini(block, pytester)
        return
    tree = ast.parse(block.code)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    if is_test_module(tree):  # COLLECTED_ONLY
        pytester.makepyfile(test_docs_example=PRELUDE + block.code)
        result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    elif is_conftest(tree):
        supporting_files(pytester)
        pytester.makeconftest(block.code)
        pytester.makepyfile(test_docs_agents=AGENTS_TEST)
        result = pytester.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
    else:
        run_statements(block)


def test_not_run_names_blocks_that_exist() -> None:
    assert set(NOT_RUN) <= {block.key for block in BLOCKS}
