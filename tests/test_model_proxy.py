"""The model proxy serves each conversation's model calls to its handler, for the real `openai` client, streamed or
not."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
import pytest_asyncio

from aitest_bdd.models.proxy import Api, ModelProxy, ProxyHandler, ProxyReply

pytestmark = pytest.mark.asyncio

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
CALLS = [
    {"id": "call_1", "type": "function", "function": {"name": "get_balance", "arguments": '{"account": "checking"}'}},
    {"id": "call_2", "type": "function", "function": {"name": "get_rates", "arguments": "{}"}},
]
RESPONSE_OUTPUT = [
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "The user wants a balance."}]},
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Checking your balance now.", "annotations": []}],
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "get_balance",
        "arguments": '{"account": "checking"}',
        "status": "completed",
    },
]


def completion(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop", "logprobs": None}
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]} | {
        "usage": USAGE
    }


def response(output: list[dict[str, Any]]) -> dict[str, Any]:
    usage = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    details = {"input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 3}}
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "m",
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage | details,
    }


def answering(body: dict[str, Any], seen: list[tuple[Api, dict[str, Any]]] | None = None) -> ProxyHandler:
    """A handler that answers every call with `body`, noting each call in `seen`."""

    async def handler(api: Api, request: dict[str, Any]) -> ProxyReply:
        if seen is not None:
            seen.append((api, request))
        return ProxyReply(200, body)

    return handler


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[ModelProxy]:
    model_proxy = ModelProxy()
    yield model_proxy
    await model_proxy.aclose()


async def client_for(proxy: ModelProxy, handler: ProxyHandler) -> openai.AsyncOpenAI:
    base_url, token = await proxy.open(handler)
    return openai.AsyncOpenAI(base_url=base_url, api_key=token, max_retries=0)


async def test_a_chat_completion_goes_to_the_handler_and_back(proxy: ModelProxy) -> None:
    seen: list[tuple[Api, dict[str, Any]]] = []
    client = await client_for(proxy, answering(completion("Your balance is 1,500."), seen))
    messages = [{"role": "system", "content": "You are a bank."}, {"role": "user", "content": "My balance?"}]
    answer = await client.chat.completions.create(model="m", messages=messages, temperature=0.5)
    assert seen == [("chat", {"model": "m", "messages": messages, "temperature": 0.5})]
    assert answer.choices[0].message.content == "Your balance is 1,500."
    assert answer.usage is not None and answer.usage.total_tokens == 18


@pytest.mark.parametrize("include_usage", [True, False])
async def test_a_streamed_chat_completion_carries_tool_calls_and_usage(proxy: ModelProxy, include_usage: bool) -> None:
    seen: list[tuple[Api, dict[str, Any]]] = []
    client = await client_for(proxy, answering(completion("Let me check.", CALLS), seen))
    stream = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "My balance?"}],
        stream=True,
        stream_options={"include_usage": include_usage},
    )
    text, calls, finish_reasons, usages = "", {}, [], []
    async for chunk in stream:
        usages += [chunk.usage] if chunk.usage else []
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish_reasons += [choice.finish_reason] if choice.finish_reason else []
            for piece in choice.delta.tool_calls or []:
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += piece.id or ""
                call["name"] += (piece.function and piece.function.name) or ""
                call["arguments"] += (piece.function and piece.function.arguments) or ""
    assert seen[0][1]["stream"] is True
    assert text == "Let me check."
    assert [calls[0], calls[1]] == [
        {"id": "call_1", "name": "get_balance", "arguments": '{"account": "checking"}'},
        {"id": "call_2", "name": "get_rates", "arguments": "{}"},
    ]
    assert finish_reasons == ["tool_calls"]
    assert [usage.total_tokens for usage in usages] == ([18] if include_usage else [])


async def test_the_sdk_stream_helper_assembles_a_streamed_chat_completion(proxy: ModelProxy) -> None:
    client = await client_for(proxy, answering(completion(None, CALLS[:1])))
    async with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "Hi"}]) as stream:
        final = await stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert (call.id, call.function.name) == ("call_1", "get_balance")
    assert call.function.arguments == '{"account": "checking"}'
    assert final.choices[0].finish_reason == "tool_calls"


async def test_a_streamed_response_ends_with_the_whole_response(proxy: ModelProxy) -> None:
    seen: list[tuple[Api, dict[str, Any]]] = []
    client = await client_for(proxy, answering(response(RESPONSE_OUTPUT), seen))
    kinds, text, thinking = [], "", ""
    async with client.responses.stream(model="m", input="My balance?") as stream:
        async for event in stream:
            kinds.append(event.type)
            text += event.delta if event.type == "response.output_text.delta" else ""
            thinking += event.delta if event.type == "response.reasoning_summary_text.delta" else ""
        final = await stream.get_final_response()
    assert seen[0][0] == "responses"
    assert (kinds[0], kinds[-1]) == ("response.created", "response.completed")
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 3
    assert (text, thinking) == ("Checking your balance now.", "The user wants a balance.")
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    call = final.output[2]
    assert call.type == "function_call"
    assert (call.call_id, call.name, json.loads(call.arguments)) == ("call_1", "get_balance", {"account": "checking"})
    assert final.output_text == "Checking your balance now."
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 3


async def test_create_with_stream_yields_the_completed_response(proxy: ModelProxy) -> None:
    client = await client_for(proxy, answering(response(RESPONSE_OUTPUT[2:])))
    events = [event async for event in await client.responses.create(model="m", input="Hi", stream=True)]
    completed = [event.response for event in events if event.type == "response.completed"]
    assert [[item.type for item in done.output] for done in completed] == [["function_call"]]
    assert [event.sequence_number for event in events] == list(range(len(events)))


async def test_an_error_reply_is_sent_as_json_even_when_a_stream_was_asked(proxy: ModelProxy) -> None:
    async def limited(api: Api, body: dict[str, Any]) -> ProxyReply:
        return ProxyReply(429, {"error": {"message": "slow down", "type": "rate_limit_error"}})

    client = await client_for(proxy, limited)
    with pytest.raises(openai.RateLimitError, match="slow down"):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], stream=True)


async def test_a_failing_handler_gives_500_and_the_proxy_goes_on(proxy: ModelProxy) -> None:
    calls = 0

    async def flaky(api: Api, body: dict[str, Any]) -> ProxyReply:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("choices")
        return ProxyReply(200, completion("fine"))

    client = await client_for(proxy, flaky)
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.InternalServerError) as raised:
        await client.chat.completions.create(model="m", messages=messages)
    assert raised.value.status_code == 500
    assert raised.value.body == {
        "message": "aitest-bdd's model proxy failed: KeyError: 'choices'",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    answer = await client.chat.completions.create(model="m", messages=messages)
    assert answer.choices[0].message.content == "fine"


async def test_an_unknown_token_gets_404(proxy: ModelProxy) -> None:
    base_url, token = await proxy.open(answering(completion("hi")))
    client = openai.AsyncOpenAI(base_url=base_url.replace(token, "0" * 32), api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="no conversation is served at this address"):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])


async def test_a_closed_conversation_gets_404_and_the_others_go_on(proxy: ModelProxy) -> None:
    closed_url, closed_token = await proxy.open(answering(completion("first")))
    other = await client_for(proxy, answering(completion("second")))
    proxy.close(closed_token)
    closed = openai.AsyncOpenAI(base_url=closed_url, api_key=closed_token, max_retries=0)
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.NotFoundError, match="no conversation is served at this address"):
        await closed.chat.completions.create(model="m", messages=messages)
    answer = await other.chat.completions.create(model="m", messages=messages)
    assert answer.choices[0].message.content == "second"


async def test_other_paths_get_404_naming_what_is_served(proxy: ModelProxy) -> None:
    client = await client_for(proxy, answering(completion("hi")))
    with pytest.raises(openai.NotFoundError) as raised:
        await client.models.list()
    message = raised.value.body["message"]  # type: ignore[index]
    assert message == (
        "aitest-bdd's model proxy serves POST /v1/chat/completions and POST /v1/responses, not GET /v1/models"
    )


async def test_a_body_that_is_not_a_json_object_gets_400(proxy: ModelProxy) -> None:
    seen: list[tuple[Api, dict[str, Any]]] = []
    client = await client_for(proxy, answering(completion("hi"), seen))
    with pytest.raises(openai.BadRequestError, match="the request body must be a JSON object"):
        await client.post("/chat/completions", body=["not", "an", "object"], cast_to=object)
    assert seen == []


async def test_two_conversations_have_their_own_handlers(proxy: ModelProxy) -> None:
    first = await client_for(proxy, answering(completion("from the first")))
    second = await client_for(proxy, answering(completion("from the second")))
    messages = [{"role": "user", "content": "Hi"}]
    answers = [await client.chat.completions.create(model="m", messages=messages) for client in (second, first)]
    assert [answer.choices[0].message.content for answer in answers] == ["from the second", "from the first"]
    assert first.base_url != second.base_url and first.api_key != second.api_key


async def test_requests_are_answered_concurrently(proxy: ModelProxy) -> None:
    arrived: list[str] = []
    both = asyncio.Event()

    async def waits_for_both(api: Api, body: dict[str, Any]) -> ProxyReply:
        arrived.append(body["messages"][0]["content"])
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)
        return ProxyReply(200, completion(body["messages"][0]["content"]))

    client = await client_for(proxy, waits_for_both)
    asks = [client.chat.completions.create(model="m", messages=[{"role": "user", "content": c}]) for c in "ab"]
    answers = await asyncio.gather(*asks)
    assert [answer.choices[0].message.content for answer in answers] == ["a", "b"]


async def test_aclose_stops_the_server_and_closes_its_port() -> None:
    model_proxy = ModelProxy()
    handlers_before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    base_url, _ = await model_proxy.open(answering(completion("hi")))
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers_before
    port = urlsplit(base_url).port
    assert port
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    await model_proxy.aclose()
    await model_proxy.aclose()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert asyncio.all_tasks() == {asyncio.current_task()}


@pytest.mark.parametrize("status", [409, 429, 502])
async def test_an_error_answer_is_not_retried_by_the_sdk(proxy: ModelProxy, status: int) -> None:
    calls = 0

    async def failing(api: Api, body: dict[str, Any]) -> ProxyReply:
        nonlocal calls
        calls += 1
        return ProxyReply(status, {"error": {"message": "the model is down", "type": "aitest_bdd_proxy_error"}})

    base_url, token = await proxy.open(failing)
    client = openai.AsyncOpenAI(base_url=base_url, api_key=token)  # the SDK's default: 2 retries
    with pytest.raises(openai.APIStatusError, match="the model is down"):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert calls == 1
