"""Exact tests for a change in pass rate between two runs."""

from __future__ import annotations

from math import comb

RELATIVE_TOLERANCE = 1 + 1e-7
"""Tables as likely as the observed one, up to rounding, count as at least as extreme (as scipy does)."""


def mcnemar_exact(only_base_passed: int, only_new_passed: int) -> float:
    """Two-sided p-value of the exact McNemar test on paired single attempts.

    Only the discordant pairs count: scenarios that passed in one run and failed in the other.
    """
    discordant = only_base_passed + only_new_passed
    if discordant == 0:
        return 1.0
    fewer = min(only_base_passed, only_new_passed)
    tail = sum(comb(discordant, i) for i in range(fewer + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def fisher_exact(base_passed: int, base_attempts: int, new_passed: int, new_attempts: int) -> float:
    """Two-sided p-value of Fisher's exact test that two pass rates are the same."""
    passed = base_passed + new_passed
    total = base_attempts + new_attempts
    denominator = comb(total, passed)

    def chance(base: int) -> float:
        return comb(base_attempts, base) * comb(new_attempts, passed - base) / denominator

    observed = chance(base_passed)
    lowest, highest = max(0, passed - new_attempts), min(passed, base_attempts)
    p_value = sum(p for p in map(chance, range(lowest, highest + 1)) if p <= observed * RELATIVE_TOLERANCE)
    return min(1.0, p_value)
