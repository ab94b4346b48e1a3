"""Confidence intervals for a pass rate."""

from __future__ import annotations

from math import sqrt
from statistics import NormalDist
from typing import NamedTuple

CONFIDENCE = 0.95


class Interval(NamedTuple):
    low: float
    high: float


def wilson(passed: int, attempts: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of `passed` out of `attempts`: close to its nominal level even for few attempts."""
    if attempts <= 0:
        return Interval(0.0, 1.0)
    if not 0 <= passed <= attempts:
        raise ValueError(f"passed must be between 0 and {attempts}, not {passed}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = passed / attempts
    spread = z * z / attempts
    centre = (rate + spread / 2) / (1 + spread)
    half_width = z * sqrt(rate * (1 - rate) / attempts + spread / (4 * attempts)) / (1 + spread)
    return Interval(max(0.0, centre - half_width), min(1.0, centre + half_width))
