"""CallableApp: a plain function, sync or async, giving a reply or an AppTurn; its failures are AppErrors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI, OpenAI

from aitest_bdd.app import AppError, AppRequest, AppToolCall, AppTurn, ModelEndpoint
from aitest_bdd.apps.callable import CallableApp
from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

ROOT = Path(__file__).parent.parent
ASKS_HOW_MUCH = "Happy to help. How much should I move, and from which account to which?"


@pytest.fixture
def model() -> Iterator[ModelEndpoint]:
    script = Script.model_validate(json.loads((ROOT / "features" / "demo_model.json").read_text(encoding="utf-8")))
    with ScriptedModelServer(script) as server:
        yield ModelEndpoint(base_url=server.base_url, api_key="x", model="gpt-4.1-mini")


def request(message: str, model: ModelEndpoint) -> AppRequest:
    history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "Hi!"}]
    return AppRequest(message=message, history=history, state="kept", model=model, conversation_id="c1")


@pytest.mark.asyncio
async def test_a_sync_function_runs_in_a_worker_thread_and_its_string_is_the_reply(model: ModelEndpoint) -> None:
    threads = []

    def answer(request: AppRequest) -> str:
        threads.append(threading.get_ident())
        messages = [*request.history, {"role": "user", "content": request.message}]
        with OpenAI(base_url=request.model.base_url, api_key=request.model.api_key) as client:
            completion = client.chat.completions.create(model=request.model.model, messages=messages)  # type: ignore[arg-type]
        return completion.choices[0].message.content or ""

    turn = await CallableApp(answer).turn(request("Please move some money", model))

    assert turn == AppTurn(reply=ASKS_HOW_MUCH)
    assert threads and threads[0] != threading.get_ident()


@pytest.mark.asyncio
async def test_an_async_function_runs_on_the_loop_and_its_app_turn_is_kept(model: ModelEndpoint) -> None:
    threads = []

    async def answer(request: AppRequest) -> AppTurn:
        threads.append(threading.get_ident())
        async with AsyncOpenAI(base_url=request.model.base_url, api_key=request.model.api_key) as client:
            completion = await client.chat.completions.create(
                model=request.model.model, messages=[{"role": "user", "content": request.message}]
            )
        call = AppToolCall(name="lookup", arguments={"q": request.message})
        return AppTurn(reply=completion.choices[0].message.content or "", state=request.state, tool_calls=[call])

    turn = await CallableApp(answer).turn(request("Please move some money", model))

    assert turn.reply == ASKS_HOW_MUCH
    assert turn.state == "kept"
    assert turn.tool_calls == [AppToolCall(name="lookup", arguments={"q": "Please move some money"})]
    assert threads == [threading.get_ident()]


@pytest.mark.asyncio
async def test_an_object_with_an_async_call_is_awaited(model: ModelEndpoint) -> None:
    class Agent:
        async def __call__(self, request: AppRequest) -> str:
            return f"{len(request.history)} messages before {request.message!r}"

    turn = await CallableApp(Agent()).turn(request("hi", model))

    assert turn.reply == "2 messages before 'hi'"


@pytest.mark.asyncio
async def test_an_exception_from_the_function_is_an_app_error_with_its_cause(model: ModelEndpoint) -> None:
    def answer(request: AppRequest) -> str:
        raise KeyError("account")

    with pytest.raises(AppError, match=r"^the function .*answer failed: KeyError: 'account'$"):
        await CallableApp(answer).turn(request("hi", model))


@pytest.mark.asyncio
async def test_an_app_error_from_the_function_is_kept_as_it_is(model: ModelEndpoint) -> None:
    async def answer(request: AppRequest) -> str:
        raise AppError("the bank is closed")

    with pytest.raises(AppError, match=r"^the bank is closed$"):
        await CallableApp(answer).turn(request("hi", model))


@pytest.mark.asyncio
async def test_a_result_that_is_neither_a_string_nor_a_turn_is_an_app_error(model: ModelEndpoint) -> None:
    def answer(request: AppRequest) -> dict[str, str]:
        return {"reply": "hi"}

    with pytest.raises(AppError, match=r"answer returned a dict, not a str or an AppTurn$"):
        await CallableApp(answer).turn(request("hi", model))  # type: ignore[arg-type]
