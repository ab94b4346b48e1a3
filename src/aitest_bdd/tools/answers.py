"""A tool's answer, as the agent loop uses it and as recordings store it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from .call_events import CallEvents


class ContentBlock(BaseModel):
    """One block of a tool result, with its type: text, an image, audio, an embedded resource or a resource link.

    An image's or audio's data is kept, base64-encoded; of a binary resource, only its type and size.
    """

    type: Literal["text", "image", "audio", "resource", "resource_link"]
    text: str | None = None
    """A text block's text, or an embedded resource's text."""
    mime_type: str | None = None
    data: str | None = None
    """An image's or audio's bytes in base64; None when left out for its size (see `ToolAnswer.truncated`)."""
    size: int | None = None
    """The size in bytes of an image, audio or binary resource (of a link's resource, when the server says)."""
    uri: str | None = None
    """An embedded resource's or a link's URI."""
    name: str | None = None
    """A link's name."""
    description: str | None = None
    """A link's description."""

    def described(self) -> str:
        """The block as the model reads it in the tool message: text as it is, the rest in words."""
        kind = self.mime_type or "no MIME type"
        if self.type == "text":
            return self.text or ""
        if self.type in ("image", "audio"):
            return f"[{self.type}: {kind}, {self.size or 0:,} bytes]"
        if self.type == "resource" and self.text is not None:
            return f"[resource {self.uri} ({kind})]\n{self.text}"
        if self.type == "resource":
            return f"[resource {self.uri}: binary, {kind}, {self.size or 0:,} bytes]"
        about = f": {self.description}" if self.description else ""
        return f"[resource link {self.name!r}: {self.uri} ({kind}){about}]"

    def within(self, limit: int) -> ContentBlock:
        """This block within `limit` characters: a longer text cut and marked, longer data left out."""
        update: dict[str, Any] = {}
        if self.text is not None and len(self.text) > limit:
            update["text"] = truncated_text(self.text, limit)
        if self.data is not None and len(self.data) > limit:
            update["data"] = None
        return self.model_copy(update=update) if update else self


def truncated_text(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with its full size."""
    return text[:limit] + f"\n[truncated: the tool returned {len(text):,} characters; the first {limit:,} are shown]"


def decoded_size(data: str) -> int:
    """The number of bytes base64 `data` decodes to."""
    digits = "".join(data.split()).rstrip("=")
    return len(digits) * 3 // 4


class ToolAnswer(CallEvents):
    """A tool's result as the agent loop uses it: the text for the model, and the rest for the turn (with what the
    server sent during the call)."""

    text: str
    structured_content: Any = None
    is_error: bool = False
    server: str | None = None
    duration_ms: float = 0.0
    truncated_from: int | None = None
    content: list[ContentBlock] = Field(default_factory=list)
    """The result's blocks in order when it has any besides text; empty for a text-only result (see `text`)."""
    stubbed: bool = False
    """Whether the scenario's stub answered, not the server (see `tools.stubs`)."""

    def truncated(self, limit: int) -> ToolAnswer:
        """This answer within `limit` characters: a longer text cut and marked, with its full size noted, and
        structured content whose JSON is longer dropped, with a note of its size at the end of the text; each
        block's text likewise cut, and an image's or audio's data whose base64 is longer left out, with a note."""
        text, structured, size, changed = self.text, self.structured_content, None, False
        if len(text) > limit:
            size, changed = len(text), True
            text = truncated_text(text, limit)
        if structured is not None:
            structured_size = len(json.dumps(structured, ensure_ascii=False))
            if structured_size > limit:
                structured, changed = None, True
                text += f"\n[structured content left out: {structured_size:,} characters of JSON]"
        content = [block.within(limit) for block in self.content]
        for block, kept in zip(self.content, content, strict=True):
            changed = changed or kept is not block
            if block.data is not None and kept.data is None:
                what = f"{block.mime_type}, {block.size or 0:,} bytes, {len(block.data):,} characters of base64"
                text += f"\n[{block.type} left out: {what}]"
        if not changed:
            return self
        update = {"text": text, "structured_content": structured, "content": content}
        return self.model_copy(update=update if size is None else {**update, "truncated_from": size})
