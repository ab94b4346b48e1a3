"""A tool's answer, as the agent loop uses it and as recordings store it."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


class ToolAnswer(BaseModel):
    """A tool's result as the agent loop uses it: the text for the model, and the rest for the turn."""

    text: str
    structured_content: Any = None
    is_error: bool = False
    server: str | None = None
    duration_ms: float = 0.0
    truncated_from: int | None = None

    def truncated(self, limit: int) -> ToolAnswer:
        """This answer with its text cut to `limit` characters, marked, and the full size noted."""
        if len(self.text) <= limit:
            return self
        size = len(self.text)
        structured = self.structured_content
        if structured is not None and len(json.dumps(structured)) > limit:
            structured = None
        marker = f"\n[truncated: the tool returned {size:,} characters; the first {limit:,} are shown]"
        text = self.text[:limit] + marker
        return self.model_copy(update={"text": text, "structured_content": structured, "truncated_from": size})
