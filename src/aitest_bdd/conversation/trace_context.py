"""The ids of a traced conversation's spans (`--aitest-otel`), made before each call so that the model and the MCP
servers can join the trace: the W3C `traceparent` they are sent, and when each call started in its turn.

The spans themselves are built after the test, from these ids and the turn records (report/otel).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from .turns import Conversation, Turn


def start_trace(conversation: Conversation) -> None:
    """Give `conversation` its trace and its `invoke_agent` span."""
    conversation.trace_id, conversation.span_id = secrets.token_hex(16), new_span_id()


def new_span_id() -> str:
    return secrets.token_hex(8)


def traceparent(conversation: Conversation, span_id: str) -> str:
    """The W3C trace context header of the span `span_id` in the conversation's trace (sampled)."""
    return f"00-{conversation.trace_id}-{span_id}-01"


def started_ms(turn: Turn) -> float | None:
    """How long ago `turn` started, in milliseconds; None when the turn is not traced."""
    if turn.started_at is None:
        return None
    return (datetime.now(UTC) - turn.started_at).total_seconds() * 1000
