"""The run's state in one place: made when pytest configures, closed when it unconfigures."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from ..config import ConfigError
from ..conversation.pricing import PriceTable, default_prices
from ..recording.cassette import RecordMode, RecordSettings
from ..redaction import Redactor
from ..runtime import Runtime
from ..tools.pool import ServerPool
from ..tools.spares import DEFAULT_SPARES, Spares
from ..version import package_version
from .registry import SessionRegistry
from .spending import Spending

RUN_KEY = pytest.StashKey["RunContext"]()


@dataclass
class RunContext:
    """What the tests of a run share: event loop, prices, recording settings, servers, sessions, the redactor,
    the spending limit."""

    config: pytest.Config
    runtime: Runtime
    prices: PriceTable
    recording: RecordSettings
    servers: ServerPool
    registry: SessionRegistry
    redactor: Redactor
    spending: Spending
    spares: Spares | None
    """Warm spares of scenario-scoped stdio servers; None when the run keeps none."""
    traced: bool = False
    """Whether conversations are traced for OpenTelemetry (`--aitest-otel`, `--aitest-otel-file`)."""

    @classmethod
    def start(cls, config: pytest.Config) -> RunContext:
        """The run's context, from its options, stored on the config for `run_context()` to find."""
        runtime = Runtime()
        prices = _prices(config)
        recording = _record_settings(config)
        servers = ServerPool(runtime)
        try:
            redactor = Redactor.from_environment(recording.masks)
        except ConfigError as error:
            raise pytest.UsageError(str(error)) from None
        per_config = _spares_per_config(config)
        spares = Spares(runtime, per_config) if per_config else None
        traced = _traced(config)
        registry = SessionRegistry(runtime, prices, recording, servers, spares, redactor, traced)
        context = cls(
            config, runtime, prices, recording, servers, registry, redactor, Spending.start(config), spares, traced
        )
        config.stash[RUN_KEY] = context
        return context

    @property
    def model_override(self) -> str | None:
        """The model set by `--aitest-model` or the `aitest_model` ini option, if any."""
        return self.config.getoption("aitest_model") or self.config.getini("aitest_model") or None

    def close(self) -> None:
        """End the Python API's sessions, then the shared servers and the spares, then the event loop."""
        with ExitStack() as stack:  # each runs, also when one before it fails
            stack.callback(self.spending.close)
            stack.callback(self.runtime.close)
            if self.spares is not None:
                stack.callback(self.spares.close)
            stack.callback(self.servers.close_all)
            stack.callback(self.registry.close_all)


def run_context(config: pytest.Config) -> RunContext:
    """The context of the run `config` belongs to."""
    return config.stash[RUN_KEY]


def close_run(config: pytest.Config) -> None:
    """Close the run's context, if configuring got as far as making it (pytest unconfigures after a usage error)."""
    context = config.stash.get(RUN_KEY, None)
    if context is not None:
        context.close()


def _prices(config: pytest.Config) -> PriceTable:
    """The built-in price table, extended by the `aitest_pricing` file."""
    table = default_prices()
    extra = config.getini("aitest_pricing")
    if not extra:
        return table
    try:
        return table.extended(config.rootpath / extra)
    except ConfigError as error:
        raise pytest.UsageError(f"aitest_pricing: {error}") from None


def _traced(config: pytest.Config) -> bool:
    """Whether an OpenTelemetry export was asked for, by option or ini (report/otel checks and exports it)."""
    return any(
        config.getoption(name, None) or config.getini(name) for name in ("aitest_otel", "aitest_otel_file")
    )


def _spares_per_config(config: pytest.Config) -> int:
    """How many warm spares of each scenario-scoped stdio server to keep, from `--aitest-mcp-spares` or the ini."""
    text, given = config.getoption("aitest_mcp_spares"), "--aitest-mcp-spares"
    if text is None:
        text, given = config.getini("aitest_mcp_spares") or None, "aitest_mcp_spares ="
    if text is None:
        return DEFAULT_SPARES
    if not text.strip().isdigit():
        raise pytest.UsageError(f"{given} {text!r} is not a number of spare MCP servers: give 0 (none), 1 or more")
    return int(text)


def _record_settings(config: pytest.Config) -> RecordSettings:
    """How this run records and replays, from `--aitest-record`, `--aitest-real-tools` and the ini."""
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
