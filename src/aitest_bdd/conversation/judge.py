"""An LLM judge: does the agent's last response meet a criterion written in plain words?"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..config import Provider
from .transcript import cut, format_turns
from .turns import Turn

if TYPE_CHECKING:
    import httpx2

INSTRUCTIONS = """You judge the replies of an AI assistant for a test suite.
You get a conversation between a user and the assistant (with the tools it called) and one criterion.
Decide whether the assistant's LAST reply meets the criterion. Be strict: when in doubt, it does not.
Answer with a JSON object only, no other text: {"pass": true or false, "reasoning": "one or two sentences"}"""

CLARIFICATION = (
    "The assistant's last reply asks the user a question to clarify the request (missing or ambiguous "
    "information) instead of answering or acting on it."
)

FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
"""A Markdown code fence around a JSON answer."""


class JudgeError(RuntimeError):
    """The judge could not give a verdict."""


def judge_messages(
    criterion: str, turns: list[Turn], evidence: bool = True, instructions: str = INSTRUCTIONS
) -> list[dict[str, str]]:
    """What the judge model is asked: the conversation so far (with the tool calls and results as evidence, unless
    not `evidence`) and the criterion."""
    conversation = format_turns(turns, tools=evidence)
    return [
        {"role": "system", "content": instructions},
        {"role": "user", "content": f"CONVERSATION:\n{conversation}\n\nCRITERION:\n{criterion}"},
    ]


def parse_verdict(text: str, model: str) -> tuple[bool, str]:
    """The verdict and reasoning from the judge's JSON answer."""
    try:
        data = json.loads(FENCE.sub("", text.strip()))
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("pass"), bool):
        raise JudgeError(
            f'the judge model {model!r} did not answer with JSON like {{"pass": true, "reasoning": "..."}}; '
            f"it answered: {cut(text, 500)!r}"
        )
    return data["pass"], str(data.get("reasoning", ""))


async def ask_judge(
    provider: Provider, messages: list[dict[str, str]], http_client: httpx2.AsyncClient, temperature: float = 0
) -> Any:
    """The judge model's completion, as the JSON it sent (at the provider's temperature, else at `temperature`)."""
    from ..models.providers import ModelCallFailed, post_chat  # lazily: the step library loads this module early

    try:
        return await post_chat(provider, messages, http_client, temperature)
    except ModelCallFailed as error:
        raise JudgeError(f"the judge failed: {error}") from None


def judge_provider(model: str | None) -> Provider | None:
    """The judge's provider for the `--aitest-judge-model` value, if one was set."""
    return Provider(model=model, max_retries=2) if model else None


NO_JUDGE = (
    "this step needs a judge model: pass --aitest-judge-model MODEL (or set aitest_judge_model in the ini), "
    "or define a fixture named aitest_judge that returns a Provider"
)
