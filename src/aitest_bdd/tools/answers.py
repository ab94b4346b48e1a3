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
        """This answer within `limit` characters: a longer text cut and marked, with its full size noted, and
        structured content whose JSON is longer dropped, with a note of its size at the end of the text."""
        text, structured, size, changed = self.text, self.structured_content, None, False
        if len(text) > limit:
            size, changed = len(text), True
            text = text[:limit] + f"\n[truncated: the tool returned {size:,} characters; the first {limit:,} are shown]"
        if structured is not None:
            structured_size = len(json.dumps(structured, ensure_ascii=False))
            if structured_size > limit:
                structured, changed = None, True
                text += f"\n[structured content left out: {structured_size:,} characters of JSON]"
        if not changed:
            return self
        update = {"text": text, "structured_content": structured}
        return self.model_copy(update=update if size is None else {**update, "truncated_from": size})
