"""What an agent is made of: a model provider, MCP servers, a system prompt and limits."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .app import AgentApp

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "auth", "credential", "credentials", "signature", "sig"}
)
"""Words that make a name (of a variable, a flag, a query parameter) one whose value is a secret."""
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_name(name: str) -> bool:
    """Whether `name` holds a secret word: `OPENAI_API_KEY`, `--token`, `apiKey`, `X-Amz-Signature`, not `AUTHOR`."""
    return any(word.lower() in SECRET_WORDS for word in _WORD.findall(name))


class ConfigError(ValueError):
    """A configuration value that cannot work, with what to do about it."""


def expand_vars(text: str, *, where: str) -> str:
    """Replace `${VAR}` and `${VAR:-default}` with environment values.

    A variable that is unset and has no default is an error naming `where` it was used.
    """

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is not None:
            return value
        if default is not None:
            return default
        raise ConfigError(f"{where} uses ${{{name}}}, but {name} is not set: export it or use ${{{name}:-default}}")

    return _VAR.sub(substitute, text)


def variables_in(texts: Iterable[str]) -> set[str]:
    """The names of the `${VAR}`s used in `texts`."""
    return {match.group(1) for text in texts for match in _VAR.finditer(text)}


def flag_values(args: list[str]) -> list[tuple[str, str | None]]:
    """Each argument as it may be shown, with the secret it hides: the value of `--token X` or `--api-key=X`."""
    shown: list[tuple[str, str | None]] = []
    after_secret_flag = False
    for arg in args:
        flag, equals, value = arg.partition("=")
        is_secret_flag = arg.startswith("-") and is_secret_name(flag)
        if is_secret_flag and equals:
            shown.append((f"{flag}=...", value))
        elif after_secret_flag and not arg.startswith("-"):
            shown.append(("...", arg))
        else:
            shown.append((arg, None))
        after_secret_flag = is_secret_flag and not equals
    return shown


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number
        return False


def safe_url(url: str) -> str:
    """`url` as written, but without credentials, with every query parameter's value hidden and no fragment."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    location, _, query = rest.partition("#")[0].partition("?")
    authority, slash, path = location.partition("/")
    host = authority.rpartition("@")[2]
    shown = f"{scheme}{separator}{host}{slash}{path}"
    if query:
        shown += "?" + "&".join(f"{pair.partition('=')[0]}=..." for pair in query.split("&") if pair)
    return shown


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)  # inputs may hold secrets


class Provider(_Frozen):
    """An OpenAI-compatible model endpoint.

    `model` takes the `prefix/name` form: `openai/gpt-4.1` (or a bare `gpt-4.1`), `azure/<deployment>`,
    `ollama/<name>`. With an explicit `base_url` the model name is sent as given (after an `openai/`
    prefix is removed), so vLLM, LiteLLM and llama.cpp model names such as `meta-llama/Llama-3` work.

    `api` picks the API the agent's tool loop speaks: Chat Completions (`chat`, every prefix's default, which
    local servers speak too) or OpenAI's Responses API (`responses`). `reasoning_effort` is sent to reasoning
    models (`reasoning_effort` on Chat Completions, `reasoning.effort` on Responses). With `stream`, the answers
    are streamed, and each model call keeps how long its first token took.
    """

    model: str
    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0
    max_retries: int = 2
    api: Literal["chat", "responses"] = "chat"
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    stream: bool = False

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must not be empty, e.g. 'openai/gpt-4.1-mini' or 'ollama/llama3.2'")
        return value.strip()

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _is_http_url(value.strip()):
            raise ValueError(
                f"base_url {safe_url(value)!r} is not an http(s) URL: give one like 'http://localhost:8000/v1'"
            )
        return value.strip()

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        return value

    @field_validator("max_retries")
    @classmethod
    def _retries_not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("max_retries must be 0 or more")
        return value

    def with_model(self, model: str) -> Provider:
        """This provider with another model."""
        return self.model_copy(update={"model": model})


Transport = Literal["stdio", "streamable-http", "sse"]
Scope = Literal["scenario", "feature", "run"]
LoggingLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


class MCPServer(_Frozen):
    """An MCP server that provides tools: a command run over stdio, or a URL.

    `scope` says how long one server process lives: a fresh one per `scenario` (the default, so no
    state leaks between scenarios), one per `feature` file (or Python test module), or one for the
    whole `run` (per pytest-xdist worker). A shared server keeps its state across the scenarios it serves.
    """

    command: list[str] | None = None
    url: str | None = None
    transport: Transport = "stdio"
    name: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    allowed_tools: list[str] | None = None
    startup_timeout: float = 30.0
    call_timeout: float = 60.0
    scope: Scope = "scenario"
    sampling_model: Provider | str | None = None
    """Who answers the server's sampling requests: a model name on the agent's provider settings, a `Provider`,
    or (None) the agent's own model."""
    roots: list[str] = Field(default_factory=list)
    """The roots offered to the server (`roots/list`), as file URIs; plain paths are made absolute file URIs."""
    log_level: LoggingLevel | None = "info"
    """The least level of the server's log messages kept on each tool call; None asks for none."""

    @model_validator(mode="before")
    @classmethod
    def _default_transport(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("transport") is None:
            return {**data, "transport": "streamable-http" if data.get("url") else "stdio"}
        return data

    @field_validator("roots")
    @classmethod
    def _roots_are_file_uris(cls, roots: list[str]) -> list[str]:
        return [root if "://" in root else Path(root).expanduser().absolute().as_uri() for root in roots]

    @model_validator(mode="after")
    def _command_or_url(self) -> MCPServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command=[...] (stdio) or url=... (streamable-http or sse)")
        if self.command is not None and not self.command:
            raise ValueError("command must name a program, e.g. command=['python', '-m', 'my_server']")
        if self.transport == "stdio" and self.command is None:
            raise ValueError("transport 'stdio' needs command=[...], not url")
        if self.transport != "stdio" and self.url is None:
            raise ValueError(f"transport {self.transport!r} needs url=..., not command")
        return self

    @property
    def label(self) -> str:
        """A short name for messages, without secrets: the given name, else the command or URL as written."""
        if self.name:
            return self.name
        if self.command:
            return " ".join([os.path.basename(self.command[0]), *(shown for shown, _ in flag_values(self.command[1:]))])
        return safe_url(str(self.url))

    def expanded(self) -> MCPServer:
        """A copy with `${VAR}` expanded in command, env, headers and url."""
        where = f"MCP server {self.label!r}"
        return self.model_copy(
            update={
                "command": [expand_vars(part, where=where) for part in self.command] if self.command else None,
                "url": expand_vars(self.url, where=where) if self.url else None,
                "env": {key: expand_vars(value, where=where) for key, value in self.env.items()},
                "headers": {key: expand_vars(value, where=where) for key, value in self.headers.items()},
            }
        )


class Agent(_Frozen):
    """An LLM with tools from MCP servers, a system prompt and limits.

    `max_tool_result_chars` and `max_response_chars` cut a tool result or a model's reply that is longer
    (the cut is marked, and the full size kept); `turn_timeout` stops a turn that runs longer, whatever
    it waits on.

    With `app`, the agent is one that aitest-bdd does not run itself (an `AgentApp`: a framework's agent, a
    script, a service): the app brings its own tools and prompt, and `provider` is the model that its model
    calls are forwarded to.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    provider: Provider
    mcp_servers: list[MCPServer] = Field(default_factory=list)
    system_prompt: str | None = None
    max_tool_rounds: int = 10
    max_tool_result_chars: int = 100_000
    max_response_chars: int = 100_000
    turn_timeout: float = 600.0
    app: AgentApp | None = None

    @field_validator("turn_timeout")
    @classmethod
    def _turn_timeout_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("turn_timeout must be a positive number of seconds")
        return value

    @field_validator("max_tool_rounds")
    @classmethod
    def _rounds_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("max_tool_rounds must be at least 1")
        return value

    @field_validator("max_tool_result_chars", "max_response_chars")
    @classmethod
    def _text_limit_sensible(cls, value: int, info: ValidationInfo) -> int:
        if value < 100:
            raise ValueError(f"{info.field_name} must be at least 100")
        return value

    @model_validator(mode="after")
    def _app_brings_its_own(self) -> Agent:
        if self.app is not None and (self.mcp_servers or self.system_prompt):
            given = "mcp_servers" if self.mcp_servers else "system_prompt"
            raise ValueError(
                f"an agent with an app runs its own tools and prompt: give {given} to the app, not to the Agent"
            )
        return self

    def with_model(self, model: str) -> Agent:
        """This agent on another model."""
        return self.model_copy(update={"provider": self.provider.with_model(model)})


CONFIG_CLASSES: dict[str, type[BaseModel]] = {"Agent": Agent, "Provider": Provider, "MCPServer": MCPServer}


def explain(error: ValidationError) -> tuple[str, str | None]:
    """What is wrong with an Agent, Provider or MCPServer, in one line: a misspelt field comes with the closest
    valid one. Second, the class's fields, when they help."""
    found = error.errors(include_url=False)[0]
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    field = ".".join(str(part) for part in found["loc"])
    fields = list(CONFIG_CLASSES[error.title].model_fields) if error.title in CONFIG_CLASSES else []
    listed = f"{error.title}'s fields: {', '.join(fields)}" if fields else None
    if found["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(found["loc"][-1]), fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{error.title} has no field {field!r}{hint}{more}", listed
    if found["type"] == "missing":
        return f"{error.title} needs {field}=...{more}", listed
    where = f" {field}" if field else ""
    return f"{error.title}{where}: {found['msg']}{more}", None
