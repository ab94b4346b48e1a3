"""An LLM judge: does the agent's last response meet a criterion written in plain words?"""

from __future__ import annotations

import json
import re
import time

import openai

from .config import Provider
from .providers import make_client
from .records import Judgement, Turn
from .session import describe_api_error, usage_of
from .transcript import cut, format_turns

INSTRUCTIONS = """You judge the replies of an AI assistant for a test suite.
You get a conversation between a user and the assistant (with the tools it called) and one criterion.
Decide whether the assistant's LAST reply meets the criterion. Be strict: when in doubt, it does not.
Answer with a JSON object only, no other text: {"pass": true or false, "reasoning": "one or two sentences"}"""

CLARIFICATION = (
    "The assistant's last reply asks the user a question to clarify the request (missing or ambiguous "
    "information) instead of answering or acting on it."
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class JudgeError(RuntimeError):
    """The judge could not give a verdict."""


def judge_prompt(criterion: str, turns: list[Turn]) -> str:
    return f"CONVERSATION:\n{format_turns(turns)}\n\nCRITERION:\n{criterion}"


def parse_verdict(text: str, model: str) -> tuple[bool, str]:
    """The verdict and reasoning from the judge's JSON answer."""
    try:
        data = json.loads(_FENCE.sub("", text.strip()))
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("pass"), bool):
        raise JudgeError(
            f'the judge model {model!r} did not answer with JSON like {{"pass": true, "reasoning": "..."}}; '
            f"it answered: {cut(text, 500)!r}"
        )
    return data["pass"], str(data.get("reasoning", ""))


async def judge(provider: Provider, criterion: str, turns: list[Turn]) -> Judgement:
    """Ask the judge model whether the last of `turns` meets `criterion`."""
    client, model = make_client(provider)
    started = time.perf_counter()
    try:
        response = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": judge_prompt(criterion, turns)},
            ],
            temperature=0 if provider.temperature is None else provider.temperature,
        )
    except openai.APIError as error:
        raise JudgeError(f"the judge failed: {describe_api_error(error, provider.model)}") from None
    finally:
        await client.close()
    if not response.choices:
        raise JudgeError(f"the judge model {provider.model!r} returned no choices")
    passed, reasoning = parse_verdict(response.choices[0].message.content or "", provider.model)
    return Judgement(
        criterion=criterion,
        passed=passed,
        reasoning=reasoning,
        model=response.model or model,
        usage=usage_of(response.usage),
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def judge_provider(model: str | None) -> Provider | None:
    """The judge's provider for the `--aitest-judge-model` value, if one was set."""
    return Provider(model=model, max_retries=2) if model else None


NO_JUDGE = (
    "this step needs a judge model: pass --aitest-judge-model MODEL (or set aitest_judge_model in the ini), "
    "or define a fixture named aitest_judge that returns a Provider"
)
