"""The label of a scenario from its attempts."""

from __future__ import annotations

from typing import Literal

Label = Literal["stable pass", "flaky", "stable fail", "one attempt"]


def label(passed: int, attempts: int) -> Label:
    """`stable pass` when every attempt passed, `stable fail` when none did, `flaky` in between.

    One attempt shows nothing about stability, so it is labelled `one attempt`.
    """
    if attempts < 2:
        return "one attempt"
    if passed == attempts:
        return "stable pass"
    if passed == 0:
        return "stable fail"
    return "flaky"
