"""Masking of secrets and configured patterns in everything a recording stores."""

from __future__ import annotations

import os
import re
from typing import Any

from ..config import ConfigError

MASK = "[MASKED]"
SECRET = "[SECRET]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|AUTH", re.IGNORECASE)


class Masker:
    """Replaces secrets from the environment and configured patterns in everything recorded."""

    def __init__(self, patterns: list[str], secrets: list[str]) -> None:
        try:
            self.patterns = [re.compile(pattern) for pattern in patterns]
        except re.error as error:
            raise ConfigError(f"aitest_record_mask: {error.pattern!r} is not a regular expression: {error}") from None
        self.secrets = sorted({secret for secret in secrets if len(secret) >= 8}, key=len, reverse=True)

    @classmethod
    def from_environment(cls, patterns: list[str]) -> Masker:
        """Mask the values of environment variables whose names say KEY, TOKEN, SECRET, PASSWORD or AUTH."""
        return cls(patterns, [value for name, value in os.environ.items() if _SECRET_NAME.search(name)])

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, SECRET)
        for pattern in self.patterns:
            value = pattern.sub(MASK, value)
        return value

    def data(self, value: Any) -> Any:
        """`value` with every string masked, at any depth."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value
