"""`aitest-bdd-merge`: shards into one JSON, HTML and Markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aitest_bdd.report.merge import main
from aitest_bdd.report.outputs import write_json
from aitest_bdd.results.schema import RunResults, TestResult


def shard(path: Path, **statuses: str) -> Path:
    tests = [
        TestResult(nodeid=f"f.feature::{name}", kind="scenario", name=name, file="f.feature", status=status)
        for name, status in statuses.items()
    ]
    write_json(RunResults(tests=tests), path)
    return path


def test_merge_two_shards_later_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = shard(tmp_path / "a.json", test_a="passed", test_b="failed")
    second = shard(tmp_path / "b.json", test_b="passed", test_c="failed")
    out = tmp_path / "merged" / "all.json"
    code = main(
        [str(out), "--html", str(tmp_path / "all.html"), "--md", str(tmp_path / "all.md"), str(first), str(second)]
    )
    assert code == 0
    merged = RunResults.model_validate_json(out.read_text())
    assert [(test.name, test.status) for test in merged.tests] == [
        ("test_a", "passed"),
        ("test_b", "passed"),
        ("test_c", "failed"),
    ]
    assert "1 failed, 2 passed of 3 tests" in (tmp_path / "all.md").read_text()
    assert "test_c" in (tmp_path / "all.html").read_text()
    assert "3 tests from 2 files" in capsys.readouterr().out


def test_other_schema_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = shard(tmp_path / "good.json", test_a="passed")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**json.loads(good.read_text()), "schema_version": 0}))
    assert main([str(tmp_path / "out.json"), str(good), str(old)]) == 2
    error = capsys.readouterr().err
    assert f"{old}: schema_version is 0" in error and "reads schema_version 1 and 2" in error
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot be read"),
        ("{not json", "not valid JSON"),
        ('{"schema_version": 1, "tests": [{}]}', "not aitest-bdd"),
    ],
)
def test_unreadable_shard_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main([str(tmp_path / "out.json"), str(bad)]) == 2
    assert f"aitest-bdd-merge: error: {bad}: {expected}" in capsys.readouterr().err


def test_console_script_is_installed(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("aitest-bdd-merge")
    out = tmp_path / "out.json"
    done = subprocess.run([command, str(out), str(shard(tmp_path / "a.json", test_a="passed"))], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert len(RunResults.model_validate_json(out.read_text()).tests) == 1
