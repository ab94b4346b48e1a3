"""pass@k and pass^k from n attempts of which c passed (unbiased, without replacement)."""

from __future__ import annotations

from math import comb


def pass_at_k(attempts: int, passed: int, k: int) -> float:
    """The chance that at least one of k attempts passes: 1 − C(n−c, k) / C(n, k)."""
    _check(attempts, passed, k)
    return 1.0 - comb(attempts - passed, k) / comb(attempts, k)


def pass_hat_k(attempts: int, passed: int, k: int) -> float:
    """pass^k, the chance that all of k attempts pass (the reliability figure): C(c, k) / C(n, k)."""
    _check(attempts, passed, k)
    return comb(passed, k) / comb(attempts, k)


def _check(attempts: int, passed: int, k: int) -> None:
    if not 1 <= k <= attempts:
        raise ValueError(f"k must be between 1 and the {attempts} attempts, not {k}")
    if not 0 <= passed <= attempts:
        raise ValueError(f"passed must be between 0 and {attempts}, not {passed}")
