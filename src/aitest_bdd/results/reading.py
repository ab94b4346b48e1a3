"""Read a run's `--aitest-json` results back, for merging, comparing and baselines."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from .schema import READABLE_SCHEMA_VERSIONS, RunResults

NOT_RESULTS = "not aitest-bdd results: give the --aitest-json file of a run"


class UnreadableResults(ValueError):
    """A results file that cannot be used; the message names the file, `reason` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def read_results(path: Path) -> RunResults:
    """The results in `path`, checked for readability, JSON, schema version and shape."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableResults(path, f"cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UnreadableResults(path, f"not text, so {NOT_RESULTS}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableResults(path, f"not valid JSON ({error})") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UnreadableResults(path, NOT_RESULTS)
    version = data["schema_version"]
    if not isinstance(version, int) or version not in READABLE_SCHEMA_VERSIONS:
        readable = " and ".join(map(str, sorted(READABLE_SCHEMA_VERSIONS)))
        raise UnreadableResults(
            path, f"schema_version is {version!r}, but this aitest-bdd reads schema_version {readable}"
        )
    try:
        return RunResults.model_validate(data)
    except ValidationError as error:
        raise UnreadableResults(
            path, f"{NOT_RESULTS} ({error.error_count()} problems, first: {_first(error)})"
        ) from None


def _first(error: ValidationError) -> str:
    problem = error.errors()[0]
    return f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
