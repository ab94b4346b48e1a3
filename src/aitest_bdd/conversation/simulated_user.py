"""A simulated user: an LLM (the user model) plays the user, turn by turn, until its goal is reached or it gives up.

The user model sees the conversation from the user's side: its own messages as the assistant's, the agent's
replies as the user's. It answers with its next message for the agent, or with a final word: `GOAL_REACHED` or
`GIVE_UP` (with a reason after it), which ends the conversation and is not sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..config import Provider
from .turns import SimulatedUser, Turn, Usage, UserModelCall

if TYPE_CHECKING:
    import httpx2
    from openai.types.chat import ChatCompletion

GOAL_REACHED = "[GOAL REACHED]"
GIVE_UP = "[GIVE UP]"

USER_PROMPT = f"""You play a user who talks to an AI assistant, to test the assistant.
You are: {{persona}}
What you want: {{goal}}
{{instructions}}
Write only your next message to the assistant, as this user would write it: short, natural, one message at a time.
Do not play the assistant, and do not explain what you are doing. Give the assistant what it asks for when this user
would know it.
When the assistant has done what you wanted, answer with {GOAL_REACHED} and nothing else.
When you are sure it will not get there (it refuses, or goes round in circles), answer with {GIVE_UP} and one
sentence saying why.
You have at most {{max_turns}} messages."""
"""The user model's system prompt; `{persona}`, `{goal}`, `{instructions}` and `{max_turns}` are filled in."""

OPENING = "(The conversation has not started. Write your first message to the assistant.)"
"""The first message the user model reads: it opens the conversation."""

GOAL_CRITERION = (
    "Over the whole conversation, the user's goal was reached: the assistant did, or told the user, what they "
    "wanted. The user's goal: {goal}"
)

NO_USER_MODEL = (
    "a simulated user needs a user model: pass --aitest-user-model MODEL (or set aitest_user_model in the ini), or a "
    "judge model (--aitest-judge-model), which plays the user when no user model is set; or define a fixture named "
    "aitest_user_model (or aitest_judge) that returns a Provider, for a base_url of its own"
)


class UserModelError(RuntimeError):
    """The user model could not give the simulated user's next message."""


class Conversing(Protocol):
    """What a simulated user talks through: an agent session."""

    async def ask_user_model(self, provider: Provider, messages: list[dict[str, str]]) -> UserModelCall: ...

    async def run_turn(self, message: str, *, simulated: bool) -> Turn: ...


def user_prompt(template: str, user: SimulatedUser) -> str:
    """The user model's system prompt for `user`, from `template`."""
    instructions = f"How you behave: {user.instructions}\n" if user.instructions else ""
    filled = {"{persona}": user.persona, "{goal}": user.goal, "{instructions}": instructions}
    filled["{max_turns}"] = str(user.max_turns)
    for placeholder, value in filled.items():
        template = template.replace(placeholder, value)
    return template


def user_model_messages(prompt: str, exchanges: list[tuple[str, str]]) -> list[dict[str, str]]:
    """What the user model is sent: its prompt, the opening, then each (its message, the agent's reply) so far."""
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": OPENING}]
    for said, reply in exchanges:
        messages += [{"role": "assistant", "content": said}, {"role": "user", "content": reply}]
    return messages


def final_word(reply: str) -> tuple[Literal["goal reached", "gave up"], str] | None:
    """("goal reached" or "gave up", what else it said) when `reply` ends the conversation; None for a message."""
    if GOAL_REACHED in reply:
        return "goal reached", " ".join(reply.replace(GOAL_REACHED, " ").split())
    if GIVE_UP in reply:
        return "gave up", " ".join(reply.replace(GIVE_UP, " ").split())
    return None


async def ask_user_model(provider: Provider, messages: list[dict[str, str]], http_client: httpx2.AsyncClient) -> Any:
    """The user model's completion, as the JSON it sent (at the provider's temperature, else the model's default)."""
    from ..models.providers import ModelCallFailed, post_chat  # lazily: the step library loads this module early

    try:
        return await post_chat(provider, messages, http_client, None)
    except ModelCallFailed as error:
        raise UserModelError(f"the user model failed: {error}") from None


def user_model_call(model: str, completion: ChatCompletion, duration_ms: float) -> UserModelCall:
    """The user model's reply in its completion."""
    if not completion.choices:
        raise UserModelError(f"the user model {model!r} returned no choices")
    reply = (completion.choices[0].message.content or "").strip()
    if not reply:
        raise UserModelError(f"the user model {model!r} sent an empty message (check its prompt)")
    return UserModelCall(
        model=completion.model or model, reply=reply, usage=Usage.reported(completion.usage), duration_ms=duration_ms
    )


async def talk(session: Conversing, provider: Provider, user: SimulatedUser, template: str) -> None:
    """Let the user model play `user` in `session` until it gives its final word, the agent fails a turn, or
    `user.max_turns` turns have run (the user model then reads the last reply, and what it says is not sent)."""
    prompt = user_prompt(template, user)
    exchanges: list[tuple[str, str]] = []
    while True:
        call = await session.ask_user_model(provider, user_model_messages(prompt, exchanges))
        user.calls.append(call)
        ended = final_word(call.reply)
        if ended is not None:
            user.outcome, user.note = ended
            return
        if user.turns == user.max_turns:
            user.outcome, user.note = "turn limit", call.reply
            return
        turn = await session.run_turn(call.reply, simulated=True)
        user.turns += 1
        if turn.error:
            user.outcome = "agent failed"
            return
        exchanges.append((call.reply, turn.final_response))
