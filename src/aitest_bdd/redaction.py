"""The run's secrets, and the one redactor that removes them from every text that leaves the process.

It knows the values of environment variables whose names hold a secret word (`config.SECRET_WORDS`:
KEY, TOKEN, SECRET, PASSWORD, AUTH, CREDENTIAL, SIGNATURE...), and learns each agent's and judge's
secrets when they are used: `Provider(api_key=...)`, credentials and key-like query parameters in
URLs, `MCPServer(env=...)` and `headers` values, and the values that `${VAR}` brought into an MCP
server's settings. The `aitest_record_mask` patterns are masked too. Messages,
results, reports and recordings all pass through it, so a secret that the other side echoes back is
removed as well.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .config import Agent, ConfigError, MCPServer, Provider, flag_values, is_secret_name, variables_in

SECRET = "[SECRET]"
MASK = "[MASKED]"
MIN_SECRET_CHARS = 8
"""Shorter values are not treated as secrets: masking `true` or `8080` everywhere would garble the text."""


class Redactor:
    """Replaces known secrets with `[SECRET]` and configured patterns with `[MASKED]`, in text or JSON data."""

    def __init__(self, patterns: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        try:
            self.patterns = [re.compile(pattern) for pattern in patterns]
        except re.error as error:
            raise ConfigError(f"aitest_record_mask: {error.pattern!r} is not a regular expression: {error}") from None
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._finder: re.Pattern[str] | None = None
        self.learn(secrets)

    @classmethod
    def from_environment(cls, patterns: Iterable[str] = ()) -> Redactor:
        """A redactor that knows the secret-named environment variables' values."""
        return cls(patterns, [value for name, value in os.environ.items() if is_secret_name(name)])

    def learn(self, secrets: Iterable[str]) -> None:
        """Treat each of `secrets` (of at least MIN_SECRET_CHARS characters) as secret from now on."""
        new = {secret for secret in secrets if len(secret) >= MIN_SECRET_CHARS} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            longest_first = sorted(self._secrets, key=len, reverse=True)
            self._finder = re.compile("|".join(re.escape(secret) for secret in longest_first))

    def learn_agent(self, agent: Agent) -> None:
        """Learn the secrets in an agent's provider, MCP servers and app."""
        self.learn_provider(agent.provider)
        if agent.app is not None:
            self.learn(agent.app.secrets())
        for server in agent.mcp_servers:
            self.learn(server_secrets(server))
            if isinstance(server.sampling_model, Provider):
                self.learn_provider(server.sampling_model)

    def learn_provider(self, provider: Provider) -> None:
        """Learn a provider's key and the secrets in its URL."""
        self.learn([provider.api_key or "", *url_secrets(provider.base_url)])

    def learn_configured(self, value: object) -> None:
        """Learn the secrets of what a fixture such as `aitest_agents` or `aitest_judge` returned, if it is config."""
        for one in value if isinstance(value, list | tuple) else [value]:
            if isinstance(one, Agent):
                self.learn_agent(one)
            elif isinstance(one, Provider):
                self.learn_provider(one)

    def text(self, value: str) -> str:
        """`value` without the known secrets and the masked patterns."""
        finder = self._finder
        if finder is not None:
            value = finder.sub(SECRET, value)
        for pattern in self.patterns:
            value = pattern.sub(MASK, value)
        return value

    def data(self, value: Any) -> Any:
        """`value` with every string redacted, at any depth (not dict keys: names, not data, whose change would
        break the shape, as a `\\d+` mask would of turn numbers)."""
        if self._finder is None and not self.patterns:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def url_secrets(url: str | None) -> list[str]:
    """The password in a URL's credentials, and the values of its key-like query parameters."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.password or ""]
    found += [value for name, value in parse_qsl(parts.query) if is_secret_name(name)]
    return found


def server_secrets(server: MCPServer) -> list[str]:
    """An MCP server's env and header values, its URL's secrets, flag values such as `--token X`, as written
    and expanded, and the values its `${VAR}`s bring in (a value kept out of the settings is one to keep out
    of the outputs too)."""
    found = [*_settings_secrets(server), *_settings_secrets(_expanded_or(server))]
    texts = [*(server.command or []), server.url or "", *server.env.values(), *server.headers.values()]
    return found + [os.environ.get(name, "") for name in variables_in(texts)]


def _settings_secrets(server: MCPServer) -> list[str]:
    found = [*server.env.values(), *url_secrets(server.url)]
    found += [hidden for _, hidden in flag_values(server.command or []) if hidden]
    for value in server.headers.values():
        found += [value, value.partition(" ")[2]]
    return found


def _expanded_or(server: MCPServer) -> MCPServer:
    """The server with its `${VAR}`s expanded, or as written when a variable is missing (it will not start)."""
    try:
        return server.expanded()
    except ConfigError:
        return server
