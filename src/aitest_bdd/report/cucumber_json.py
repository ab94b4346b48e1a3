"""pytest-bdd's Cucumber JSON (`--cucumberjson`) with each step's attachments as `embeddings`, for the importers
of Allure, ReportPortal and Xray.

pytest-bdd writes the file as the run finishes; it is then read again and written whole with the embeddings.
Each scenario element is matched to its result by the test's name and line, in the order the tests reported,
and each step by its line. What is embedded comes from the results, which are redacted.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ..results.schema import RunResults, TestResult
from ..whole_files import write_file
from .step_attachments import step_attachments, step_runs


def add_embeddings(path: Path, results: RunResults) -> None:
    """Embed each step's attachments in the Cucumber JSON at `path`."""
    features = json.loads(path.read_text(encoding="utf-8"))
    waiting: dict[tuple[str, int | None], list[TestResult]] = {}
    for test in results.tests:
        if test.kind == "scenario":
            waiting.setdefault((test.nodeid.rsplit("::", 1)[-1], test.line), []).append(test)
    for feature in features:
        for element in feature.get("elements", []):
            tests = waiting.get((element.get("id"), element.get("line")))
            if tests:
                _embed(element, tests.pop(0))
    write_file(path, json.dumps(features))


def _embed(element: dict[str, Any], test: TestResult) -> None:
    """Embed the attachments of the test's last run (its last attempt, when repeated) in the element's steps."""
    run = step_runs(test)[-1]
    by_line = dict(zip((step.line for step in run.steps), step_attachments(run), strict=True))
    for step in element.get("steps", []):
        embeddings = [
            {
                "mime_type": attachment.media_type,
                "name": attachment.name,
                "data": base64.b64encode(attachment.text.encode()).decode("ascii"),
            }
            for attachment in by_line.get(step.get("line"), [])
        ]
        if embeddings:
            step["embeddings"] = [*step.get("embeddings", []), *embeddings]
