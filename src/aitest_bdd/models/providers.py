"""Turn a `Provider` into an `openai` SDK client and the model name to send."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import openai

from ..config import ConfigError, Provider, safe_url

if TYPE_CHECKING:
    from ..runtime import Runtime

OLLAMA_PORT = 11434
OLLAMA_BASE_URL = f"http://localhost:{OLLAMA_PORT}/v1"
AZURE_API_VERSION = "2024-10-21"
AZURE_RESPONSES_API_VERSION = "2025-04-01-preview"
"""The first Azure OpenAI API version with the Responses API (`/openai/responses`, the deployment in `model`)."""
KNOWN_PREFIXES = ("openai", "azure", "ollama")


@dataclass(frozen=True)
class ResolvedProvider:
    """Where requests go and what model they name. Holds no secret."""

    kind: str
    model: str
    base_url: str | None


def resolve(provider: Provider) -> ResolvedProvider:
    """Split the model string into the kind of endpoint and the model name to send.

    A known prefix (`openai/`, `azure/`, `ollama/`) picks the kind and is not sent. With an explicit
    `base_url`, any other model name is sent as given.
    """
    prefix, _, rest = provider.model.partition("/")
    if prefix in KNOWN_PREFIXES and rest:
        default_urls = {
            "openai": os.environ.get("OPENAI_BASE_URL"),
            "azure": os.environ.get("AZURE_OPENAI_ENDPOINT"),
            "ollama": ollama_url(),
        }
        return ResolvedProvider(prefix, rest, provider.base_url or default_urls[prefix])
    if provider.base_url:
        return ResolvedProvider("openai", provider.model, provider.base_url)
    if not rest:
        return ResolvedProvider("openai", provider.model, os.environ.get("OPENAI_BASE_URL"))
    raise ConfigError(
        f"unknown model prefix {prefix!r} in model {provider.model!r}: use one of "
        f"{', '.join(p + '/' for p in KNOWN_PREFIXES)} or give Provider(base_url=...) for any other "
        "OpenAI-compatible endpoint (vLLM, LiteLLM, llama.cpp)"
    )


def ollama_url() -> str:
    """Ollama's OpenAI-compatible URL: `OLLAMA_BASE_URL`, else Ollama's own `OLLAMA_HOST`, else the default."""
    if base_url := os.environ.get("OLLAMA_BASE_URL"):
        return base_url
    host = os.environ.get("OLLAMA_HOST", "").strip().rstrip("/")
    if not host:
        return OLLAMA_BASE_URL
    if "://" not in host:  # `host` or `host:port`, as `ollama serve` takes it: http, on its port by default
        host = f"http://{host}" if ":" in host else f"http://{host}:{OLLAMA_PORT}"
    return f"{host}/v1"


def shared_http_client(runtime: Runtime) -> httpx2.AsyncClient:
    """The run's HTTP connection pool for model requests: sessions reuse its connections and TLS setup.

    It keeps no cookies, so that nothing one endpoint sets reaches another session, test or endpoint,
    and it bounds each request, from sending it to the last byte of the answer, by its timeout.
    """
    return runtime.shared("model-http", _model_http_client)


def _model_http_client() -> httpx2.AsyncClient:
    return BoundedClient(cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


class RequestCount:
    """How many HTTP requests a model call sent, retries included."""

    def __init__(self) -> None:
        self.sent = 0


_COUNT: ContextVar[RequestCount | None] = ContextVar("aitest_request_count", default=None)


@contextmanager
def counting_requests() -> Iterator[RequestCount]:
    """Within the block, count the requests this task sends through the shared pool."""
    count = RequestCount()
    token = _COUNT.set(count)
    try:
        yield count
    finally:
        _COUNT.reset(token)


class BoundedClient(openai.DefaultAsyncHttpxClient):
    """The SDK's HTTP client, but each request, with its whole answer, must finish within its read timeout:
    a body trickled a byte at a time cannot outlast it. It counts the requests of `counting_requests()`."""

    async def send(self, request: httpx2.Request, **options: Any) -> httpx2.Response:
        count = _COUNT.get()
        if count is not None:
            count.sent += 1
        limit = (request.extensions.get("timeout") or {}).get("read")
        if limit is None:
            return await super().send(request, **options)
        with anyio.move_on_after(limit):
            return await super().send(request, **options)  # reads the body too, unless streaming
        raise httpx2.ReadTimeout(f"no complete answer within {limit:g} s", request=request)


def make_client(provider: Provider, http_client: httpx2.AsyncClient | None = None) -> tuple[openai.AsyncOpenAI, str]:
    """An async client for the provider, and the model name to send to it.

    With `http_client`, the client sends its requests through that pool, which the caller closes.
    """
    resolved = resolve(provider)
    common = {"timeout": provider.timeout, "max_retries": provider.max_retries, "http_client": http_client}
    if resolved.kind == "azure":
        return _azure_client(provider, resolved, common), resolved.model
    api_key = provider.api_key or os.environ.get("OPENAI_API_KEY")
    if resolved.kind == "ollama":
        api_key = provider.api_key or "ollama"
    elif not api_key:
        if not resolved.base_url:
            raise ConfigError(
                f"model {provider.model!r} needs an API key: set OPENAI_API_KEY, or Provider(api_key=...), "
                "or point Provider(base_url=...) at a local OpenAI-compatible server"
            )
        api_key = "not-needed"
    return openai.AsyncOpenAI(api_key=api_key, base_url=resolved.base_url, **common), resolved.model


def _azure_client(provider: Provider, resolved: ResolvedProvider, common: dict) -> openai.AsyncOpenAI:
    if not resolved.base_url:
        raise ConfigError(
            f"model {provider.model!r} needs an Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT "
            "or Provider(base_url='https://<resource>.openai.azure.com')"
        )
    default_version = AZURE_RESPONSES_API_VERSION if provider.api == "responses" else AZURE_API_VERSION
    api_version = os.environ.get("OPENAI_API_VERSION", default_version)
    api_key = provider.api_key or os.environ.get("AZURE_OPENAI_API_KEY")
    if api_key:
        return openai.AsyncAzureOpenAI(
            api_key=api_key, azure_endpoint=resolved.base_url, api_version=api_version, **common
        )
    return openai.AsyncAzureOpenAI(
        azure_ad_token_provider=_entra_token_provider(provider.model),
        azure_endpoint=resolved.base_url,
        api_version=api_version,
        **common,
    )


def _entra_token_provider(model: str):
    try:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider  # the [azure] extra
    except ImportError:
        raise ConfigError(
            f"model {model!r} needs AZURE_OPENAI_API_KEY, or Entra ID sign-in through azure-identity: "
            "pip install 'aitest-bdd[azure]'"
        ) from None
    return get_bearer_token_provider(DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default")


def describe_api_error(error: openai.APIError, provider: Provider, requests: int = 1) -> str:
    """A one-line account of a failed model request, without headers or keys; `requests` were really sent."""
    model, message = provider.model, _STATUS_PREFIX.sub("", error.message)
    tries = f" ({requests} requests sent; Provider(max_retries={provider.max_retries}))" if requests > 1 else ""
    if isinstance(error, openai.APITimeoutError):
        return f"model {model!r} did not answer within Provider(timeout={provider.timeout:g}) seconds{tries}: {message}"
    if isinstance(error, openai.APIConnectionError):
        return f"could not reach model {model!r} at {safe_url(str(error.request.url))}{tries}: {message}"
    if isinstance(error, openai.APIStatusError):
        return f"model {model!r} request failed with HTTP {error.status_code}{tries}: {message}"
    return f"model {model!r} request failed: {message}"


def describe_transport_error(error: Exception, provider: Provider) -> str | None:
    """An account of an HTTP-level error that escaped the SDK unwrapped, or None for any other error."""
    if type(error).__module__.split(".")[0] not in ("httpx2", "httpcore2", "httpx", "httpcore"):
        return None
    if "Timeout" in type(error).__name__:
        waited = f"Provider(timeout={provider.timeout:g}) seconds"
        return f"model {provider.model!r} did not answer within {waited}: {type(error).__name__}"
    return f"could not reach model {provider.model!r}: {type(error).__name__}: {error}"


_STATUS_PREFIX = re.compile(r"^Error code: \d+ - ")


class ModelCallFailed(RuntimeError):
    """A model call the endpoint refused or failed; the message says why (as `describe_api_error`)."""


async def post_chat(
    provider: Provider, messages: list[dict[str, Any]], http_client: httpx2.AsyncClient, temperature: float | None
) -> Any:
    """A helper model's chat completion (the judge's, the user model's), as the JSON it sent: at the provider's
    temperature, else at `temperature` (None: the model's default); a ModelCallFailed saying why it failed."""
    client, model = make_client(provider, http_client)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if provider.temperature is not None or temperature is not None:
        body["temperature"] = provider.temperature if provider.temperature is not None else temperature
    with counting_requests() as sent:
        try:
            return await client.post("/chat/completions", body=body, cast_to=object)
        except openai.APIError as error:
            raise ModelCallFailed(describe_api_error(error, provider, sent.sent)) from None
