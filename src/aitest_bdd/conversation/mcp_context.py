"""MCP prompts and resources brought into a conversation: which of the agent's servers gives each, and the chat
messages they become.

A prompt's messages are the user's turn: consecutive messages of one role make one chat message, text as it is,
embedded resources as their text, images as `image_url` parts of a user message (assistant messages carry text
only, so there an image is described in words). A resource goes in as a user message of its own, before the
next user message: `RESOURCE_INTRO`, then each of its contents as an embedded resource block reads.
"""

from __future__ import annotations

import re
from typing import Any

from ..tools.answers import ContentBlock
from ..tools.offers import Offers, PromptResult, ResourceResult
from .tool_messages import Message, image_part

RESOURCE_INTRO = "Resource attached to the conversation:"
_EXPRESSION = re.compile(r"\{([+#./;?&]?)[^{}]*\}")
_EXPANSIONS = {
    "": r"[^/?#]+",
    "+": r".*",
    "#": r"(?:#.*)?",
    ".": r"(?:\.[^/?#]*)*",
    "/": r"(?:/[^/?#]*)*",
    ";": r"(?:;[^/?#]*)*",
    "?": r"(?:\?.*)?",
    "&": r"(?:&.*)?",
}
"""What each kind of RFC 6570 expression can expand to, as a regular expression."""


class OfferError(RuntimeError):
    """A prompt or resource that the agent's MCP servers do not offer as asked; the message says what they offer."""


def offered(offers: Offers) -> str:
    """What each server offers, on one line: `banking: review_account; weather: none`."""
    found = (f"{label}: {', '.join(item.key for item in items) or 'none'}" for label, items in offers.servers.items())
    return "; ".join(found) or "none (the agent has no MCP server)"


def named_server(servers: list[str], server: str, agent: str) -> str:
    """`server`, when it is one of the agent's servers (`servers`, their labels)."""
    if server not in servers:
        raise OfferError(f"agent {agent!r} has no MCP server {server!r}; it has: {', '.join(servers) or 'none'}")
    return server


def prompt_server(prompts: Offers, name: str, arguments: dict[str, str], server: str | None, agent: str) -> str:
    """The label of the server that offers the prompt `name` (`server`, one of the agent's, when given), once the
    arguments are checked: every required one given, none it does not take."""
    owners = {
        label: item
        for label, items in prompts.servers.items()
        for item in items
        if item.name == name and server in (None, label)
    }
    if not owners:
        where = f"MCP server {server!r} does not offer" if server else f"no MCP server of agent {agent!r} offers"
        raise OfferError(f"{where} the prompt {name!r}; the prompts offered: {offered(prompts)}")
    if len(owners) > 1:
        first = next(iter(owners))
        raise OfferError(
            f"the prompt {name!r} is offered by MCP servers {', '.join(map(repr, owners))}: name one, e.g. "
            f'When the user runs the prompt "{name}" from the server "{first}"'
        )
    label, prompt = next(iter(owners.items()))
    takes = prompt.arguments or []
    missing = [argument.name for argument in takes if argument.required and argument.name not in arguments]
    unknown = [key for key in arguments if key not in {argument.name for argument in takes}]
    problems = [f"requires {', '.join(map(repr, missing))}"] if missing else []
    problems += [f"takes no argument {', '.join(map(repr, unknown))}"] if unknown else []
    if problems:
        signature = ", ".join(argument.name + (" (required)" if argument.required else "") for argument in takes)
        raise OfferError(
            f"the prompt {name!r} of MCP server {label!r} {' and '.join(problems)} (it takes: "
            f"{signature or 'no arguments'}); give its arguments in a table: | argument | value |"
        )
    return label


def resource_server(resources: Offers, templates: Offers, uri: str, agent: str) -> str:
    """The label of the first server that offers the resource `uri`, else of the first with a template that
    matches it."""
    offering = [label for label, items in resources.servers.items() if any(item.uri == uri for item in items)]
    matched = [
        label
        for label, items in templates.servers.items()
        if any(item.uri_template and template_matches(item.uri_template, uri) for item in items)
    ]
    if not offering and not matched:
        raise OfferError(
            f"no MCP server of agent {agent!r} lists the resource {uri!r} or a resource template that matches it; "
            f"the resources listed: {offered(resources)}; the templates: {offered(templates)}. For a resource a "
            f'server reads but does not list, name the server: Given the resource "{uri}" from the server "NAME" '
            "is in the context"
        )
    return (offering or matched)[0]


def template_matches(template: str, uri: str) -> bool:
    """Whether `uri` is one that the RFC 6570 URI template `template` can expand to."""
    pattern, end = "", 0
    for expression in _EXPRESSION.finditer(template):
        pattern += re.escape(template[end : expression.start()]) + _EXPANSIONS[expression.group(1)]
        end = expression.end()
    return re.fullmatch(pattern + re.escape(template[end:]), uri) is not None


def prompt_messages(prompt: PromptResult, name: str) -> list[Message]:
    """The prompt's messages as chat messages; an OfferError when it has none."""
    if not prompt.messages:
        raise OfferError(f"the prompt {name!r} of MCP server {prompt.server!r} gave no messages: fix the server")
    messages: list[Message] = []
    for message in prompt.messages:
        part = _part(message.content, message.role)
        if messages and messages[-1]["role"] == message.role:
            messages[-1]["content"].append(part)
        else:
            messages.append({"role": message.role, "content": [part]})
    return [_plain(message) for message in messages]


def prompt_text(prompt: PromptResult) -> str:
    """The prompt's messages in words, for the turn's user message: each one's role is named when there are two."""
    roles = {message.role for message in prompt.messages} != {"user"}
    return "\n\n".join(
        (f"[{message.role}] " if roles else "") + message.content.described() for message in prompt.messages
    )


def resource_message(resource: ResourceResult) -> Message:
    """The user message that puts a resource's contents in the context."""
    return {"role": "user", "content": "\n\n".join([RESOURCE_INTRO, *(part.described() for part in resource.contents)])}


def _part(block: ContentBlock, role: str) -> dict[str, Any]:
    image = image_part(block) if role == "user" else None
    return image or {"type": "text", "text": block.described()}


def _plain(message: Message) -> Message:
    """`message` with its content as one string when it is all text."""
    parts = message["content"]
    if all(part["type"] == "text" for part in parts):
        return {**message, "content": "\n\n".join(part["text"] for part in parts)}
    return message
