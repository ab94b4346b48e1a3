"""A simulated user: an LLM plays the user for several turns; then its goal and the conversation's length are checked.

The user model is `--aitest-user-model` (ini `aitest_user_model`), else the judge model; its system prompt is the
`aitest_user_prompt` fixture's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from pytest_bdd import parsers, then, when

from ...config import ConfigError, Provider
from ...conversation.judge import NO_JUDGE, JudgeError
from ...conversation.judge_questions import JudgeSettings, verdict_question
from ...conversation.simulated_user import (
    GOAL_CRITERION,
    NO_USER_MODEL,
    USER_PROMPT,
    UserModelError,
    talk,
)
from ...conversation.transcript import format_turns
from ...conversation.turns import SimulatedUser, Turn
from ...recording.cassette import RecordingMismatch
from ..scopes import Scope
from . import fail

if TYPE_CHECKING:
    from ...conversation.session import AgentSession

TURNS = r"for at most (?P<turns>\d+) turns?"
_LABEL = re.compile(r"^\s*(persona|goal|instructions)\s*:\s*", re.IGNORECASE)
DEFAULT_PERSONA = "a typical user of this assistant"
BRIEF_EXAMPLE = "the lines 'Persona: a busy customer' and 'Goal: move 200 USD to savings'"


@pytest.fixture
def aitest_user_model(request: pytest.FixtureRequest, aitest_judge: Provider | None) -> Provider | None:
    """The user model's provider: from --aitest-user-model / ini aitest_user_model, else the judge's. Override it in
    conftest.py."""
    config = request.config
    model = config.getoption("aitest_user_model") or config.getini("aitest_user_model")
    return Provider(model=model, max_retries=2) if model else aitest_judge


@pytest.fixture
def aitest_user_prompt() -> str:
    """The user model's system prompt, with `{persona}`, `{goal}`, `{instructions}` and `{max_turns}` filled in.
    Override it in conftest.py; keep the final words `[GOAL REACHED]` and `[GIVE UP]` in it."""
    return USER_PROMPT


@when(
    parsers.re(rf'a simulated user who is "(?P<persona>[^"]+)" and wants "(?P<goal>[^"]+)" talks to the agent {TURNS}')
)
def simulated_user_talks(
    aitest_session: AgentSession,
    aitest_user_model: Provider | None,
    aitest_user_prompt: str,
    persona: str,
    goal: str,
    turns: str,
) -> None:
    simulate(aitest_session, aitest_user_model, aitest_user_prompt, (persona, goal, ""), int(turns))


@when(parsers.re(rf"a simulated user talks to the agent {TURNS}:"))
def simulated_user_talks_docstring(
    aitest_session: AgentSession,
    aitest_user_model: Provider | None,
    aitest_user_prompt: str,
    turns: str,
    docstring: str,
) -> None:
    simulate(aitest_session, aitest_user_model, aitest_user_prompt, read_brief(docstring), int(turns))


def read_brief(docstring: str) -> tuple[str, str, str]:
    """The persona, goal and instructions in a docstring of `Persona:`, `Goal:` and `Instructions:` sections (a
    section runs on to the next label); the step fails without a goal, or with text before the first label."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in docstring.splitlines():
        label = _LABEL.match(line)
        if label:
            current = label.group(1).casefold()
            sections.setdefault(current, []).append(line[label.end() :])
        elif current is not None:
            sections[current].append(line)
        elif line.strip():
            pytest.fail(
                f"the simulated user's docstring starts with a line that has no label: {line.strip()!r}; "
                f"start with {BRIEF_EXAMPLE}",
                pytrace=False,
            )
    brief = {name: " ".join(" ".join(lines).split()) for name, lines in sections.items()}
    if not brief.get("goal"):
        pytest.fail(f"the simulated user's docstring needs a 'Goal:' line: write {BRIEF_EXAMPLE}", pytrace=False)
    return brief.get("persona") or DEFAULT_PERSONA, brief["goal"], brief.get("instructions", "")


def simulate(
    session: AgentSession, provider: Provider | None, template: str, brief: tuple[str, str, str], max_turns: int
) -> None:
    """Let the user model play the user; the step fails when the agent fails a turn or the user model fails."""
    if provider is None:
        pytest.fail(NO_USER_MODEL, pytrace=False)
    if max_turns < 1:
        pytest.fail("a simulated user needs at least 1 turn", pytrace=False)
    persona, goal, instructions = brief
    session.open()
    user = SimulatedUser(
        persona=persona,
        goal=goal,
        instructions=instructions,
        model=provider.model,
        max_turns=max_turns,
        first_turn=len(session.turns) + 1,
    )
    session.conversation.simulated_users.append(user)
    try:
        session.runtime.call(talk, session, provider, user, template)
    except (UserModelError, ConfigError, RecordingMismatch) as error:
        problem = str(error)
    else:
        if user.outcome != "agent failed":
            return
        problem = f"the agent could not answer the simulated user: {session.last_turn.error}"
    pytest.fail(f"{problem}\n\n{format_turns(_written(session, user))}", pytrace=False)


def _written(session: AgentSession, user: SimulatedUser) -> list[Turn]:
    """The turns `user` wrote."""
    return session.turns[user.first_turn - 1 : user.first_turn - 1 + user.turns]


def _latest_user(session: AgentSession) -> SimulatedUser:
    users = session.conversation.simulated_users
    if not users:
        pytest.fail(
            "there is no simulated user in this scenario: add a 'When a simulated user ...' step first", pytrace=False
        )
    return users[-1]


@then("the user's goal is reached")
def goal_is_reached(aitest_session: AgentSession, aitest_judge: Provider | None, aitest_judging: JudgeSettings) -> None:
    user = _latest_user(aitest_session)
    if aitest_judge is None:
        pytest.fail(NO_JUDGE, pytrace=False)
    if not user.turns:
        pytest.fail(
            f"the simulated user ended the conversation before its first message ({user.outcome}: {user.note}), "
            "so its goal was not reached",
            pytrace=False,
        )
    criterion = GOAL_CRITERION.format(goal=user.goal)
    question = verdict_question(criterion, aitest_session.turns, aitest_judging.evidence, subject="conversation")
    try:
        verdict = aitest_session.runtime.call(aitest_session.ask_judge, aitest_judge, question, aitest_judging.samples)
    except (JudgeError, ConfigError, RecordingMismatch) as error:
        fail(str(error), aitest_session, _scope(aitest_session, user))
        return
    if not verdict.passed:
        said = f"the simulated user's own word: {user.outcome or 'none'}" + (f" ({user.note})" if user.note else "")
        fail(
            f'expected the simulated user\'s goal "{user.goal}" to be reached, but the judge ({verdict.model}) said '
            f"no: {verdict.reasoning}\n{said}",
            aitest_session,
            _scope(aitest_session, user),
        )


@then(parsers.re(r"the conversation takes at most (?P<limit>\d+) turns?"))
def at_most_turns(aitest_session: AgentSession, limit: str) -> None:
    taken = len(aitest_session.turns)
    if taken > int(limit):
        fail(
            f"expected the conversation to take at most {limit} turn(s), but it took {taken}",
            aitest_session,
            Scope(list(aitest_session.turns), "in the conversation"),
        )


def _scope(session: AgentSession, user: SimulatedUser) -> Scope:
    return Scope(_written(session, user) or [session.last_turn], "the simulated user's turns")
