"""aitest-bdd: test LLM agents and their MCP servers with Gherkin specs."""

from .config import Agent, ConfigError, MCPServer, Provider
from .records import Conversation, ModelCall, ToolCall, Turn, Usage
from .session import AgentSession

__all__ = [
    "Agent",
    "AgentSession",
    "ConfigError",
    "Conversation",
    "MCPServer",
    "ModelCall",
    "Provider",
    "ToolCall",
    "Turn",
    "Usage",
]
