"""A plain Python function as the agent under test.

The function is given each turn's `AppRequest` and returns the reply, or an `AppTurn` to say more::

    from openai import OpenAI

    from aitest_bdd import Agent
    from aitest_bdd.apps.callable import CallableApp

    def answer(request):
        client = OpenAI(base_url=request.model.base_url, api_key=request.model.api_key)
        messages = [*request.history, {"role": "user", "content": request.message}]
        completion = client.chat.completions.create(model=request.model.model, messages=messages)
        return completion.choices[0].message.content or ""

    Agent(name="echo", provider=provider, app=CallableApp(answer))

A sync function runs in a worker thread, so it may block; an async one runs on the event loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio.to_thread

from aitest_bdd.app import AgentApp, AppError, AppRequest, AppTurn
from aitest_bdd.errors import cause

TurnFunction = Callable[[AppRequest], AppTurn | str | Awaitable[AppTurn | str]]
"""Answers one turn: the reply, or an `AppTurn`; sync or async."""


class CallableApp(AgentApp):
    """Runs each turn as `func(request)`. A reply given as a string has no state and no tool calls."""

    label = "Python function"

    def __init__(self, func: TurnFunction) -> None:
        self._func = func

    async def turn(self, request: AppRequest) -> AppTurn:
        """Call the function; an AppError it raises fails the turn as it is, any other exception with its cause."""
        try:
            if inspect.iscoroutinefunction(self._func) or inspect.iscoroutinefunction(type(self._func).__call__):
                result = await self._func(request)  # type: ignore[misc]
            else:
                result = await anyio.to_thread.run_sync(self._func, request, abandon_on_cancel=True)
                if inspect.isawaitable(result):
                    result = await result
        except AppError:
            raise
        except Exception as error:
            raise AppError(f"the function {_name(self._func)} failed: {cause(error)}") from error
        if isinstance(result, str):
            return AppTurn(reply=result)
        if isinstance(result, AppTurn):
            return result
        raise AppError(f"the function {_name(self._func)} returned a {type(result).__name__}, not a str or an AppTurn")


def _name(func: object) -> str:
    return getattr(func, "__qualname__", None) or type(func).__qualname__
