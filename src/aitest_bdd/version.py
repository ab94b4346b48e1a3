"""The installed version of aitest-bdd, as results and recordings name it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("aitest-bdd")
    except PackageNotFoundError:
        return "unknown"
