"""The pytest plugin, the one place pytest wires in: options, the run's context, hooks and fixtures.

Each hook hands its work to the package that owns it: `gherkin` (collection, the step library, the step
log), `python_api`, `results` (each test's result), `report` (collecting and writing the outputs) and
`run` (the run's state, xdist scheduling).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from . import python_api
from .gherkin import (
    attempts,
    binding,
    cost_estimate,
    dry_run,
    guards,
    locations,
    step_check,
    step_listing,
    step_log,
    step_lookup,
)
from .gherkin.collection import FeatureFile
from .gherkin.steps import STEP_MODULES
from .recording.cassette import RecordMode
from .report import otel
from .report.collector import ResultsCollector
from .report.outputs import OUTPUTS
from .results.attach import attach_result, clean_fail_message, clean_failure
from .results.companions import attach_transcript
from .results.junit import location_properties
from .run.context import RunContext, close_run, run_context
from .run.signals import interrupt_on_sigterm, restore_sigterm
from .run.spending import LEDGER_INPUT
from .run.test_state import forget

if TYPE_CHECKING:
    from .conversation.session import AgentSession

pytest_plugins = STEP_MODULES

SECRET_FIXTURES = frozenset({"aitest_agents", "aitest_judge", "aitest_user_model"})
"""Fixtures whose agents and providers hold secrets for the redactor, as soon as they are set up."""


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
        "--aitest-user-model",
        dest="aitest_user_model",
        default=None,
        help="model that plays simulated users (default: the judge model)",
    )
    parser.addini("aitest_user_model", "model that plays simulated users, like --aitest-user-model", default="")
    group.addoption(
        "--aitest-judge-samples",
        dest="aitest_judge_samples",
        metavar="K",
        default=None,
        help="ask the judge K times for each verdict and take the majority (a score: the median); default 1",
    )
    parser.addini("aitest_judge_samples", "judge answers per verdict, like --aitest-judge-samples", default="")
    parser.addini(
        "aitest_judge_evidence",
        "show the judge the tool calls and their results (default: true)",
        type="bool",
        default=True,
    )
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
    group.addoption(
        "--aitest-mcp-spares",
        dest="aitest_mcp_spares",
        metavar="N",
        default=None,
        help="warm spares of each scenario-scoped stdio MCP server, started while scenarios run (default 1; 0: none)",
    )
    parser.addini("aitest_mcp_spares", "warm spares per scenario-scoped stdio MCP server, like --aitest-mcp-spares")
    parser.addini("aitest_recordings_dir", "directory for recordings (default: recordings/ beside each test file)")
    parser.addini("aitest_record_mask", "regular expressions masked in recordings, one per line", type="linelist")
    parser.addini("aitest_pricing", "JSON file of model prices (USD per million tokens) added to the built-in table")
    group.addoption(
        "--aitest-dry-run",
        dest="aitest_dry_run",
        action="store_true",
        help="check every scenario without running it: its steps match definitions and its agents exist "
        "(nothing is started, no model is called)",
    )
    group.addoption(
        "--aitest-steps",
        dest="aitest_steps",
        action="store_true",
        help="list every available step with its docs, then exit",
    )
    group.addoption(
        "--aitest-repeat",
        dest="aitest_repeat",
        metavar="N",
        default=None,
        help="run each scenario N times, each a fresh conversation ('up-to N': stop once the evidence decides)",
    )
    parser.addini("aitest_repeat", "attempts per scenario, like --aitest-repeat", default="")
    group.addoption(
        "--aitest-min-pass-rate",
        dest="aitest_min_pass_rate",
        metavar="RATE",
        default=None,
        help="a repeated scenario passes when this share of its attempts pass (e.g. 80%% or 0.8; default: all)",
    )
    parser.addini("aitest_min_pass_rate", "pass-rate gate of repeated scenarios, like --aitest-min-pass-rate")
    group.addoption(
        "--aitest-max-cost",
        dest="aitest_max_cost",
        metavar="USD",
        default=None,
        help="start no scenario attempt once the run's live model and judge calls have cost this much",
    )
    parser.addini("aitest_max_cost", "spending limit of the run in US dollars, like --aitest-max-cost")
    group.addoption(
        "--aitest-min-tool-coverage",
        dest="aitest_min_tool_coverage",
        metavar="SHARE",
        default=None,
        help="fail the run when an MCP server had less than this share of its tools exercised (e.g. 0.8 or 80%%)",
    )
    parser.addini("aitest_min_tool_coverage", "tool coverage gate per MCP server, like --aitest-min-tool-coverage")
    group.addoption(
        "--aitest-strict-tools",
        dest="aitest_strict_tools",
        action="store_true",
        default=None,
        help="fail the run when the tool lint flags an MCP tool's definition (the report shows the lint anyway)",
    )
    parser.addini("aitest_strict_tools", "fail on tool lint findings, like --aitest-strict-tools", type="bool")
    parser.addini(
        "aitest_collect_features",
        "collect .feature files as tests (turn off when binding them with pytest-bdd's scenarios())",
        type="bool",
        default=True,
    )
    group.addoption(
        "--aitest-baseline",
        dest="aitest_baseline",
        metavar="BASE.json",
        default=None,
        help="show the changes from this earlier run's --aitest-json results in the report and the Markdown summary",
    )
    parser.addini("aitest_baseline", "results of an earlier run to compare with, like --aitest-baseline", default="")
    for name, output in OUTPUTS.items():
        what = output.what
        group.addoption(f"--aitest-{name}", dest=f"aitest_{name}", metavar="PATH", default=None, help=f"write {what}")
        parser.addini(f"aitest_{name}", f"write {what} to this path, like --aitest-{name}", default="")
    otel.add_options(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "session(name): tests of a class share one conversation per agent, in order "
        "(each parametrized variant is its own session)",
    )
    for mark in (attempts.REPEAT_MARK, attempts.GATE_MARK):
        config.addinivalue_line("markers", f"{mark}(value): from a Gherkin tag; see docs/statistics.md")
    attempts.check_options(config)
    RunContext.start(config)
    config.pluginmanager.register(ResultsCollector(config), "aitest-results")
    otel.register(config)
    interrupt_on_sigterm(config)
    step_lookup.install(config)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.option.aitest_steps:
        from _pytest.main import wrap_session  # pytest's own way to run a session that only collects

        config.option.dist, config.option.tx = "no", []  # a listing needs no xdist workers
        return wrap_session(config, step_listing.show_steps)
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    try:
        close_run(config)
    finally:
        restore_sigterm(config)
        step_lookup.uninstall(config)


# Collection


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if file_path.suffix == ".feature" and config.getini("aitest_collect_features") and _bdd_active(config):
        return FeatureFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Iterator[None]:
    python_api.mark_asyncio(obj)
    locations.place_at_scenario(obj)
    return (yield)


def pytest_itemcollected(item: pytest.Item) -> None:
    location = locations.scenario_location(item)
    if location is not None:
        item.user_properties.extend(location_properties(*location))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    step_check.check_items(config, items)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    run_context(session.config).registry.plan(session.items)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Give each xdist worker the run's spending ledger, so that the limit holds for the run as a whole."""
    ledger = run_context(node.config).spending.ledger
    if ledger is not None:
        node.workerinput[LEDGER_INPUT] = str(ledger)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """With repeated scenarios: the attempts the run plans, and what the live ones may cost."""
    return cost_estimate.estimate_lines(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under `--dist load`, `loadgroup` and `worksteal`, keep the tests of a class (a `@pytest.mark.session` flow)
    on one worker, in order; xdist's `loadscope`, `loadfile` and `each` do that already."""
    from .run.xdist import MODES, ClassScheduling  # lazily: xdist is an optional companion

    if config.getoption("dist", None) not in MODES:
        return None
    return ClassScheduling(config, log)


def _bdd_active(config: pytest.Config) -> bool:
    """Whether pytest-bdd runs in this session (not turned off with -p no:pytest-bdd)."""
    return config.pluginmanager.has_plugin("pytest-bdd")


# Gherkin steps


# pytest-bdd's hooks are optional: a suite that uses only the Python API may run with -p no:pytest-bdd


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature, scenario) -> Iterator[None]:
    step_log.start_scenario(request, feature, scenario)
    result = yield
    guards.check_placeholders(request, feature, scenario)
    step_check.fail_undefined(request, feature, scenario)
    return result


@pytest.hookimpl(optionalhook=True)
def pytest_bdd_apply_tag(tag: str, function: object) -> bool | None:
    """`@repeat(N)` and `@min-pass-rate(R)` become aitest-bdd's marks; other tags are pytest-bdd's to apply."""
    mark = attempts.tag_mark(tag)
    if mark is None:
        return None
    mark(function)
    return True


@pytest.hookimpl(optionalhook=True)
def pytest_bdd_before_step(request: pytest.FixtureRequest, step) -> None:
    step_log.start_step(request, step)


@pytest.hookimpl(optionalhook=True)
def pytest_bdd_before_step_call(feature, step, step_func) -> None:
    guards.refuse_async_step(feature, step, step_func)


@pytest.hookimpl(optionalhook=True)
def pytest_bdd_after_step(request: pytest.FixtureRequest, step) -> None:
    step_log.finish_step(request, step, "passed")


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # first: Allure records the step's message as it fails
def pytest_bdd_step_error(request: pytest.FixtureRequest, step, exception: Exception) -> None:
    clean_fail_message(request.config, exception)
    step_log.finish_step(request, step, "failed", step_log.failure_text(exception))


@pytest.hookimpl(optionalhook=True)
def pytest_bdd_step_func_lookup_error(request: pytest.FixtureRequest, feature, scenario, step) -> None:
    guards.fail_undefined_step(request, feature, scenario, step)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.config.option.aitest_dry_run:
        return dry_run.check_instead_of_running(pyfuncitem)
    return attempts.run_attempts(pyfuncitem)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[object]:
    value = yield
    if fixturedef.argname in SECRET_FIXTURES:
        run_context(request.config).redactor.learn_configured(value)
    return value


# Results


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    clean_failure(item, call)
    report: pytest.TestReport = yield
    attach_result(item, call, report)
    attach_transcript(item, report)
    if report.when == "teardown":
        forget(item)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Close the Python API sessions that end with this test, once it has run for good (after any rerun)."""
    try:
        return (yield)
    finally:
        run_context(item.config).registry.finish(item)


# Fixtures


@pytest.fixture
def aitest_agents() -> list:
    """The agents features can name. Override it in conftest.py to return a list of Agent."""
    return []


@pytest.fixture
def aitest_session(request: pytest.FixtureRequest) -> AgentSession:
    """The scenario's conversation, opened by 'Given the agent "NAME"'."""
    return binding.current_session(request)


@pytest.fixture
def aitest_run(request: pytest.FixtureRequest) -> python_api.AitestRun:
    """`await aitest_run(agent, message)` runs one turn and returns its `Turn`.

    Calls in one test, or in the tests of one `@pytest.mark.session("name")` class, continue one
    conversation per agent.
    """
    return python_api.runner(request)
