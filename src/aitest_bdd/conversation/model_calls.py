"""A model call as a turn keeps it, read from the chat completion the model answered with."""

from __future__ import annotations

from openai.types.chat import ChatCompletion

from ..models.streaming import FIRST_TOKEN_MS
from .replies import TRUNCATED_FROM
from .responses_api import reasoning_summary
from .turns import ModelCall, Usage


def model_call(
    response: ChatCompletion,
    model: str,
    duration_ms: float,
    span_id: str | None = None,
    started_ms: float | None = None,
) -> ModelCall:
    """The call that `response` answered (its first choice), made to `model` when the response does not name one."""
    choice = response.choices[0]
    reply = choice.message
    return ModelCall(
        model=response.model or model,
        content=reply.content,
        tool_calls=[call.function.name for call in reply.tool_calls or []],
        finish_reason=choice.finish_reason,
        refusal=reply.refusal,
        usage=Usage.reported(response.usage),
        duration_ms=duration_ms,
        truncated_from=(choice.model_extra or {}).get(TRUNCATED_FROM),
        reasoning_summary=reasoning_summary(reply),
        first_token_ms=(response.model_extra or {}).get(FIRST_TOKEN_MS),
        span_id=span_id,
        started_ms=started_ms,
    )
