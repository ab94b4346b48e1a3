"""What MCP servers offer besides tools (prompts, resources, resource templates) and what they return for a prompt
or a resource, as the conversation uses it and as recordings store it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .answers import ContentBlock

OfferMethod = Literal["prompts/list", "resources/list", "resources/templates/list"]
"""The MCP method that lists one kind of offer."""


class PromptArgument(BaseModel):
    """An argument a prompt takes."""

    name: str
    description: str | None = None
    required: bool | None = None


class Offer(BaseModel):
    """One item a server offers: a prompt (`name`, `arguments`), a resource (`uri`) or a resource template
    (`uri_template`)."""

    name: str
    description: str | None = None
    arguments: list[PromptArgument] | None = None
    uri: str | None = None
    uri_template: str | None = None
    mime_type: str | None = None

    @property
    def key(self) -> str:
        """What a step names it by: a resource's URI, a template's URI template, a prompt's name."""
        return self.uri or self.uri_template or self.name


class Offers(BaseModel):
    """What each of an agent's servers offers of one kind (one method), by server label."""

    servers: dict[str, list[Offer]] = Field(default_factory=dict)


class PromptMessage(BaseModel):
    """One message of a prompt: its role and its content block."""

    role: Literal["user", "assistant"]
    content: ContentBlock


class PromptResult(BaseModel):
    """A prompt a server gave (`prompts/get`): its messages, in order."""

    server: str
    description: str | None = None
    messages: list[PromptMessage] = Field(default_factory=list)


class ResourceResult(BaseModel):
    """A resource a server read (`resources/read`): its contents, each as an embedded resource block."""

    server: str
    contents: list[ContentBlock] = Field(default_factory=list)
