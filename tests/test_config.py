"""Configuration: model strings, endpoints, keys and `${VAR}` expansion."""

from __future__ import annotations

import httpx2
import pytest
from pydantic import ValidationError

from aitest_bdd import Agent, ConfigError, MCPServer, Provider
from aitest_bdd.models.providers import ResolvedProvider, make_client, resolve, shared_http_client
from aitest_bdd.runtime import Runtime


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "OLLAMA_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("model", "base_url", "expected"),
    [
        ("gpt-4.1-mini", None, ("openai", "gpt-4.1-mini", None)),
        ("openai/gpt-4.1", None, ("openai", "gpt-4.1", None)),
        ("ollama/llama3.2", None, ("ollama", "llama3.2", "http://localhost:11434/v1")),
        ("azure/my-deployment", "https://r.openai.azure.com", ("azure", "my-deployment", "https://r.openai.azure.com")),
        ("ollama/qwen3", "http://gpu-box:11434/v1", ("ollama", "qwen3", "http://gpu-box:11434/v1")),
        ("meta-llama/Llama-3.1-8B", "http://127.0.0.1:8000/v1", ("openai", "meta-llama/Llama-3.1-8B", None)),
    ],
)
def test_model_strings_resolve_to_an_endpoint(model: str, base_url: str | None, expected: tuple) -> None:
    resolved = resolve(Provider(model=model, base_url=base_url))
    kind, name, url = expected
    assert (resolved.kind, resolved.model) == (kind, name)
    assert resolved.base_url == (url or base_url)


def test_environment_supplies_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    assert resolve(Provider(model="gpt-4.1")).base_url == "http://127.0.0.1:9999/v1"
    assert resolve(Provider(model="azure/dep")).base_url == "https://res.openai.azure.com"


@pytest.mark.parametrize(
    ("ollama_host", "expected"),
    [
        ("", "http://localhost:11434/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("0.0.0.0:8080", "http://0.0.0.0:8080/v1"),
        ("https://ollama.example", "https://ollama.example/v1"),
    ],
)
def test_ollama_reads_its_own_host_variable(monkeypatch: pytest.MonkeyPatch, ollama_host: str, expected: str) -> None:
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    assert resolve(Provider(model="ollama/llama3.2")) == ResolvedProvider("ollama", "llama3.2", expected)
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://elsewhere:1/v1")
    assert resolve(Provider(model="ollama/llama3.2")).base_url == "http://elsewhere:1/v1"


def test_a_prefix_with_a_base_url_sends_the_name_after_it() -> None:
    """docs/agents.md: `azure/` and `ollama/` keep their meaning with an explicit base_url."""
    azure = resolve(Provider(model="azure/my-deployment", base_url="https://res.openai.azure.com"))
    ollama = resolve(Provider(model="ollama/llama3.2", base_url="http://gpu-box:11434/v1"))
    assert (azure.kind, azure.model) == ("azure", "my-deployment")
    assert (ollama.kind, ollama.model, ollama.base_url) == ("ollama", "llama3.2", "http://gpu-box:11434/v1")


def test_unknown_prefix_and_missing_keys_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"unknown model prefix 'mistral'.*Provider\(base_url=\.\.\.\)"):
        resolve(Provider(model="mistral/large"))
    with pytest.raises(ConfigError, match="needs an API key: set OPENAI_API_KEY"):
        make_client(Provider(model="gpt-4.1"))
    with pytest.raises(ConfigError, match="needs an Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT"):
        make_client(Provider(model="azure/dep"))
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    with pytest.raises(ConfigError, match=r"needs AZURE_OPENAI_API_KEY, or Entra ID sign-in.*aitest-bdd\[azure\]"):
        make_client(Provider(model="azure/dep"))


def test_clients_carry_key_timeout_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    client, model = make_client(Provider(model="azure/dep", base_url="https://r.openai.azure.com", max_retries=0))
    assert model == "dep" and client.max_retries == 0 and client.api_key == "azure-key"
    client, model = make_client(Provider(model="ollama/llama3.2", timeout=5))
    assert model == "llama3.2" and client.api_key == "ollama" and client.timeout == 5
    client, _ = make_client(Provider(model="local", base_url="http://127.0.0.1:1/v1"))
    assert client.api_key == "not-needed"


def test_mcp_server_expands_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANK_DB", "/data/bank.db")
    server = MCPServer(
        command=["bank-mcp", "--db", "${BANK_DB}"], env={"MODE": "${BANK_MODE:-test}"}, name="bank"
    ).expanded()
    assert server.command == ["bank-mcp", "--db", "/data/bank.db"]
    assert server.env == {"MODE": "test"}
    with pytest.raises(ConfigError, match=r"MCP server 'x' uses \$\{MISSING_VAR\}, but MISSING_VAR is not set"):
        MCPServer(name="x", url="http://127.0.0.1/${MISSING_VAR}").expanded()


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValidationError, match="give exactly one of command"):
        MCPServer(command=["a"], url="http://x")
    with pytest.raises(ValidationError, match="transport 'sse' needs url"):
        MCPServer(command=["a"], transport="sse")
    assert MCPServer(url="http://127.0.0.1:8000/mcp").transport == "streamable-http"
    with pytest.raises(ValidationError, match="max_tool_rounds must be at least 1"):
        Agent(name="a", provider=Provider(model="m"), max_tool_rounds=0)
    with pytest.raises(ValidationError, match="model must not be empty"):
        Provider(model=" ")
    assert "secret" not in repr(Provider(model="m", api_key="secret"))


def test_the_shared_http_pool_keeps_no_cookies() -> None:
    runtime = Runtime()
    try:
        pool = shared_http_client(runtime)
        assert shared_http_client(runtime) is pool
        request = httpx2.Request("POST", "https://proxy.example/v1/chat/completions")
        response = httpx2.Response(200, headers={"Set-Cookie": "proxy_session=SECRET; Path=/"}, request=request)
        pool.cookies.extract_cookies(response)
        assert not pool.cookies, "a cookie set by one endpoint would reach every later request of the run"
    finally:
        runtime.close()
    assert pool.is_closed


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("aitest_record = sometimes", "aitest_record = 'sometimes': use one of auto, none, once, all, live"),
        ("aitest_pricing = missing.json", "aitest_pricing: price file"),
    ],
)
def test_a_bad_run_setting_is_a_usage_error(pytester: pytest.Pytester, ini: str, expected: str) -> None:
    """Configuration stops with pytest's usage error, and the run ends cleanly (nothing left to close)."""
    pytester.makeini(f"[pytest]\nasyncio_default_fixture_loop_scope = function\n{ini}\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
