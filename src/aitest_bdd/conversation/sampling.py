"""Answering an MCP server's sampling requests with a model: the server's `sampling_model` (a model name on the
agent's provider settings, or a `Provider`), else the agent's own. What the answers cost: `sampling_cost`."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from ..config import ConfigError, Provider
from ..models.providers import counting_requests, describe_api_error, describe_transport_error, make_client
from ..tools.call_events import Sampling
from .turns import Usage

UNANSWERED_SAMPLING = "the MCP server's sampling request could not be answered"


def sampling_provider(agent_provider: Provider, sampling_model: Provider | str | None) -> Provider:
    """The provider that answers a server's sampling requests."""
    if isinstance(sampling_model, Provider):
        return sampling_model
    return agent_provider.with_model(sampling_model) if sampling_model else agent_provider


async def sample(
    provider: Provider, messages: list[dict[str, Any]], max_tokens: int, http_client: httpx2.AsyncClient
) -> Sampling:
    """Ask `provider`'s model to answer `messages`; a failure is the answer's `problem`."""
    answer = Sampling(messages=messages, max_tokens=max_tokens, model=provider.model)
    started = time.perf_counter()
    body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens}
    if provider.temperature is not None:
        body["temperature"] = provider.temperature
    try:
        client, body["model"] = make_client(provider, http_client)
        with counting_requests() as sent:
            try:
                data = await client.post("/chat/completions", body=body, cast_to=object)
            except openai.APIError as error:
                return _failed(answer, describe_api_error(error, provider, sent.sent))
        completion = ChatCompletion.model_validate(data)
    except ConfigError as error:
        return _failed(answer, str(error))
    except (ValidationError, ValueError, TypeError) as error:
        return _failed(answer, f"model {provider.model!r} sent a response that is not a chat completion ({error})")
    except Exception as error:
        transport = describe_transport_error(error, provider)
        if transport is None:
            raise
        return _failed(answer, transport)
    usage = Usage.reported(completion.usage)
    text = completion.choices[0].message.content or "" if completion.choices else ""
    return answer.model_copy(
        update={
            "text": text,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
    )


def _failed(answer: Sampling, why: str) -> Sampling:
    return answer.model_copy(update={"problem": f"{UNANSWERED_SAMPLING}: {why}"})
