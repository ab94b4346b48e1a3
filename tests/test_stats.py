"""The statistics of repeated attempts, checked against scipy's implementations and by simulation."""

from __future__ import annotations

import random

import pytest
from scipy import stats as scipy_stats

from aitest_bdd.stats.comparison import fisher_exact, mcnemar_exact
from aitest_bdd.stats.intervals import wilson
from aitest_bdd.stats.labels import label
from aitest_bdd.stats.pass_at_k import pass_at_k, pass_hat_k
from aitest_bdd.stats.sequential import ERROR_RATE, MARGIN, SequentialTest

COUNTS = [(passed, attempts) for attempts in (1, 2, 3, 5, 10, 20, 37, 100) for passed in range(attempts + 1)]


@pytest.mark.parametrize(("passed", "attempts"), COUNTS)
def test_wilson_interval_matches_scipy(passed: int, attempts: int) -> None:
    expected = scipy_stats.binomtest(passed, attempts).proportion_ci(0.95, method="wilson")
    low, high = wilson(passed, attempts)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_of_four_in_five_is_the_documented_example() -> None:
    low, high = wilson(4, 5)
    assert (round(low * 100), round(high * 100)) == (38, 96)


@pytest.mark.parametrize(("passed", "attempts"), [c for c in COUNTS if c[1] <= 37])
def test_pass_at_k_and_pass_hat_k_match_the_hypergeometric_distribution(passed: int, attempts: int) -> None:
    for k in range(1, attempts + 1):
        # Drawing k of the n attempts without replacement: pass@k misses only if all k drawn failed.
        all_failed = scipy_stats.hypergeom(attempts, attempts - passed, k).pmf(k)
        all_passed = scipy_stats.hypergeom(attempts, passed, k).pmf(k)
        assert pass_at_k(attempts, passed, k) == pytest.approx(1 - all_failed, abs=1e-12)
        assert pass_hat_k(attempts, passed, k) == pytest.approx(all_passed, abs=1e-12)


def test_pass_at_k_refuses_k_above_the_attempts() -> None:
    with pytest.raises(ValueError, match="k must be between 1 and the 3 attempts"):
        pass_at_k(3, 1, 4)


@pytest.mark.parametrize(
    ("passed", "attempts", "expected"),
    [(5, 5, "stable pass"), (0, 5, "stable fail"), (3, 5, "flaky"), (1, 1, "one attempt"), (0, 1, "one attempt")],
)
def test_labels(passed: int, attempts: int, expected: str) -> None:
    assert label(passed, attempts) == expected


@pytest.mark.parametrize("discordant", [(0, 0), (0, 1), (1, 0), (3, 9), (12, 1), (7, 7), (0, 20), (40, 55)])
def test_exact_mcnemar_matches_a_binomial_test_on_the_discordant_pairs(discordant: tuple[int, int]) -> None:
    base_only, new_only = discordant
    if base_only + new_only == 0:
        assert mcnemar_exact(0, 0) == 1.0
        return
    expected = scipy_stats.binomtest(base_only, base_only + new_only, 0.5).pvalue
    assert mcnemar_exact(base_only, new_only) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "table", [(0, 5, 0, 5), (5, 5, 0, 5), (3, 5, 4, 5), (1, 10, 9, 10), (17, 20, 8, 20), (2, 3, 30, 40), (0, 1, 1, 1)]
)
def test_fisher_exact_matches_scipy(table: tuple[int, int, int, int]) -> None:
    base_passed, base_attempts, new_passed, new_attempts = table
    contingency = [[base_passed, base_attempts - base_passed], [new_passed, new_attempts - new_passed]]
    expected = scipy_stats.fisher_exact(contingency).pvalue
    assert fisher_exact(*table) == pytest.approx(expected, abs=1e-12)


def _simulate(test: SequentialTest, rate: float, rng: random.Random) -> tuple[str, int]:
    passed = attempts = 0
    while True:
        attempts += 1
        passed += rng.random() < rate
        decision = test.decide(passed, attempts)
        if decision is not None:
            return decision, attempts


WALD_BOUND = ERROR_RATE / (1 - ERROR_RATE)


@pytest.mark.parametrize("gate", [0.3, 0.5, 0.8, 0.9])
@pytest.mark.parametrize("limit", [10, 20, 200])
def test_early_stop_rarely_passes_a_scenario_below_the_margin_whatever_the_limit(gate: float, limit: int) -> None:
    """Thousands of simulated scenarios at the margin's lower edge: a pass there is a wrong verdict."""
    rng = random.Random(f"{gate}:{limit}")
    test = SequentialTest(gate=gate, limit=limit)
    outcomes = [_simulate(test, gate - test.margin, rng) for _ in range(4000)]
    assert sum(decision == "passed" for decision, _ in outcomes) / len(outcomes) <= WALD_BOUND


@pytest.mark.parametrize("gate", [0.3, 0.5, 0.8])
def test_early_stop_rarely_fails_a_scenario_above_the_margin_when_the_limit_leaves_room(gate: float) -> None:
    rng = random.Random(gate)
    test = SequentialTest(gate=gate, limit=400)
    outcomes = [_simulate(test, gate + test.margin, rng) for _ in range(4000)]
    assert sum(decision == "failed" for decision, _ in outcomes) / len(outcomes) <= WALD_BOUND


@pytest.mark.parametrize(
    ("gate", "rate", "right"), [(0.5, 0.95, "passed"), (0.5, 0.05, "failed"), (0.8, 0.4, "failed")]
)
def test_early_stop_decides_clear_cases_in_fewer_attempts_than_the_limit(gate: float, rate: float, right: str) -> None:
    rng = random.Random(20261201)
    test = SequentialTest(gate=gate, limit=20)
    outcomes = [_simulate(test, rate, rng) for _ in range(4000)]
    assert sum(decision != right for decision, _ in outcomes) / len(outcomes) <= WALD_BOUND
    assert sum(attempts for _, attempts in outcomes) / len(outcomes) < 20 * 0.6


def test_early_stop_without_a_gate_stops_at_the_first_failure() -> None:
    test = SequentialTest(gate=1.0, limit=5)
    assert test.decide(3, 3) is None
    assert test.decide(3, 4) == "failed"
    assert test.decide(5, 5) == "passed"


def test_early_stop_fails_a_scenario_still_undecided_at_the_limit() -> None:
    """12 of 14 reaches a gate of 80 %, but 14 attempts cannot show it: the verdict needs evidence."""
    test = SequentialTest(gate=0.8, limit=14)
    assert test.decide(12, 14) == "failed"
    assert test.decide(1, 3) == "failed"  # eleven more passes could not show it either
    assert SequentialTest(gate=0.5, limit=40).decide(8, 8) == "passed"


@pytest.mark.parametrize("gate", [0.05, 0.3, 0.5, 0.8, 0.9, 0.95, 0.99])
def test_fewest_attempts_to_pass_is_the_first_all_pass_run_that_passes(gate: float) -> None:
    test = SequentialTest(gate=gate, limit=10_000)
    fewest = test.fewest_to_pass
    assert test.decide(fewest, fewest) == "passed"
    assert test.decide(fewest - 1, fewest - 1) is None
    assert 0 < test.margin <= MARGIN and gate - test.margin > 0 and gate + test.margin < 1
