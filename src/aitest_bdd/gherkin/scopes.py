"""Which turns a Then step is about: the last turn, one turn by number, or the whole conversation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ..conversation.transcript import format_turns
from ..conversation.turns import ToolCall, Turn

if TYPE_CHECKING:
    from ..conversation.session import AgentSession

SCOPE = r"(?P<scope> in the conversation| so far| in turn \d+)?"
_TURN = re.compile(r" in turn (\d+)")


@dataclass(frozen=True)
class Scope:
    """The turns a step checks, and the words that name them in messages."""

    turns: list[Turn]
    name: str

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls of these turns; the step fails when an agent that does not expose them made a turn."""
        hidden = next((turn.hidden_tool_calls for turn in self.turns if turn.hidden_tool_calls), None)
        if hidden is not None:
            pytest.fail(f"{hidden}\n\n{format_turns(self.turns)}", pytrace=False)
        return [call for turn in self.turns for call in turn.tool_calls]


def scope_of(session: AgentSession, words: str | None) -> Scope:
    """The turns that `words` (as matched by SCOPE) select; no words means the last turn."""
    if not words:
        turn = session.last_turn
        return Scope([turn], f"in turn {turn.number}")
    number = _TURN.fullmatch(words)
    if number:
        turn = session.turn(int(number.group(1)))
        return Scope([turn], f"in turn {turn.number}")
    session.last_turn  # noqa: B018 - fails clearly when there is no turn yet
    return Scope(list(session.turns), "in the conversation")
