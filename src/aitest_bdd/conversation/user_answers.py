"""What the user answers when an MCP server asks a question during a tool call (elicitation), as the feature says.

The answer is a set of field values, given by name; each question takes the fields its schema asks for,
converted to the types the schema gives them (numbers, booleans, enum values). Or the user declines, or
cancels, every question.
"""

from __future__ import annotations

from typing import Any, Literal

from ..redaction import Redactor
from ..tools.call_events import Elicitation

ANSWER_STEP = "Given the user will answer the server's question with:"
DECLINE_STEP = "Given the user declines the server's questions"
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


class UserAnswers:
    """The feature's answers to the questions MCP servers ask in one scenario."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.refusal: Literal["decline", "cancel"] | None = None

    def answer_with(self, values: dict[str, str]) -> None:
        """Answer with these field values (added to those given before)."""
        self.values.update(values)
        self.refusal = None

    def redacted(self, redactor: Redactor) -> UserAnswers:
        """These answers with their values redacted: as they answer the questions of a recording, whose questions
        are redacted too."""
        answers = UserAnswers()
        answers.values = {name: redactor.text(value) for name, value in self.values.items()}
        answers.refusal = self.refusal
        return answers

    def refuse(self, action: Literal["decline", "cancel"]) -> None:
        """Decline, or cancel, every question."""
        self.refusal = action

    def answer(self, message: str, schema: dict[str, Any]) -> Elicitation:
        """The answer to the question `message`, whose answer must fit `schema`; its `problem` says why there is
        none."""
        asked = Elicitation(message=message, requested_schema=schema)
        if self.refusal is not None:
            return asked.model_copy(update={"action": self.refusal})
        properties: dict[str, Any] = schema.get("properties") or {}
        if not self.values:
            return asked.model_copy(update={"problem": unanswered(message, properties)})
        missing = [name for name in schema.get("required") or [] if name not in self.values]
        if missing:
            listed = ", ".join(map(repr, missing))
            return asked.model_copy(
                update={
                    "problem": f"the MCP server asked the user {message!r}, and the answer has no {listed}: add "
                    f"{'it' if len(missing) == 1 else 'them'} to the table of '{ANSWER_STEP}'"
                }
            )
        content: dict[str, Any] = {}
        for name, value in self.values.items():
            if name not in properties:
                continue
            try:
                content[name] = typed(value, properties[name])
            except ValueError as error:
                problem = f"the MCP server asked the user {message!r}, and the answer's {name!r} {error}"
                return asked.model_copy(update={"problem": problem})
        return asked.model_copy(update={"action": "accept", "content": content})


def unanswered(message: str, properties: dict[str, Any]) -> str:
    """The message for a question the feature does not answer: the question, and the steps that answer it."""
    asked = f"the MCP server asked the user {message!r}, and the scenario gives no answer"
    if not properties:
        return f"{asked}: add '{DECLINE_STEP}'"
    rows = "".join(f"\n  | {name} | ... |" for name in properties)
    return f"{asked}: add\n{ANSWER_STEP}{rows}\nor '{DECLINE_STEP}'"


def typed(value: str, schema: dict[str, Any]) -> Any:
    """`value` as the type `schema` asks for; ValueError (ending a sentence) when it is not one."""
    choices = _choices(schema)
    if choices is not None:
        if value in choices:
            return choices[value]
        raise ValueError(f"{value!r} is not one of: {', '.join(choices)}")
    kind = schema.get("type")
    if kind == "boolean":
        if value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise ValueError(f"{value!r} is not a yes or no (true/false)")
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not {'an integer' if kind == 'integer' else 'a number'}") from None
    if kind == "array":
        items = [item.strip() for item in value.split(",") if item.strip()]
        return [typed(item, schema.get("items") or {}) for item in items]
    return value


def _choices(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The values an enum allows, by what the feature may write: the value, or its title."""
    if "enum" in schema:
        return {str(value): value for value in schema["enum"]}
    options = schema.get("oneOf") or schema.get("anyOf")
    if options and all("const" in option for option in options):
        by_title = {str(option["title"]): option["const"] for option in options if "title" in option}
        return {**by_title, **{str(option["const"]): option["const"] for option in options}}
    return None
