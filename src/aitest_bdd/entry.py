"""The `pytest11` entry point: loads the plugin, or says in one warning why it cannot.

pytest loads every installed plugin in every run, so a plugin that fails to import breaks runs that never
use it. Before the plugin is imported, the installed libraries are checked against the package's own
requirements; a library that is missing, outside its range or fails to import leaves the plugin out of
the run, with one warning that names the problem and the command that fixes it.
"""

from __future__ import annotations

import importlib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DISTRIBUTION = "aitest-bdd"
PLUGIN = "aitest_bdd.plugin"


def requirements(distribution: str = DISTRIBUTION) -> list[Requirement]:
    """The distribution's own requirements (not its extras'); none when it is not installed."""
    try:
        lines = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:  # imported from a source tree: nothing to check against
        return []
    needed = [Requirement(line) for line in lines]
    return [each for each in needed if each.marker is None or each.marker.evaluate({"extra": ""})]


def version_problems(needed: list[Requirement]) -> tuple[list[str], list[Requirement]]:
    """What is missing or outside its range, and the requirements to install again."""
    problems, fixes = [], []
    for requirement in needed:
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed")
        else:
            if requirement.specifier.contains(installed, prereleases=True):
                continue
            problems.append(f"{requirement.name} {installed} is installed, it needs {requirement}")
        fixes.append(requirement)
    return problems, fixes


def import_problem(error: ImportError, needed: list[Requirement]) -> str:
    """A failed import, with the library to install again when a distribution provides the module."""
    top = (error.name or "").partition(".")[0]
    owners = {canonicalize_name(name) for name in metadata.packages_distributions().get(top, [])}
    fixes = [str(each) for each in needed if canonicalize_name(each.name) in owners] or sorted(owners) or [DISTRIBUTION]
    command = " ".join(f"'{fix}'" for fix in fixes)
    return f"aitest-bdd is not loaded: importing it failed with {error!r}. Fix: pip install --force-reinstall {command}"


def load_problem() -> str | None:
    """Import the plugin; why it cannot be loaded, or None."""
    needed = requirements()
    problems, fixes = version_problems(needed)
    if problems:
        command = " ".join(f"'{fix}'" for fix in fixes)
        return f"aitest-bdd is not loaded: {'; '.join(problems)}. Fix: pip install {command}"
    try:  # the plugin and the step modules it names: pytest registers them from `pytest_plugins`
        from . import plugin

        for module in plugin.pytest_plugins:
            importlib.import_module(module)
    except ImportError as error:
        return import_problem(error, needed)
    return None


REWRITTEN = (PLUGIN, "aitest_bdd.gherkin")
"""The plugin and the package of its step modules, marked for pytest's assertion rewriting before they are
imported, as pytest marks what `pytest_plugins` names (an editable install is otherwise left unmarked)."""

PROBLEM: str | None = None
pytest_plugins: list[str] = []


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Load the plugin as this module is registered; pytest then registers it from `pytest_plugins`."""
    global PROBLEM
    pluginmanager.rewrite_hook.mark_rewrite(*REWRITTEN)
    PROBLEM = load_problem()
    pytest_plugins[:] = [] if PROBLEM else [PLUGIN]


def pytest_configure(config: pytest.Config) -> None:
    if PROBLEM:
        config.issue_config_time_warning(pytest.PytestConfigWarning(PROBLEM), stacklevel=2)
