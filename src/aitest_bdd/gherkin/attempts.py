"""Repeated attempts of a scenario: each attempt a fresh conversation, the scenario's verdict from all of them.

How many attempts, and the pass rate the scenario must reach, come from `--aitest-repeat` and
`--aitest-min-pass-rate` (or their ini settings), or from the tags `@repeat(5)`, `@repeat(up-to-20)` and
`@min-pass-rate(80%)` on a feature, rule or scenario. `up-to N` stops as soon as the evidence decides.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NoReturn

import pytest

from ..conversation.pricing import format_usd
from ..conversation.turns import Conversation
from ..results.attach import RESULT_KEY
from ..results.schema import Attempt, TestResult, Verdict
from ..results.verdicts import percent, verdict_of
from ..run.context import run_context
from ..run.spending import Spending
from ..run.test_state import begin_attempt, forget, sessions_of
from ..stats.sequential import SequentialTest
from .step_check import scenario_of
from .step_log import failure_text, start_scenario

REPEAT_MARK = "aitest_repeat"
GATE_MARK = "aitest_min_pass_rate"
_TAG = re.compile(r"(?P<name>repeat|min-pass-rate)\((?P<value>[^()]*)\)")
_REPEAT = re.compile(r"(?P<up_to>up[- ]to[- ]?)?(?P<limit>\d+)")
_RATE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<percent>%?)")


_RUN_PLAN_KEY = pytest.StashKey["AttemptPlan"]()


class PlanError(ValueError):
    """A repeat count or pass rate that cannot be used, with what to write instead."""


@dataclass(frozen=True)
class AttemptPlan:
    """Run up to `limit` attempts (stopping once the evidence decides, with `early_stop`); pass at `gate`."""

    limit: int = 1
    early_stop: bool = False
    gate: float | None = None

    def __post_init__(self) -> None:
        fewest = self.sequential_test().fewest_to_pass if self.early_stop else 1
        if self.limit < fewest:
            raise PlanError(
                f"repeat up-to {self.limit} cannot show a pass rate of {percent(self.gate or 1.0)}: early stop needs "
                f"{fewest} attempts that all pass to decide a pass; write up-to {fewest} or more"
            )

    def sequential_test(self) -> SequentialTest:
        return SequentialTest(self.gate or 1.0, self.limit)


def parse_repeat(text: str, given: str) -> tuple[int, bool]:
    """`5` → (5, False); `up-to 20`, `up-to-20` → (20, True). `given` says where the text came from."""
    found = _REPEAT.fullmatch(text.strip().lower())
    if found is None or int(found["limit"]) < 1:
        raise PlanError(f"{given} is not a number of attempts: write a whole number such as 5, or up-to 20")
    return int(found["limit"]), found["up_to"] is not None


def parse_rate(text: str, given: str) -> float:
    """`80%` or `0.8` → 0.8: a pass rate above 0 and at most 100 %. `given` says where the text came from."""
    found = _RATE.fullmatch(text.strip())
    rate = float(found["number"]) / (100 if found["percent"] else 1) if found else -1.0
    if rate == 0:
        raise PlanError(f"{given} would pass any scenario: write a share above 0, such as 80% or 0.8")
    if not 0 < rate <= 1:
        raise PlanError(f"{given} is not a pass rate: write a share such as 80% or 0.8")
    return rate


def tag_mark(tag: str) -> pytest.MarkDecorator | None:
    """The mark for a Gherkin tag `repeat(…)` or `min-pass-rate(…)`; None for any other tag."""
    found = _TAG.fullmatch(tag)
    if found is None:
        return None
    mark = REPEAT_MARK if found["name"] == "repeat" else GATE_MARK
    return getattr(pytest.mark, mark)(found["value"])


def check_options(config: pytest.Config) -> None:
    """Read the run's repeat count and pass rate; refuse ones that cannot be used."""
    try:
        limit, early_stop = parse_repeat(*_setting(config, "aitest_repeat", "1"))
        rate = _setting(config, "aitest_min_pass_rate", "")
        config.stash[_RUN_PLAN_KEY] = AttemptPlan(limit, early_stop, parse_rate(*rate) if rate[0] else None)
    except PlanError as error:
        raise pytest.UsageError(str(error)) from None


def plan_of(item: pytest.Item) -> AttemptPlan | None:
    """The attempts a scenario runs, when it runs more than once; None for a single attempt.

    A scenario's tag wins over its rule's, a rule's over its feature's, and any tag over the settings.
    """
    plan = item.config.stash.get(_RUN_PLAN_KEY, AttemptPlan())
    tagged = item.get_closest_marker(REPEAT_MARK) or item.get_closest_marker(GATE_MARK)
    found = scenario_of(item) if tagged is not None or plan.limit > 1 else None
    if found is None:
        return None
    feature, scenario = found
    levels = [scenario.tags, scenario.rule.tags if scenario.rule else set(), feature.tags]
    limit, early_stop = plan.limit, plan.early_stop
    if (repeat := _closest_tag(levels, "repeat")) is not None:
        limit, early_stop = parse_repeat(repeat, f"@repeat({repeat})")
    rate = _closest_tag(levels, "min-pass-rate")
    gate = parse_rate(rate, f"@min-pass-rate({rate})") if rate is not None else plan.gate
    return AttemptPlan(limit, early_stop, gate) if limit > 1 else None


def _setting(config: pytest.Config, name: str, default: str) -> tuple[str, str]:
    """A setting's text, and how it was given, for messages: `--aitest-repeat '0'` or `aitest_repeat = 0`."""
    if (option := config.getoption(name)) is not None:
        return option, f"--{name.replace('_', '-')} {option!r}"
    ini = config.getini(name) or default
    return ini, f"{name} = {ini}"


def _closest_tag(levels: list[set[str]], name: str) -> str | None:
    """The value of the `name(…)` tag on the closest level that has one."""
    for tags in levels:
        values = sorted(found["value"] for tag in tags if (found := _TAG.fullmatch(tag)) and found["name"] == name)
        if len(values) > 1:
            raise PlanError(f"one scenario, rule or feature has {len(values)} {name} tags: keep one")
        if values:
            return values[0]
    return None


def run_attempts(item: pytest.Function) -> Literal[True] | None:
    """Run a scenario's attempts in place of its single run (True); None lets pytest run it once.

    A scenario starts no attempt once the run has spent its `--aitest-max-cost`: it is skipped as not run,
    or, after some of its attempts, as not run in full (it is never passed on fewer attempts than asked).
    """
    spending = run_context(item.config).spending
    problem = None
    try:
        plan = plan_of(item)
    except PlanError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # outside the handler: one message, not a chain of two
    if plan is None:
        if spending.limit_usd is not None and scenario_of(item) is not None and spending.reached():
            _not_run(item, f"not run: {_spent(spending)}")
        return None
    stop = plan.sequential_test() if plan.early_stop else None
    attempts: list[Attempt] = []
    conversations: list[Conversation] = []
    last: TestResult | None = None
    decision = None
    attempts_ended = False
    fresh = _fresh_fixtures(item)
    try:
        for number in range(1, plan.limit + 1):
            if spending.reached():
                break
            next(fresh)
            begin_attempt(item, number)
            attempt, last, ending = _attempt(item, number, last)
            attempts.append(attempt)
            ran = [session.conversation.model_copy(update={"attempt": number}) for session in sessions_of(item)]
            spending.add(sum(conversation.spent_usd for conversation in ran))
            conversations += ran
            if ending is not None:
                attempts_ended = True
                raise ending  # a skip, an expected failure or the run's end: the scenario's outcome, not an attempt's
            passed = sum(attempt.status == "passed" for attempt in attempts)
            if stop is not None and (decision := stop.decide(passed, number)) is not None:
                break
    finally:  # also when a step skips the scenario: the attempts so far stay in its result
        for session in sessions_of(item):
            session.close()
        complete = not attempts_ended and (decision is not None or len(attempts) == plan.limit)
        verdict = verdict_of(attempts, plan.limit, plan.gate, decision) if complete else None
        if last is not None:
            forget(item)
            update = {"attempts": attempts, "conversations": conversations, "verdict": verdict}
            item.stash[RESULT_KEY] = last.model_copy(update=update)
    if verdict is None and attempts:
        _skip(f"not run in full: {len(attempts)} of {plan.limit} attempts ran; {_spent(spending)}")
    if verdict is None:
        _not_run(item, f"not run: no attempt ran; {_spent(spending)}")
    if verdict.decision == "failed":
        pytest.fail(_failure(verdict, attempts), pytrace=False)
    return True


def _attempt(
    item: pytest.Function, number: int, last: TestResult | None
) -> tuple[Attempt, TestResult | None, BaseException | None]:
    """Run one attempt of the scenario: how it went, the scenario's result so far, and what ends the scenario
    (a skip, an expected failure, the run's end) if something did."""
    arguments = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    started = time.perf_counter()
    failure = ending = None
    try:
        item.obj(**arguments)
    except (pytest.skip.Exception, pytest.exit.Exception, pytest.xfail.Exception) as error:
        ending = error
    except (Exception, pytest.fail.Exception) as error:
        failure = error
    result = item.stash.get(RESULT_KEY, None)
    attempt = Attempt(
        number=number,
        status="skipped" if ending else "failed" if failure else "passed",
        message=failure_text(ending or failure) if ending or failure else None,
        duration_ms=(time.perf_counter() - started) * 1000,
        steps=result.steps if result else [],
    )
    return attempt, result or last, ending


def _not_run(item: pytest.Function, reason: str) -> NoReturn:
    """Skip a scenario that starts no attempt, with a result of its own: the reports list it as not run."""
    feature, scenario = scenario_of(item) or (None, None)
    start_scenario(item._request, feature, scenario)
    _skip(reason)


def _skip(reason: str) -> NoReturn:
    """Skip the scenario, reported at its own place (not at this module's line)."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _spent(spending: Spending) -> str:
    limit = format_usd(spending.limit_usd or 0.0)
    return f"the run has spent {format_usd(spending.spent)} of its --aitest-max-cost of {limit}"


def _fresh_fixtures(item: pytest.Function) -> Iterator[None]:
    """Before each attempt, tear down the function-scoped fixtures the last attempt's steps asked for (its
    `aitest_session`, say), so that the attempt gets them afresh. Those the test had before its first step stay.

    pytest has no public way to set up a test's fixtures again within its call, so this uses the request's
    own record of its fixtures (as pytest-bdd does to inject step fixtures).
    """
    request: pytest.FixtureRequest = item._request
    set_up = set(request._fixture_defs)
    while True:
        for name, fixture in reversed(list(request._fixture_defs.items())):
            if name not in set_up and fixture.scope == "function":
                fixture.finish(request)  # type: ignore[arg-type]  # it needs only the request's node
                del request._fixture_defs[name]
        yield


def _failure(verdict: Verdict, attempts: list[Attempt]) -> str:
    """The verdict, where the scenario breaks most often, and the first failed attempt's message."""
    lines = [verdict.summary]
    for step in verdict.step_failures:
        where = f"line {step.line}, {step.keyword} {step.text}"
        lines.append(f"where it breaks: {where}: failed in {step.failed} of the {step.ran} attempts that reached it")
    first = next((attempt for attempt in attempts if attempt.status == "failed"), None)
    if first is not None:
        lines.append(f"attempt {first.number}: {first.message}")
    return "\n".join(lines)
