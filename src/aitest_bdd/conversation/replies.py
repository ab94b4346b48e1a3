"""A model's reply as the turn takes it: a text cut to the agent's limit, and the stops that are not an answer."""

from __future__ import annotations

from typing import Any

TRUNCATED_FROM = "truncated_from"
"""Set on a choice whose text was cut: the length it had."""

UNFINISHED = {
    "length": (
        "stopped at its output limit (finish_reason 'length') before its reply was complete: raise "
        "Provider(max_tokens=...), or ask for less"
    ),
    "content_filter": (
        "stopped because the provider's content filter withheld its reply (finish_reason 'content_filter')"
    ),
}
"""Finish reasons after which the reply is not the agent's answer, and what the turn's error says."""


def cut_replies(completion: Any, limit: int) -> Any:
    """`completion` (chat-completions JSON) with every choice's text or refusal cut to `limit` characters."""
    if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
        return completion
    for choice in completion["choices"]:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        for field in ("content", "refusal"):
            text = message.get(field)
            if isinstance(text, str) and len(text) > limit:
                message[field] = (
                    f"{text[:limit]}\n[truncated: the model replied with {len(text):,} characters; "
                    f"the first {limit:,} are kept (Agent(max_response_chars=...))]"
                )
                choice[TRUNCATED_FROM] = len(text)
    return completion
