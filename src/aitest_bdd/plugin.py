"""The pytest plugin: options, the run's event loop, `.feature` collection and the step library."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .agents import current_session
from .collect import FeatureFile
from .config import ConfigError
from .pricing import PriceTable, default_prices
from .python_api import SessionRegistry
from .recorder import finish_step, relative_path
from .recording import RecordMode, RecordSettings
from .reporting import ResultsCollector, package_version
from .runtime import Runtime
from .server_pool import ServerPool
from .steps import STEP_MODULES
from .suggest import closest_steps

if TYPE_CHECKING:
    from .session import AgentSession

pytest_plugins = [*STEP_MODULES, "aitest_bdd.python_api", "aitest_bdd.recorder", "aitest_bdd.reporting"]

RUNTIME_KEY = pytest.StashKey[Runtime]()
PRICES_KEY = pytest.StashKey[PriceTable]()
RECORD_KEY = pytest.StashKey[RecordSettings]()
POOL_KEY = pytest.StashKey[ServerPool]()
REGISTRY_KEY = pytest.StashKey[SessionRegistry]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aitest", "aitest-bdd: LLM agent specs")
    group.addoption(
        "--aitest-model",
        dest="aitest_model",
        default=None,
        help="run every agent on this model (e.g. openai/gpt-4.1-mini); a step's 'using model' still wins",
    )
    parser.addini("aitest_model", "model for every agent, like --aitest-model", default="")
    group.addoption(
        "--aitest-judge-model",
        dest="aitest_judge_model",
        default=None,
        help="model of the LLM judge for 'the response satisfies' steps (e.g. openai/gpt-4.1-mini)",
    )
    parser.addini("aitest_judge_model", "model of the LLM judge, like --aitest-judge-model", default="")
    group.addoption(
        "--aitest-record",
        dest="aitest_record",
        default=None,
        choices=[mode.value for mode in RecordMode],
        help="recordings: auto (default: replay where one exists, else live), none (replay only), "
        "once (record what is missing), all (re-record everything), live (ignore recordings)",
    )
    parser.addini("aitest_record", "record mode, like --aitest-record", default="auto")
    group.addoption(
        "--aitest-real-tools",
        dest="aitest_real_tools",
        action="store_true",
        default=None,
        help="while replaying the model, run the real MCP servers and fail on tool results that changed",
    )
    parser.addini("aitest_real_tools", "run real MCP servers while replaying, like --aitest-real-tools", type="bool")
    parser.addini("aitest_recordings_dir", "directory for recordings (default: recordings/ beside each test file)")
    parser.addini("aitest_record_mask", "regular expressions masked in recordings, one per line", type="linelist")
    parser.addini("aitest_pricing", "JSON file of model prices (USD per million tokens) added to the built-in table")
    parser.addini(
        "aitest_collect_features",
        "collect .feature files as tests (turn off when binding them with pytest-bdd's scenarios())",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "session(name): tests of a class share one conversation per agent, in order "
        "(each parametrized variant is its own session)",
    )
    config.stash[RUNTIME_KEY] = Runtime()
    config.stash[PRICES_KEY] = _load_prices(config)
    config.stash[RECORD_KEY] = _record_settings(config)
    config.stash[POOL_KEY] = ServerPool(config.stash[RUNTIME_KEY])
    config.stash[REGISTRY_KEY] = SessionRegistry(config)
    config.pluginmanager.register(ResultsCollector(config), "aitest-results")


def pytest_unconfigure(config: pytest.Config) -> None:
    if REGISTRY_KEY in config.stash:
        config.stash[REGISTRY_KEY].close_all()
    if POOL_KEY in config.stash:
        config.stash[POOL_KEY].close_all()
    if RUNTIME_KEY in config.stash:
        config.stash[RUNTIME_KEY].close()


def runtime(config: pytest.Config) -> Runtime:
    """The run's event loop thread."""
    return config.stash[RUNTIME_KEY]


def prices(config: pytest.Config) -> PriceTable:
    """The price table: built in, extended by the `aitest_pricing` file."""
    return config.stash[PRICES_KEY]


def _load_prices(config: pytest.Config) -> PriceTable:
    table = default_prices()
    extra = config.getini("aitest_pricing")
    if not extra:
        return table
    try:
        return table.extended(config.rootpath / extra)
    except ConfigError as error:
        raise pytest.UsageError(f"aitest_pricing: {error}") from None


def record_settings(config: pytest.Config) -> RecordSettings:
    """How this run records and replays."""
    return config.stash[RECORD_KEY]


def _record_settings(config: pytest.Config) -> RecordSettings:
    mode = config.getoption("aitest_record") or config.getini("aitest_record") or "auto"
    if mode not in {m.value for m in RecordMode}:
        raise pytest.UsageError(f"aitest_record = {mode!r}: use one of {', '.join(m.value for m in RecordMode)}")
    directory = config.getini("aitest_recordings_dir")
    real_tools = config.getoption("aitest_real_tools")
    return RecordSettings(
        mode=RecordMode(mode),
        directory=config.rootpath / directory if directory else None,
        masks=config.getini("aitest_record_mask"),
        real_tools=bool(config.getini("aitest_real_tools") if real_tools is None else real_tools),
        plugin_version=package_version(),
    )


def server_pool(config: pytest.Config) -> ServerPool:
    """The MCP servers shared by several scenarios."""
    return config.stash[POOL_KEY]


def registry(config: pytest.Config) -> SessionRegistry:
    """The Python API's sessions."""
    return config.stash[REGISTRY_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".feature" and parent.config.getini("aitest_collect_features"):
        return FeatureFile.from_parent(parent, path=file_path)
    return None


def pytest_bdd_before_step_call(request, feature, scenario, step, step_func, step_func_args) -> None:
    """Refuse `async def` steps: pytest-bdd would not await them, and they would pass unrun."""
    if inspect.iscoroutinefunction(step_func) or inspect.isasyncgenfunction(step_func):
        where = f"{inspect.getsourcefile(step_func)}:{inspect.getsourcelines(step_func)[1]}"
        pytest.fail(
            f'step "{step.keyword} {step.name}" ({feature.filename}:{step.line_number}) is bound to '
            f"async def {step_func.__name__} at {where}: pytest-bdd does not await steps, so it would pass "
            "without running. Make it a plain def.",
            pytrace=False,
        )


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature, scenario) -> None:
    """Fail an Outline row whose steps use a <placeholder> that its Examples table has no column for."""
    callspec = getattr(request.node, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example") if callspec else None
    if example is None:
        return
    for step in scenario.steps:
        missing = [name for name in _PLACEHOLDER.findall(step.name) if name not in example]
        if missing:
            where = f"{relative_path(feature.filename, request.config)}:{step.line_number}"
            pytest.fail(
                f'step "{step.keyword} {step.name}" ({where}) uses <{missing[0]}>, but the Examples table has no '
                f"{missing[0]!r} column (its columns: {', '.join(example) or 'none'}). Add the column or fix the name.",
                pytrace=False,
            )


_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")


def pytest_bdd_step_func_lookup_error(request, feature, scenario, step, exception) -> None:
    """Name the undefined step, where it is, and the closest steps that exist."""
    suggestions = closest_steps(step.type, step.name)
    hint = "".join(f"\n    {step.keyword} {text}" for text in suggestions)
    where = f"{relative_path(feature.filename, request.config)}:{step.line_number}"
    message = (
        f'no step matches "{step.keyword} {step.name}" ({where}, scenario "{scenario.name}")'
        + (f"\nclosest steps:{hint}" if hint else "")
        + "\nSee the step reference (steps.md in the aitest-bdd docs), or define the step in a step module."
    )
    finish_step(request, step, "undefined", message)
    pytest.fail(message, pytrace=False)


@pytest.fixture
def aitest_agents() -> list:
    """The agents features can name. Override it in conftest.py to return a list of Agent."""
    return []


@pytest.fixture
def aitest_session(request: pytest.FixtureRequest) -> AgentSession:
    """The scenario's conversation, opened by 'Given the agent "NAME"'."""
    return current_session(request)
