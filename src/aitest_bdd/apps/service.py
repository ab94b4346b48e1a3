"""An agent reached over HTTP, as the agent under test; the plugin can start and stop its process.

An agent that exposes an OpenAI-compatible chat endpoint::

    ServiceApp(
        command=["python", "-m", "my_agent", "--port", "{port}"],
        url="http://127.0.0.1:{port}/v1/chat/completions",
    )

Any other JSON API, with a request template and where the reply is in the answer::

    ServiceApp(
        url="http://127.0.0.1:8000/chat",
        protocol="json",
        request={"session": "{conversation_id}", "input": {"text": "{message}"}},
        reply_path="output.messages.0.text",
    )

`{port}` in `command`, `url` and `ready_url` is a free port on 127.0.0.1, chosen when a conversation starts. The
command runs in a process group of its own with a minimal environment (PATH, HOME...), `env`, and the variables that
point it at aitest-bdd's model proxy: OPENAI_BASE_URL, OPENAI_API_KEY (a token of the proxy, never the provider's key)
and OPENAI_MODEL. Each request carries the conversation id as header `X-Conversation-Id`. A service reports no tool
calls: they are read from its model calls through the proxy.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import IO, Any, ClassVar, Literal
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp.client.stdio import get_default_environment
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from aitest_bdd import process_group
from aitest_bdd.app import AgentApp, AppError, AppRequest, AppTurn, ModelEndpoint
from aitest_bdd.config import flag_values, is_secret_name
from aitest_bdd.redaction import url_secrets

CHAT_REPLY_PATH = "choices.0.message.content"
EXIT_CHECKS, EXIT_CHECK_SECONDS = 10, 0.05
"""How long a turn whose connection dropped waits to see the service's process exit."""
STOP_GRACE_SECONDS = 3.0
"""How long a stopped service has to exit after SIGTERM before its process group is killed."""
STDERR_TAIL_CHARS = 2000
EXCERPT_CHARS = 300
_PLACEHOLDER = re.compile(r"\{(message|conversation_id)\}")


class ServiceApp(BaseModel, AgentApp):
    """An agent behind an HTTP endpoint: each turn is one POST to `url`.

    With `command`, each conversation starts the service, waits until `ready_url` (default: the server of `url`)
    answers with any HTTP status, and ends the service's whole process group when the conversation ends.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)
    label: ClassVar[str] = "service"

    url: str
    """Where each turn is posted."""
    command: list[str] | None = None
    """The command that starts the service; None for a service that is already running."""
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    ready_url: str | None = None
    """A URL that answers once the service is ready; by default the server of `url`."""
    startup_timeout: float = Field(default=30.0, gt=0)
    protocol: Literal["chat", "json"] = "chat"
    """`chat`: an OpenAI-compatible chat completions endpoint, given the whole conversation each turn. `json`: the
    `request` template, with only the user's message; the service keeps the conversation by its id."""
    request: Any = None
    """For `json`: the body to post, where `{message}` and `{conversation_id}` in strings are filled in."""
    reply_path: str | None = None
    """For `json`: where the reply is in the answer, as a dotted path (`data.messages.0.text`)."""
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=300.0, gt=0)
    """How long one turn may take, in seconds."""

    _url: str = PrivateAttr(default="")
    _process: subprocess.Popen[bytes] | None = PrivateAttr(default=None)
    _errlog: IO[bytes] | None = PrivateAttr(default=None)
    _client: httpx2.AsyncClient | None = PrivateAttr(default=None)
    _secrets: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _fits_protocol(self) -> ServiceApp:
        if self.command == []:
            raise ValueError("command is empty: give the program and its arguments, or None for a running service")
        if self.protocol == "json" and (self.request is None or not self.reply_path):
            raise ValueError('protocol="json" needs a request template and a reply_path')
        if self.protocol == "chat" and (self.request is not None or self.reply_path):
            raise ValueError('request and reply_path are for protocol="json"; "chat" posts the conversation')
        return self

    async def start(self, model: ModelEndpoint) -> None:
        """Choose the port, start the command if there is one, and wait until the service answers."""
        if self._client is not None:
            raise AppError("this ServiceApp already runs a conversation: stop it first, or give each agent its own")
        port = (
            str(_free_port()) if "{port}" in " ".join([self.url, self.ready_url or "", *(self.command or [])]) else ""
        )
        self._url = self.url.replace("{port}", port)
        self._secrets = [model.api_key, *self.secrets()]
        self._client = httpx2.AsyncClient(headers=self.headers, timeout=self.timeout, trust_env=False)
        if self.command is None:
            return
        command = [part.replace("{port}", port) for part in self.command]
        ready_url = (self.ready_url or _server_of(self.url)).replace("{port}", port)
        try:
            self._spawn(command, model)
            await self._wait_until_ready(command, ready_url)
        except BaseException:
            await self.stop()
            raise

    def secrets(self) -> list[str]:
        """The values of its headers and secret-named `env`, the secrets in its URLs and `env` values (credentials,
        key-like query parameters), and flag values such as `--token X`."""
        found = [*self.headers.values(), *url_secrets(self.url), *url_secrets(self.ready_url)]
        found += [value for name, value in self.env.items() if is_secret_name(name)]
        found += [secret for value in self.env.values() for secret in url_secrets(value)]
        return found + [secret for _, secret in flag_values(self.command or []) if secret]

    async def turn(self, request: AppRequest) -> AppTurn:
        """Post the user's message and read the service's reply."""
        if self._client is None:
            raise AppError("the service app was not started")
        if self.protocol == "chat":
            messages = [*request.history, {"role": "user", "content": request.message}]
            body: Any = {"model": request.model.model, "messages": messages}
        else:
            body = _filled(self.request, {"message": request.message, "conversation_id": request.conversation_id})
        try:
            response = await self._client.post(
                self._url, json=body, headers={"X-Conversation-Id": request.conversation_id}
            )
        except httpx2.TimeoutException:
            raise AppError(self._described(f"{self._url} did not answer within timeout={self.timeout:g}s")) from None
        except httpx2.HTTPError as error:
            if await self._exited():
                raise AppError(
                    self._described(f"the service exited during the turn ({self._url} did not answer)")
                ) from None
            raise AppError(self._described(f"could not post to {self._url}: {type(error).__name__}: {error}")) from None
        excerpt = _excerpt(response.text)
        if response.status_code >= 400:
            raise AppError(self._described(f"{self._url} answered HTTP {response.status_code}: {excerpt}"))
        try:
            answer = response.json()
        except ValueError:
            raise AppError(
                self._described(f"{self._url} answered with something that is not JSON: {excerpt}")
            ) from None
        path = CHAT_REPLY_PATH if self.protocol == "chat" else str(self.reply_path)
        reply = _at(answer, path)
        if not isinstance(reply, str):
            found = "nothing" if reply is _MISSING else f"a {type(reply).__name__}"
            raise AppError(self._described(f"{self._url} answered with {found} at {path}, not a text: {excerpt}"))
        return AppTurn(reply=reply)

    async def stop(self) -> None:
        """End the service's process group (SIGTERM, then SIGKILL after a grace period) and close the client."""
        process, self._process = self._process, None
        if process is not None:
            await _end_group(process)
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _spawn(self, command: list[str], model: ModelEndpoint) -> None:
        self._errlog = tempfile.TemporaryFile()  # noqa: SIM115 - open until stop()
        env = get_default_environment() | model.environment() | self.env
        try:
            self._process = subprocess.Popen(
                process_group.led(command),
                env=env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._errlog,
                start_new_session=True,
            )
        except OSError as error:
            raise AppError(
                self._described(f"could not start service {shlex.join(command)!r}: {error.strerror or error}")
            ) from None

    async def _wait_until_ready(self, command: list[str], ready_url: str) -> None:
        """Poll `ready_url` until it answers with any status; fail when the process exits first or time runs out."""
        assert self._process is not None and self._client is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            status = self._process.poll()
            if status is not None:
                raise AppError(self._described(f"service {shlex.join(command)!r} exited before it was ready"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AppError(
                    self._described(
                        f"service {shlex.join(command)!r} did not answer at {ready_url} within "
                        f"startup_timeout={self.startup_timeout:g}s: raise ServiceApp(startup_timeout=...) if it is "
                        "slow to start, or check its url and ready_url"
                    )
                )
            try:
                await self._client.get(ready_url, timeout=min(remaining, 1.0))
                return
            except httpx2.TransportError:
                await anyio.sleep(min(remaining, 0.05))

    async def _exited(self) -> bool:
        """Whether the service it started has exited (waiting a moment: the connection drops a little before)."""
        for _ in range(EXIT_CHECKS):
            if self._process is None or self._process.poll() is not None:
                return self._process is not None
            await anyio.sleep(EXIT_CHECK_SECONDS)
        return False

    def _described(self, what: str) -> str:
        """`what`, with the last lines of the service's stderr when aitest-bdd started it, without the secrets that
        the app knows: the values of its headers, of its secret-named `env`, in its URLs, and the proxy's token."""
        tail = _tail(self._errlog) if self._errlog is not None else ""
        text = f"{what}\n--- stderr of the service (last lines) ---\n{tail}" if tail else what
        for secret in self._secrets:
            if len(secret) >= 8:
                text = text.replace(secret, "[SECRET]")
        return text


_MISSING = object()


def _at(data: Any, path: str) -> Any:
    """The value at a dotted `path` in JSON data, list items by index; _MISSING when there is none."""
    for key in path.split("."):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return _MISSING
    return data


def _filled(template: Any, values: dict[str, str]) -> Any:
    """`template` with `{message}` and `{conversation_id}` replaced in every string value."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    if isinstance(template, dict):
        return {key: _filled(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_filled(value, values) for value in template]
    return template


def _excerpt(text: str) -> str:
    """The start of `text`, on one line."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else f"{text[:EXCERPT_CHARS]}…"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _tail(errlog: IO[bytes]) -> str:
    """The last whole lines written to `errlog`."""
    errlog.flush()
    size = errlog.seek(0, os.SEEK_END)
    start = max(0, size - STDERR_TAIL_CHARS)
    errlog.seek(start)
    tail = errlog.read().decode("utf-8", errors="replace")
    if start:
        tail = tail.partition("\n")[2]
    return tail.strip()


async def _end_group(process: subprocess.Popen[bytes]) -> None:
    """End `process` and every process in its group: SIGTERM, then SIGKILL to what is left after the grace period."""
    if sys.platform == "win32":
        process.kill()
        process.wait()
        return
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _group_alive(process) and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether the leader runs, or any other process is left in its group."""
    if process.poll() is None:
        return True
    try:
        os.killpg(process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)
