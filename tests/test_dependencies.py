"""The declared dependencies cover every import, and a broken environment costs one warning, not the run."""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import aitest_bdd
from aitest_bdd.entry import requirements

SOURCE = Path(aitest_bdd.__file__).parent

OPTIONAL = {
    "yaml": "Script.load reads YAML only where PyYAML is installed, and says so where it is not",
    "allure": "used only inside a run of allure-pytest-bdd, which brings it",
}
"""Imported libraries that no requirement or extra names, each with the reason."""

NOT_INSTALLED = {"azure": ["azure-identity"]}
"""Libraries of an extra that the dev environment does not install, by the distribution that provides them."""

UNRELATED_TEST = "def test_unrelated():\n    assert 1 + 1 == 2\n"


def imported_top_modules() -> set[str]:
    """Top-level names of the modules the package imports, at module level or inside functions."""
    names = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"aitest_bdd", "__future__"}


def test_every_imported_library_is_declared() -> None:
    declared = {canonicalize_name(Requirement(line).name) for line in metadata.requires("aitest-bdd") or []}
    owners = metadata.packages_distributions() | NOT_INSTALLED
    undeclared = {
        module: owners.get(module, ["(not installed)"])
        for module in imported_top_modules() - set(OPTIONAL)
        if not {canonicalize_name(owner) for owner in owners.get(module, [])} & declared
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_direct_requirements_have_a_floor_and_an_upper_bound() -> None:
    calendar_versions = {"regex", "packaging"}
    for requirement in requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators, f"{requirement} has no floor"
        if requirement.name not in calendar_versions:
            assert "<" in operators, f"{requirement} has no bound below its next major release"


def run_unrelated(pytester: pytest.Pytester, *prelude: str) -> pytest.RunResult:
    """A plain pytest run of one unrelated test, in a fresh interpreter that runs `prelude` first."""
    pytester.makepyfile(test_unrelated=UNRELATED_TEST)
    run = "raise SystemExit(pytest.main(['-p', 'no:cacheprovider']))"
    code = "; ".join(["import sys", *prelude, "import pytest", run])
    return pytester.run(sys.executable, "-c", code, timeout=60)


def assert_one_warning(result: pytest.RunResult, *parts: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, output
    assert "INTERNALERROR" not in output
    result.assert_outcomes(passed=1, warnings=1)
    lines = [line for line in output.splitlines() if "aitest-bdd is not loaded" in line]
    assert len(lines) == 1, output
    for part in parts:
        assert part in lines[0], lines[0]


def test_a_missing_library_leaves_an_unrelated_run_alone_with_one_warning(pytester: pytest.Pytester) -> None:
    """regex blocked the way Python blocks a module: importing the plugin fails on it."""
    result = run_unrelated(pytester, "sys.modules['regex'] = None")
    assert_one_warning(result, "regex", "Fix: pip install --force-reinstall 'regex")


def test_an_unsupported_pytest_bdd_leaves_an_unrelated_run_alone_with_one_warning(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-bdd 8.1 as the installed metadata says it (`.ci/lowest-direct` runs the real 8.1 too)."""
    shadow = pytester.mkdir("site")
    info = shadow / "pytest_bdd-8.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pytest-bdd\nVersion: 8.1.0\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    result = run_unrelated(pytester)
    bdd = next(each for each in requirements() if each.name == "pytest-bdd")
    assert_one_warning(result, "pytest-bdd 8.1.0 is installed", f"Fix: pip install '{bdd}'")
