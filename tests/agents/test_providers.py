"""Provider tests: real HTTP over loopback against the fake LLM servers."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import pytest

from agents.providers import (
    PROVIDERS,
    ProviderError,
    RunContext,
    get_provider_class,
    provider_choices,
)
from agents.providers.anthropic import AnthropicProvider
from agents.providers.base import STOP_END, STOP_LENGTH, STOP_TOOL_CALLS, Provider, parse_retry_after
from agents.providers.openai import OpenAIProvider
from agents.providers.scripted import ScriptedProvider
from tests.fakes.llm_servers import (
    FakeAnthropic,
    FakeLLMServer,
    FakeOpenAI,
    RecordedRequest,
    Reply,
    anthropic_error,
    anthropic_text_response,
    anthropic_tool_use_response,
    openai_error,
    openai_text_response,
    openai_tool_call_response,
)

API_KEY = "sk-test-SECRET-0123456789abcdef"

TOOLS = [
    {
        "name": "http_get",
        "description": "Fetch a URL",
        "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    },
    {"name": "notify", "description": "Send a notification", "parameters": {"type": "object", "properties": {}}},
]

CTX = RunContext(input={"task": "check the site"}, payload={}, step_outputs=[], step_outputs_by_id={})


@pytest.fixture(autouse=True)
def allow_loopback(settings: Any) -> None:
    """The fake servers live on 127.0.0.1, which the URL policy blocks by default."""
    settings.GRADENT_ALLOW_PRIVATE_URLS_MODELS = ["127.0.0.0/8"]


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def make_openai(server: FakeLLMServer, api_key: str | None = API_KEY, **settings: Any) -> OpenAIProvider:
    return OpenAIProvider(model="gpt-test", settings={"base_url": server.base_url, **settings}, api_key=api_key)


def make_anthropic(server: FakeLLMServer, api_key: str | None = API_KEY, **settings: Any) -> AnthropicProvider:
    return AnthropicProvider(model="claude-test", settings={"base_url": server.base_url, **settings}, api_key=api_key)


def ask(provider: Provider, messages: list[dict] | None = None, tools: list[dict] | None = None):
    return provider.complete(
        system="You are a careful agent.",
        messages=messages or [{"role": "user", "content": "check the site"}],
        tools=TOOLS if tools is None else tools,
        context=CTX,
    )


# Conversation after one assistant turn with two parallel tool calls.
TOOL_ROUND_TRIP = [
    {"role": "user", "content": "check the site"},
    {
        "role": "assistant",
        "content": "Fetching both.",
        "tool_calls": [
            {"id": "call_a", "name": "http_get", "arguments": {"url": "https://a.example"}},
            {"id": "call_b", "name": "http_get", "arguments": {"url": "https://b.example"}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "name": "http_get", "content": '{"status": 200}'},
    {"role": "tool", "tool_call_id": "call_b", "name": "http_get", "content": '{"status": 503}'},
]


# ---------------------------------------------------------------------------
# Protocol kits so error classification is tested identically for both


@dataclass
class Kit:
    name: str
    server_cls: type[FakeLLMServer]
    make: Any
    error_body: Any
    ok_body: Any


KITS = [
    Kit(
        "openai",
        FakeOpenAI,
        make_openai,
        lambda msg, type="invalid_request_error": openai_error(msg, type=type),
        lambda: openai_text_response("ok"),
    ),
    Kit(
        "anthropic",
        FakeAnthropic,
        make_anthropic,
        lambda msg, type="invalid_request_error": anthropic_error(msg, type=type),
        lambda: anthropic_text_response("ok"),
    ),
]


@pytest.fixture(params=KITS, ids=[k.name for k in KITS])
def kit(request: Any) -> Iterator[tuple[Kit, FakeLLMServer]]:
    with request.param.server_cls() as server:
        yield request.param, server


# ---------------------------------------------------------------------------
# OpenAI-compatible


def test_it_openai_sends_converted_tools_system_and_auth(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_tool_calls([("http_get", {"url": "https://a.example"}, "call_1")])
    response = ask(make_openai(openai_server))

    sent = openai_server.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = sent.json
    assert body["model"] == "gpt-test"
    assert body["messages"][0] == {"role": "system", "content": "You are a careful agent."}
    assert body["messages"][1] == {"role": "user", "content": "check the site"}
    assert body["tool_choice"] == "auto"
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "http_get",
            "description": "Fetch a URL",
            "parameters": TOOLS[0]["parameters"],
        },
    }
    assert [t["function"]["name"] for t in body["tools"]] == ["http_get", "notify"]
    assert response.tool_calls[0].id == "call_1"
    assert response.tool_calls[0].arguments == {"url": "https://a.example"}
    assert response.stop_reason == STOP_TOOL_CALLS
    # The recorded request is exactly what went over the wire, minus secrets.
    assert response.request == body
    assert API_KEY not in json.dumps(response.request)


def test_it_openai_parses_parallel_tool_calls_and_text(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_tool_calls(
        [("http_get", {"url": "https://a.example"}, "call_a"), ("notify", {}, "call_b")],
        text="Doing two things.",
    )
    response = ask(make_openai(openai_server))
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_a", "http_get", {"url": "https://a.example"}),
        ("call_b", "notify", {}),
    ]
    assert response.text == "Doing two things."
    assert response.raw["choices"][0]["finish_reason"] == "tool_calls"


def test_it_openai_feeds_tool_results_back_in_wire_format(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_text("a is up, b is down", prompt_tokens=120, completion_tokens=9)
    response = ask(make_openai(openai_server), messages=TOOL_ROUND_TRIP)

    wire = openai_server.last_request.json["messages"]
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool", "tool"]
    assistant = wire[2]
    assert assistant["content"] == "Fetching both."
    assert assistant["tool_calls"][0]["type"] == "function"
    assert assistant["tool_calls"][0]["id"] == "call_a"
    assert assistant["tool_calls"][0]["function"]["name"] == "http_get"
    # Arguments go back as a JSON string, as the API returns them.
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"url": "https://b.example"}
    assert wire[3] == {"role": "tool", "tool_call_id": "call_a", "content": '{"status": 200}'}
    assert wire[4] == {"role": "tool", "tool_call_id": "call_b", "content": '{"status": 503}'}
    assert response.text == "a is up, b is down"
    assert response.tool_calls == []
    assert response.stop_reason == STOP_END


def test_it_openai_sends_null_content_for_pure_tool_call_turns(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_text("done")
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "notify", "arguments": {}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "notify", "content": "sent"},
    ]
    ask(make_openai(openai_server), messages=messages)
    assert openai_server.last_request.json["messages"][2]["content"] is None


def test_it_openai_accounts_usage(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_tool_calls([("notify", {})], prompt_tokens=321, completion_tokens=45)
    response = ask(make_openai(openai_server))
    assert (response.usage.input_tokens, response.usage.output_tokens) == (321, 45)


def test_it_openai_tolerates_missing_usage(openai_server: FakeOpenAI) -> None:
    body = openai_text_response("hi")
    del body["usage"]
    openai_server.enqueue(200, body)
    response = ask(make_openai(openai_server))
    assert (response.usage.input_tokens, response.usage.output_tokens) == (0, 0)


def test_it_openai_omits_tools_when_none_given(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_text("hi")
    ask(make_openai(openai_server), tools=[])
    assert "tools" not in openai_server.last_request.json
    assert "tool_choice" not in openai_server.last_request.json


def test_it_openai_sends_optional_settings_and_extra_headers(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_text("hi")
    provider = make_openai(openai_server, temperature=0.2, max_tokens=256, extra_headers={"X-Title": "Gradent"})
    ask(provider)
    sent = openai_server.last_request
    assert sent.json["temperature"] == 0.2
    assert sent.json["max_tokens"] == 256
    assert sent.headers["x-title"] == "Gradent"


def test_it_openai_sends_no_authorization_without_a_key(openai_server: FakeOpenAI) -> None:
    # Local runtimes such as Ollama need no key.
    openai_server.enqueue_text("hi")
    ask(make_openai(openai_server, api_key=None))
    assert "authorization" not in openai_server.last_request.headers


def test_it_openai_maps_length_finish_reason(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue(200, openai_text_response("trunc", finish_reason="length"))
    assert ask(make_openai(openai_server)).stop_reason == STOP_LENGTH


def test_it_openai_malformed_tool_arguments_are_not_retryable(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_tool_calls([("http_get", '{"url": "https://a.example"')])
    with pytest.raises(ProviderError) as excinfo:
        ask(make_openai(openai_server))
    assert excinfo.value.retryable is False
    assert "http_get" in str(excinfo.value)
    assert "invalid JSON arguments" in str(excinfo.value)


def test_it_openai_non_object_tool_arguments_are_not_retryable(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue_tool_calls([("http_get", "[1, 2]")])
    with pytest.raises(ProviderError, match="not a JSON object") as excinfo:
        ask(make_openai(openai_server))
    assert excinfo.value.retryable is False


def test_it_openai_accepts_object_arguments_and_missing_ids(openai_server: FakeOpenAI) -> None:
    # Seen from some OpenAI-compatible servers (Ollama, vLLM parsers).
    body = openai_tool_call_response([("notify", {})])
    body["choices"][0]["message"]["tool_calls"][0] = {"function": {"name": "notify", "arguments": {"text": "x"}}}
    openai_server.enqueue(200, body)
    response = ask(make_openai(openai_server))
    assert response.tool_calls[0].arguments == {"text": "x"}
    assert response.tool_calls[0].id == "call_0"


def test_it_openai_response_without_choices_is_malformed(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue(200, {"id": "x", "object": "chat.completion"})
    with pytest.raises(ProviderError, match="malformed response from provider") as excinfo:
        ask(make_openai(openai_server))
    assert excinfo.value.retryable is False


def test_it_openai_429_insufficient_quota_is_not_retryable(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue(
        429,
        openai_error("You exceeded your current quota", type="insufficient_quota", code="insufficient_quota"),
        headers={"Retry-After": "20"},
    )
    with pytest.raises(ProviderError) as excinfo:
        ask(make_openai(openai_server))
    assert excinfo.value.retryable is False
    assert excinfo.value.status == 429
    assert "exceeded your current quota" in str(excinfo.value)


def test_it_openai_honours_retry_after_ms(openai_server: FakeOpenAI) -> None:
    openai_server.enqueue(429, openai_error("slow down", type="rate_limit_error"), headers={"retry-after-ms": "1500"})
    with pytest.raises(ProviderError) as excinfo:
        ask(make_openai(openai_server))
    assert excinfo.value.retryable is True
    assert excinfo.value.retry_after == pytest.approx(1.5)


# ---------------------------------------------------------------------------
# Anthropic


def test_it_anthropic_sends_system_tools_and_headers(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue_tool_calls([("http_get", {"url": "https://a.example"}, "toolu_1")], text="Let me look.")
    response = ask(make_anthropic(anthropic_server))

    sent = anthropic_server.last_request
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.json
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 1024
    assert body["system"] == "You are a careful agent."
    assert body["messages"] == [{"role": "user", "content": "check the site"}]
    assert all(m["role"] != "system" for m in body["messages"])
    assert body["tools"][0] == {
        "name": "http_get",
        "description": "Fetch a URL",
        "input_schema": TOOLS[0]["parameters"],
    }
    assert response.text == "Let me look."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_1", "http_get", {"url": "https://a.example"})
    ]
    assert response.stop_reason == STOP_TOOL_CALLS
    assert response.request == body
    assert API_KEY not in json.dumps(response.request)


def test_it_anthropic_parses_parallel_tool_use(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue_tool_calls(
        [("http_get", {"url": "https://a.example"}, "toolu_a"), ("http_get", {"url": "https://b.example"}, "toolu_b")]
    )
    response = ask(make_anthropic(anthropic_server))
    assert [c.id for c in response.tool_calls] == ["toolu_a", "toolu_b"]
    assert response.tool_calls[1].arguments == {"url": "https://b.example"}
    assert response.text == ""


def test_it_anthropic_merges_parallel_tool_results_into_one_user_message(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue_text("a is up, b is down", input_tokens=200, output_tokens=12)
    response = ask(make_anthropic(anthropic_server), messages=TOOL_ROUND_TRIP)

    wire = anthropic_server.last_request.json["messages"]
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert wire[1]["content"] == [
        {"type": "text", "text": "Fetching both."},
        {"type": "tool_use", "id": "call_a", "name": "http_get", "input": {"url": "https://a.example"}},
        {"type": "tool_use", "id": "call_b", "name": "http_get", "input": {"url": "https://b.example"}},
    ]
    assert wire[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_a", "content": '{"status": 200}'},
        {"type": "tool_result", "tool_use_id": "call_b", "content": '{"status": 503}'},
    ]
    assert response.text == "a is up, b is down"
    assert response.stop_reason == STOP_END
    assert (response.usage.input_tokens, response.usage.output_tokens) == (200, 12)


def test_it_anthropic_puts_user_text_after_tool_results_in_the_same_turn(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue_text("ok")
    messages = [*TOOL_ROUND_TRIP, {"role": "user", "content": "also summarise"}]
    ask(make_anthropic(anthropic_server), messages=messages)
    wire = anthropic_server.last_request.json["messages"]
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert [b["type"] for b in wire[2]["content"]] == ["tool_result", "tool_result", "text"]


def test_it_anthropic_counts_cache_tokens_as_input(anthropic_server: FakeAnthropic) -> None:
    body = anthropic_text_response("hi", input_tokens=10, output_tokens=3)
    body["usage"].update(cache_creation_input_tokens=100, cache_read_input_tokens=50)
    anthropic_server.enqueue(200, body)
    response = ask(make_anthropic(anthropic_server))
    assert (response.usage.input_tokens, response.usage.output_tokens) == (160, 3)


def test_it_anthropic_sends_configured_max_tokens_version_and_temperature(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue_text("hi")
    ask(make_anthropic(anthropic_server, max_tokens=4096, anthropic_version="2024-01-01", temperature=0.3), tools=[])
    sent = anthropic_server.last_request
    assert sent.json["max_tokens"] == 4096
    assert sent.json["temperature"] == 0.3
    assert sent.headers["anthropic-version"] == "2024-01-01"
    assert "tools" not in sent.json


def test_it_anthropic_response_without_content_is_malformed(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue(200, {"id": "msg_1", "type": "message", "role": "assistant"})
    with pytest.raises(ProviderError, match="malformed response from provider") as excinfo:
        ask(make_anthropic(anthropic_server))
    assert excinfo.value.retryable is False


def test_it_anthropic_tool_use_without_id_is_malformed(anthropic_server: FakeAnthropic) -> None:
    body = anthropic_tool_use_response([("notify", {})])
    del body["content"][0]["id"]
    anthropic_server.enqueue(200, body)
    with pytest.raises(ProviderError, match="malformed response") as excinfo:
        ask(make_anthropic(anthropic_server))
    assert excinfo.value.retryable is False


def test_it_anthropic_529_overloaded_is_retryable(anthropic_server: FakeAnthropic) -> None:
    anthropic_server.enqueue_error(529, "Overloaded", type="overloaded_error")
    with pytest.raises(ProviderError) as excinfo:
        ask(make_anthropic(anthropic_server))
    assert excinfo.value.retryable is True
    assert excinfo.value.status == 529
    assert "Overloaded" in str(excinfo.value)


def test_it_anthropic_spend_limit_429_is_not_retryable(anthropic_server: FakeAnthropic) -> None:
    body = anthropic_error("spend limit reached", type="rate_limit_error")
    body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
    anthropic_server.enqueue(429, body)
    with pytest.raises(ProviderError) as excinfo:
        ask(make_anthropic(anthropic_server))
    assert excinfo.value.retryable is False


# ---------------------------------------------------------------------------
# Error classification, identical for both protocols


def test_it_429_is_retryable_with_retry_after_seconds(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(429, spec.error_body("Rate limited", type="rate_limit_error"), headers={"retry-after": "7"})
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is True
    assert excinfo.value.retry_after == 7
    assert excinfo.value.status == 429


def test_it_429_retry_after_http_date_is_converted_to_seconds(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(
        429, spec.error_body("Rate limited"), headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}
    )
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is True
    assert 25 <= excinfo.value.retry_after <= 31


@pytest.mark.parametrize("status", [500, 502, 503])
def test_it_server_errors_are_retryable(kit: tuple[Kit, FakeLLMServer], status: int) -> None:
    spec, server = kit
    server.enqueue(status, spec.error_body("internal failure", type="api_error"))
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is True
    assert excinfo.value.status == status
    assert excinfo.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_it_client_errors_are_not_retryable_and_hide_the_key(kit: tuple[Kit, FakeLLMServer], status: int) -> None:
    spec, server = kit
    # A server that echoes the key back must not leak it into run history.
    server.enqueue(status, spec.error_body(f"Incorrect API key provided: {API_KEY}", type="authentication_error"))
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    error = excinfo.value
    assert error.retryable is False
    assert error.status == status
    assert str(status) in str(error)
    assert "Incorrect API key provided" in str(error)
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error)


def test_it_redacts_credential_extra_headers_from_errors(openai_server: FakeOpenAI) -> None:
    gateway_key = "gw-key-0987654321"
    openai_server.enqueue_error(403, f"key {gateway_key} has no access to this deployment")
    provider = make_openai(openai_server, api_key=None, extra_headers={"api-key": gateway_key})
    with pytest.raises(ProviderError) as excinfo:
        ask(provider)
    assert openai_server.last_request.headers["api-key"] == gateway_key
    assert gateway_key not in str(excinfo.value)
    assert "has no access" in str(excinfo.value)


def test_it_401_from_a_key_checking_server_is_not_retryable(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, _ = kit
    with spec.server_cls(api_key="the-right-key") as server:
        with pytest.raises(ProviderError) as excinfo:
            ask(spec.make(server, api_key=API_KEY))
    assert excinfo.value.status == 401
    assert excinfo.value.retryable is False
    assert API_KEY not in str(excinfo.value)


def test_it_key_checking_fake_keeps_queued_reply_for_the_right_key(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, _ = kit
    with spec.server_cls(api_key="the-right-key") as server:
        server.enqueue(200, spec.ok_body())
        with pytest.raises(ProviderError) as excinfo:
            ask(spec.make(server, api_key="wrong-key"))
        assert excinfo.value.status == 401
        assert ask(spec.make(server, api_key="the-right-key")).text == "ok"


def test_it_error_without_json_body_keeps_status_and_text(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(502, raw=b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is True
    assert "502" in str(excinfo.value)
    assert "Bad gateway" in str(excinfo.value)


def test_it_timeout_is_retryable(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(200, spec.ok_body(), delay=3)
    started = time.monotonic()
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server, timeout=0.5))
    assert excinfo.value.retryable is True
    assert "timed out" in str(excinfo.value)
    assert time.monotonic() - started < 2.5


def test_it_connection_refused_is_retryable(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, _ = kit
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on ``port`` any more.
    provider = spec.make(_Address(f"http://127.0.0.1:{port}"), timeout=2)
    with pytest.raises(ProviderError) as excinfo:
        ask(provider)
    assert excinfo.value.retryable is True


def test_it_garbage_body_is_malformed_and_not_retryable(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(200, raw=b"\x00\xffnot json at all{")
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is False
    assert "malformed response from provider" in str(excinfo.value)


def test_it_json_array_body_is_malformed(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(200, [1, 2, 3])
    with pytest.raises(ProviderError, match="malformed response from provider") as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is False


def test_it_redirect_is_not_followed(kit: tuple[Kit, FakeLLMServer]) -> None:
    spec, server = kit
    server.enqueue(301, raw=b"", headers={"Location": "https://elsewhere.example/v1"})
    with pytest.raises(ProviderError, match="redirected") as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is False
    assert len(server.requests) == 1


def test_it_private_url_blocked_by_policy_is_not_retryable(kit: tuple[Kit, FakeLLMServer], settings: Any) -> None:
    spec, server = kit
    settings.GRADENT_ALLOW_PRIVATE_URLS_MODELS = []
    with pytest.raises(ProviderError) as excinfo:
        ask(spec.make(server))
    assert excinfo.value.retryable is False
    assert server.requests == []


@dataclass
class _Address:
    """Stands in for a server when only a base_url is needed."""

    base_url: str


# ---------------------------------------------------------------------------
# Smart mode: a whole tool loop driven by a handler, as system tests do


def _run_loop(provider: Provider, execute: Any, max_turns: int = 5) -> tuple[str, list[dict]]:
    messages: list[dict] = [{"role": "user", "content": "check https://a.example"}]
    for _ in range(max_turns):
        response = ask(provider, messages=messages)
        if not response.tool_calls:
            return response.text, messages
        messages.append(
            {
                "role": "assistant",
                "content": response.text,
                "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls],
            }
        )
        for call in response.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": execute(call)})
    raise AssertionError("loop did not finish")


def test_it_runs_a_tool_loop_against_smart_fake_servers() -> None:
    def openai_brain(request: RecordedRequest) -> dict:
        if not request.tool_results:
            return openai_tool_call_response([("http_get", {"url": "https://a.example"}, "call_1")])
        return openai_text_response(f"site said {request.last_tool_results[0]['content']}")

    def anthropic_brain(request: RecordedRequest) -> Reply:
        if not request.tool_results:
            return Reply(200, anthropic_tool_use_response([("http_get", {"url": "https://a.example"}, "toolu_1")]))
        return Reply(200, anthropic_text_response(f"site said {request.last_tool_results[0]['content']}"))

    def execute(call: Any) -> str:
        return json.dumps({"url": call.arguments["url"], "status": 200})

    with FakeOpenAI(openai_brain) as oa, FakeAnthropic(anthropic_brain) as an:
        for server, make in ((oa, make_openai), (an, make_anthropic)):
            text, messages = _run_loop(make(server), execute)
            assert text == 'site said {"url": "https://a.example", "status": 200}'
            assert len(server.requests) == 2
            assert server.requests[1].turn == 1
            assert server.requests[0].tool_names == ["http_get", "notify"]


def test_it_fake_server_reports_unscripted_requests_clearly(openai_server: FakeOpenAI) -> None:
    with pytest.raises(ProviderError, match="no response scripted") as excinfo:
        ask(make_openai(openai_server))
    assert excinfo.value.retryable is True  # it is a 500


# ---------------------------------------------------------------------------
# Settings validation


@pytest.mark.parametrize(
    ("cls", "provider_settings", "needle"),
    [
        (OpenAIProvider, {"base_url": "ftp://x"}, "base_url"),
        (OpenAIProvider, {"max_tokens": 0}, "max_tokens"),
        (OpenAIProvider, {"max_tokens": 1.5}, "max_tokens"),
        (OpenAIProvider, {"temperature": "hot"}, "temperature"),
        (OpenAIProvider, {"timeout": -1}, "timeout"),
        (OpenAIProvider, {"timeout": True}, "timeout"),
        (OpenAIProvider, {"extra_headers": {"X-A": 1}}, "extra_headers"),
        (OpenAIProvider, {"extra_headers": {"Bad Name": "v"}}, "extra_headers"),
        (OpenAIProvider, {"max_token": 5}, "max_token"),
        (AnthropicProvider, {"max_tokens": -5}, "max_tokens"),
        (AnthropicProvider, {"temperature": 1.5}, "temperature"),
        (AnthropicProvider, {"anthropic_version": 2023}, "anthropic_version"),
        (AnthropicProvider, {"model": "x"}, "model"),
    ],
)
def test_it_validate_settings_names_the_problem(cls: type[Provider], provider_settings: dict, needle: str) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        cls.validate_settings(provider_settings)
    messages = excinfo.value.message_dict["provider_settings"]
    assert any(needle in message for message in messages)


def test_it_validate_settings_fills_defaults() -> None:
    assert OpenAIProvider.validate_settings({}) == {
        "base_url": "https://api.openai.com/v1",
        "timeout": 60,
        "extra_headers": {},
    }
    cleaned = AnthropicProvider.validate_settings({"base_url": "https://proxy.example/"})
    assert cleaned["base_url"] == "https://proxy.example"
    assert cleaned["max_tokens"] == 1024
    assert cleaned["anthropic_version"] == "2023-06-01"


def test_it_bad_settings_at_construction_raise_provider_error() -> None:
    with pytest.raises(ProviderError, match="max_tokens") as excinfo:
        OpenAIProvider(model="m", settings={"max_tokens": "lots"}, api_key=None)
    assert excinfo.value.retryable is False


def test_it_parse_retry_after_handles_edge_cases() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-3"}) is None
    assert parse_retry_after({"Retry-After": "2.5"}) == 2.5
    past = formatdate(time.time() - 100, usegmt=True)
    assert parse_retry_after({"Retry-After": past}) == 0.0


# ---------------------------------------------------------------------------
# Registry


def test_it_registry_resolves_every_provider() -> None:
    assert get_provider_class("openai") is OpenAIProvider
    assert get_provider_class("anthropic") is AnthropicProvider
    assert get_provider_class("scripted") is ScriptedProvider
    assert {value for value, _label in provider_choices()} == set(PROVIDERS)
    for name in PROVIDERS:
        assert get_provider_class(name).name == name


def test_it_registry_rejects_unknown_names_clearly() -> None:
    with pytest.raises(KeyError):
        get_provider_class("gemini")
    with pytest.raises(ValueError, match="unknown provider 'gemini'.*anthropic, openai, scripted"):
        get_provider_class("gemini")


# ---------------------------------------------------------------------------
# Scripted provider

SCRIPT = {
    "steps": [
        {"tool": "http_get", "args": {"url": "{{ input.url }}", "retries": "{{ input.retries }}"}, "id": "fetch"},
        {
            "tool": "notify",
            "args": {
                "text": "{{ payload.repo.name }} answered {{ steps.fetch.status }}",
                "first_status": "{{ steps.0.status }}",
                "previous": "{{ last }}",
            },
        },
    ],
    "answer": "status was {{ steps.fetch.status }}; notified={{ last.sent }}",
}


def _scripted_messages(done: int) -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": "go"}]
    for i in range(done):
        messages.append(
            {"role": "assistant", "content": "", "tool_calls": [{"id": f"s{i}", "name": "t", "arguments": {}}]}
        )
        messages.append({"role": "tool", "tool_call_id": f"s{i}", "name": "t", "content": "{}"})
    return messages


def _scripted(settings: dict) -> ScriptedProvider:
    return ScriptedProvider(model="", settings=settings, api_key=None)


def test_it_scripted_renders_first_step_from_input() -> None:
    ctx = RunContext(input={"url": "https://a.example", "retries": 2}, payload={"repo": {"name": "widgets"}})
    response = _scripted(SCRIPT).complete(system="", messages=_scripted_messages(0), tools=[], context=ctx)
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.name == "http_get"
    assert call.arguments == {"url": "https://a.example", "retries": 2}
    assert response.text == ""
    assert response.stop_reason == STOP_TOOL_CALLS
    assert (response.usage.input_tokens, response.usage.output_tokens) == (0, 0)
    json.dumps(response.request)
    json.dumps(response.raw)


def test_it_scripted_renders_later_steps_from_previous_outputs_and_payload() -> None:
    fetch_output = {"status": 200, "body": "ok"}
    ctx = RunContext(
        input={"url": "https://a.example", "retries": 2},
        payload={"repo": {"name": "widgets"}},
        step_outputs=[fetch_output],
        step_outputs_by_id={"fetch": fetch_output},
    )
    response = _scripted(SCRIPT).complete(system="", messages=_scripted_messages(1), tools=[], context=ctx)
    call = response.tool_calls[0]
    assert call.name == "notify"
    assert call.arguments == {"text": "widgets answered 200", "first_status": 200, "previous": fetch_output}
    assert call.id != "scripted_0"


def test_it_scripted_resolves_step_ids_when_outputs_are_keyed_by_call_id() -> None:
    # The executor keys step_outputs_by_id by tool-call id; step ids must still work.
    provider = _scripted(SCRIPT)
    first = provider.complete(
        system="",
        messages=_scripted_messages(0),
        tools=[],
        context=RunContext(input={"url": "u", "retries": 0}, payload={"repo": {"name": "w"}}),
    )
    output = {"status": 404}
    ctx = RunContext(
        input={"url": "u", "retries": 0},
        payload={"repo": {"name": "w"}},
        step_outputs=[output],
        step_outputs_by_id={first.tool_calls[0].id: output},
    )
    second = provider.complete(system="", messages=_scripted_messages(1), tools=[], context=ctx)
    assert second.tool_calls[0].arguments["text"] == "w answered 404"


def test_it_scripted_answers_when_steps_are_exhausted() -> None:
    outputs = [{"status": 201}, {"sent": True}]
    ctx = RunContext(input={}, step_outputs=outputs, step_outputs_by_id={"fetch": outputs[0]})
    response = _scripted(SCRIPT).complete(system="", messages=_scripted_messages(2), tools=[], context=ctx)
    assert response.tool_calls == []
    assert response.text == "status was 201; notified=True"
    assert response.stop_reason == STOP_END


def test_it_scripted_default_answer_is_last_output_as_json() -> None:
    ctx = RunContext(input={}, step_outputs=[{"a": 1}, {"b": [2]}])
    provider = _scripted({"steps": [{"tool": "x"}, {"tool": "y"}]})
    response = provider.complete(system="", messages=_scripted_messages(2), tools=[], context=ctx)
    assert json.loads(response.text) == {"b": [2]}


def test_it_scripted_without_steps_answers_immediately() -> None:
    response = _scripted({"answer": "hello {{ input.name }}"}).complete(
        system="", messages=[{"role": "user", "content": "hi"}], tools=[], context=RunContext(input={"name": "Ada"})
    )
    assert response.tool_calls == []
    assert response.text == "hello Ada"
    empty = _scripted({}).complete(system="", messages=[], tools=[], context=RunContext(input={}))
    assert empty.text == ""


def test_it_scripted_missing_template_path_fails_naming_the_step() -> None:
    ctx = RunContext(input={"retries": 1}, payload={})
    with pytest.raises(ProviderError) as excinfo:
        _scripted(SCRIPT).complete(system="", messages=_scripted_messages(0), tools=[], context=ctx)
    assert excinfo.value.retryable is False
    assert "steps[0]" in str(excinfo.value)
    assert "input.url" in str(excinfo.value)


@pytest.mark.parametrize(
    ("provider_settings", "needle"),
    [
        ({"steps": "nope"}, "steps must be a list"),
        ({"steps": [{"tool": "a"}, "b"]}, "steps[1]"),
        ({"steps": [{"tool": "a"}, {"args": {}}]}, "steps[1]: 'tool'"),
        ({"steps": [{"tool": "a"}, {"tool": "b", "args": ["x"]}]}, "steps[1] (b): 'args'"),
        (
            {"steps": [{"tool": "a", "id": "x"}, {"tool": "b", "id": "x"}]},
            "steps[1] (b): id 'x' is already used by steps[0]",
        ),
        ({"steps": [{"tool": "a", "id": "7"}]}, "steps[0] (a): 'id' must not be a number"),
        ({"steps": [{"tool": "a", "id": "has space"}]}, "steps[0] (a): 'id'"),
        ({"steps": [{"tool": "a", "arg": {}}]}, "steps[0]: unknown key(s) arg"),
        ({"steps": [], "answer": 5}, "answer must be a string"),
        ({"steps": [], "extra": 1}, "unknown setting(s) extra"),
    ],
)
def test_it_scripted_validate_settings_names_the_bad_step(provider_settings: dict, needle: str) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        ScriptedProvider.validate_settings(provider_settings)
    assert any(needle in message for message in excinfo.value.message_dict["provider_settings"])


def test_it_scripted_validate_settings_returns_cleaned_steps() -> None:
    cleaned = ScriptedProvider.validate_settings({"steps": [{"tool": " http_get ", "id": "f"}]})
    assert cleaned == {"steps": [{"tool": "http_get", "args": {}, "id": "f"}]}


class EchoProvider(Provider):
    """A user's provider, registered through GRADENT_EXTRA_PROVIDERS."""

    name = "echo"
    verbose_name = "Echo (test)"

    def complete(self, *, system, messages, tools, context):
        from agents.providers import ProviderResponse, Usage

        return ProviderResponse(
            text=messages[-1]["content"], tool_calls=[], usage=Usage(), stop_reason=STOP_END, request={}, raw={}
        )


def test_it_uses_a_user_provider_listed_in_the_setting(settings) -> None:
    from agents.apps import check_plugins
    from agents.validation import validate_agent_config

    assert "echo" not in PROVIDERS
    settings.GRADENT_EXTRA_PROVIDERS = [f"{__name__}.EchoProvider"]
    assert get_provider_class("echo") is EchoProvider
    assert get_provider_class("openai") is OpenAIProvider  # the built-ins stay
    assert ("echo", "Echo (test)") in provider_choices()
    assert validate_agent_config(provider="echo", provider_settings={}, allowed_tools=[]) == {}
    assert check_plugins() == []
    reply = EchoProvider(model="", settings={}, api_key=None).complete(
        system="", messages=[{"role": "user", "content": "hi"}], tools=[], context=RunContext(input={})
    )
    assert reply.text == "hi"


def test_it_reports_a_provider_path_that_does_not_import(settings) -> None:
    from agents.apps import check_plugins

    settings.GRADENT_EXTRA_PROVIDERS = ["nowhere.Provider"]
    errors = check_plugins()
    assert [error.id for error in errors] == ["agents.E003"]
    assert "GRADENT_EXTRA_PROVIDERS" in errors[0].msg
