"""aitest-bdd: test LLM agents and their MCP servers with Gherkin specs."""

from typing import TYPE_CHECKING

from .config import Agent, ConfigError, MCPServer, Provider
from .conversation.turns import Conversation, Judgement, ModelCall, OfferedTool, ToolCall, Turn, Usage

if TYPE_CHECKING:
    from .conversation.session import AgentSession

__all__ = [
    "Agent",
    "AgentSession",
    "ConfigError",
    "Conversation",
    "Judgement",
    "MCPServer",
    "ModelCall",
    "OfferedTool",
    "Provider",
    "ToolCall",
    "Turn",
    "Usage",
]


def __getattr__(name: str) -> object:
    """`AgentSession` on first use: it brings in the openai SDK, which the example servers never need."""
    if name == "AgentSession":
        from .conversation.session import AgentSession

        return AgentSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
