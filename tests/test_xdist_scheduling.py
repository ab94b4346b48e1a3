"""Under pytest-xdist, workers start on tests as soon as they are ready, and test classes stay together."""

from __future__ import annotations

import pytest

SLOW_SECOND_WORKER = """
import os
import time


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") == "gw1":
        time.sleep(4)
"""

TESTS = """
import time

import pytest


@pytest.mark.parametrize("number", range(6))
def test_quick(number):
    time.sleep({seconds})
"""


def _workers(result: pytest.RunResult) -> set[str]:
    return {line.split("]")[0].split("[")[-1] for line in result.stdout.lines if "PASSED" in line and "[gw" in line}


@pytest.mark.usefixtures("outside_xdist")
def test_a_ready_worker_does_not_wait_for_a_slow_one(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SLOW_SECOND_WORKER)
    pytester.makepyfile(test_quick=TESTS.format(seconds=0.05))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    result.assert_outcomes(passed=6)
    assert _workers(result) == {"gw0"}, "the tests waited for the worker that was still starting"


@pytest.mark.usefixtures("outside_xdist")
@pytest.mark.parametrize(("seconds", "delay"), [(0.5, 1), (0.05, 2)], ids=["during-the-run", "after-the-tests"])
def test_different_collections_fail_the_run(pytester: pytest.Pytester, seconds: float, delay: int) -> None:
    pytester.makeconftest(
        SLOW_SECOND_WORKER.replace("time.sleep(4)", f"time.sleep({delay})")
        + "\n\ndef pytest_collection_modifyitems(items):\n"
        + "    if os.environ.get('PYTEST_XDIST_WORKER') == 'gw1':\n        items.reverse()\n"
    )
    pytester.makepyfile(test_quick=TESTS.format(seconds=seconds))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*Different tests were collected between gw0 and gw1*"])


CONVERSATION_SCRIPT = {
    "rules": [
        *[{"user": f"step {n}", "turn": n, "replies": [{"content": f"step {n}, after {n - 1}"}]} for n in range(1, 5)],
        {"user_regex": "step", "replies": [{"content": "lost the conversation"}]},
    ]
}

SESSION_CLASS_AMONG_SINGLE_TESTS = """
import os
import time

import pytest

from aitest_bdd import Agent, Provider

agent = Agent(name="plain", provider=Provider(model="m", base_url={base_url!r}, max_retries=0))


@pytest.mark.parametrize("number", range(3))
def test_before(number):
    time.sleep(0.2)


@pytest.mark.session("chat")
class TestChat:
    async def test_1(self, aitest_run):
        assert (await aitest_run(agent, "step 1")).final_response == "step 1, after 0"

    async def test_2(self, aitest_run):
        assert (await aitest_run(agent, "step 2")).final_response == "step 2, after 1"

    @pytest.mark.xdist_group("slow")
    async def test_3(self, aitest_run):
        assert (await aitest_run(agent, "step 3")).final_response == "step 3, after 2"

    async def test_4(self, aitest_run):
        assert (await aitest_run(agent, "step 4")).final_response == "step 4, after 3"


@pytest.mark.parametrize("number", range(3))
def test_after(number):
    time.sleep(0.2)


@pytest.mark.xdist_group("slow")
def test_in_a_group_with_the_chat():
    pass
"""


@pytest.mark.usefixtures("outside_xdist")
@pytest.mark.script(CONVERSATION_SCRIPT)
@pytest.mark.parametrize("mode", ["load", "loadscope", "loadfile", "loadgroup", "worksteal", "each", "no"])
def test_every_dist_mode_runs_a_session_class_whole_on_one_worker(project, mode: str) -> None:
    """Each test's turn sees the turns before it (the script answers by turn), and the class ran on one worker."""
    project.pytester.makepyfile(test_chat=SESSION_CLASS_AMONG_SINGLE_TESTS.format(base_url=project.server.base_url))
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", mode, "-v")
    workers = 2 if mode == "each" else 1
    result.assert_outcomes(passed=11 * workers)
    chat = [line for line in result.stdout.lines if "TestChat::" in line and "PASSED" in line]
    assert len({line.split("]")[0].split("[")[-1] for line in chat}) == workers, "\n".join(chat)
