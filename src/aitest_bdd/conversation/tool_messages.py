"""Tool results as Chat Completions messages: text in the tool messages, then the images in one user message.

Chat Completions tool messages carry text only, and they must follow the assistant message that made the calls.
So each call gets its tool message (the result's text, other blocks described in words), and the images the
round's calls returned follow all of them in one user message of `image_url` parts, each image introduced by
the tool call it came from. Audio is described in the tool message only: `input_audio` parts are for audio
models, and other models refuse the request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..tools.answers import ContentBlock
from .turns import ToolCall

Message = dict[str, Any]
"""A chat message as the Chat Completions API takes it."""
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
"""The image types Chat Completions takes; other images are described in the tool message only."""
_TAKEN = "the chat API takes PNG, JPEG, GIF and WebP images"
_DATA_URL = "data:"


def round_messages(calls: list[ToolCall]) -> list[Message]:
    """The messages that answer one assistant message's tool calls: a tool message for each call, in order, then
    a user message with the images they returned, if any."""
    messages: list[Message] = [{"role": "tool", "tool_call_id": call.id, "content": call.result_text} for call in calls]
    parts: list[dict[str, Any]] = []
    for call in calls:
        images = [block for block in call.content if block.type == "image" and block.data is not None]
        if not images:
            continue
        parts.append({"type": "text", "text": f"The image(s) returned by tool {call.name!r} (call {call.id}):"})
        for image in images:
            not_sent = {"type": "text", "text": f"(an image of type {image.mime_type}: not sent, {_TAKEN})"}
            parts.append(image_part(image) or not_sent)
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def image_part(block: ContentBlock) -> dict[str, Any] | None:
    """The `image_url` part (a data URL) for an image block the chat API takes; None for any other block."""
    if block.type != "image" or block.data is None or block.mime_type not in IMAGE_TYPES:
        return None
    return {"type": "image_url", "image_url": {"url": f"data:{block.mime_type};base64,{block.data}"}}


def recorded_messages(messages: list[Message]) -> list[Message]:
    """`messages` as a recording keeps them: each image's data URL stands as its type and SHA-256, since the tool
    result that returned the image holds its data already. A replay still checks that the same image was sent."""
    return [_recorded(message) if isinstance(message.get("content"), list) else message for message in messages]


def _recorded(message: Message) -> Message:
    parts = []
    for part in message["content"]:
        url = part.get("image_url", {}).get("url", "") if part.get("type") == "image_url" else ""
        if url.startswith(_DATA_URL):
            head, _, data = url.partition(",")
            digest = hashlib.sha256(data.encode()).hexdigest()
            part = {**part, "image_url": {**part["image_url"], "url": f"{head},sha256:{digest}"}}
        parts.append(part)
    return {**message, "content": parts}
