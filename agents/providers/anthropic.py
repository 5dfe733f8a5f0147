"""Anthropic Messages API provider (``POST {base_url}/v1/messages``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from agents.providers.base import (
    STOP_END,
    STOP_LENGTH,
    STOP_TOOL_CALLS,
    HTTPProvider,
    ProviderError,
    ToolCall,
    Usage,
    api_error_fields,
    as_int,
    check_allowed_keys,
    clean_base_url,
    clean_headers,
    clean_number,
    settings_error,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024

_ALLOWED_SETTINGS = {"base_url", "max_tokens", "anthropic_version", "timeout", "temperature", "extra_headers"}

# Error types Anthropic documents as transient when they appear inside a body.
_RETRYABLE_ERROR_TYPES = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicProvider(HTTPProvider):
    """Claude via the Messages API with client tools."""

    name: ClassVar[str] = "anthropic"
    verbose_name: ClassVar[str] = "Anthropic (Claude Messages API)"
    label: ClassVar[str] = "Anthropic"
    stop_reasons: ClassVar[dict[str, str]] = {
        "end_turn": STOP_END,
        "stop_sequence": STOP_END,
        "tool_use": STOP_TOOL_CALLS,
        "max_tokens": STOP_LENGTH,
    }

    @classmethod
    def validate_settings(cls, settings: dict) -> dict:
        """Validate base_url, max_tokens, anthropic_version, timeout, temperature, extra_headers."""
        settings = super().validate_settings(settings)
        check_allowed_keys(settings, _ALLOWED_SETTINGS)
        version = settings.get("anthropic_version") or DEFAULT_VERSION
        if not isinstance(version, str) or any(ch.isspace() for ch in version):
            raise settings_error("anthropic_version must be a version string such as 2023-06-01")
        cleaned: dict[str, Any] = {
            "base_url": clean_base_url(settings.get("base_url"), DEFAULT_BASE_URL),
            # The Messages API requires max_tokens on every request.
            "max_tokens": clean_number(
                settings, "max_tokens", default=DEFAULT_MAX_TOKENS, minimum=1, maximum=10_000_000, integer=True
            ),
            "anthropic_version": version,
            "timeout": clean_number(settings, "timeout", default=60, minimum=0, maximum=3600, exclusive_minimum=True),
            "extra_headers": clean_headers(settings.get("extra_headers")),
        }
        temperature = clean_number(settings, "temperature", default=None, minimum=0, maximum=1)
        if temperature is not None:
            cleaned["temperature"] = temperature
        return cleaned

    def endpoint_url(self) -> str:
        """``{base_url}/v1/messages``."""
        return f"{self.settings['base_url']}/v1/messages"

    def request_headers(self) -> dict[str, str]:
        """``x-api-key`` auth plus the required ``anthropic-version`` header."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": self.settings["anthropic_version"],
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        headers.update(self.settings.get("extra_headers") or {})
        return headers

    def build_body(self, *, system: str, messages: list[dict], tools: list[dict]) -> dict:
        """The Messages API request body for a neutral conversation."""
        extra_system, wire = to_wire_messages(messages)
        system_text = "\n\n".join(part for part in [system, *extra_system] if part)
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.settings["max_tokens"]}
        if system_text:
            body["system"] = system_text
        body["messages"] = wire
        if tools:
            body["tools"] = [to_wire_tool(tool) for tool in tools]
        if "temperature" in self.settings:
            body["temperature"] = self.settings["temperature"]
        return body

    def error_in_body(self, data: dict) -> ProviderError | None:
        """An error object delivered with a 2xx status (seen behind proxies)."""
        if data.get("type") != "error":
            return None
        message, err_type, _code = api_error_fields(data)
        return ProviderError(
            f"Anthropic API error ({err_type or 'unknown'}): {self.redact(message)[:500]}",
            retryable=err_type in _RETRYABLE_ERROR_TYPES,
        )

    def parse_reply(self, data: dict) -> tuple[str, list[ToolCall], Any]:
        """Text blocks joined, ``tool_use`` blocks, and ``stop_reason``."""
        content = data.get("content")
        if not isinstance(content, list):
            raise self.malformed("response has no 'content' list")

        texts: list[str] = []
        tool_calls: list[ToolCall] = []
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                raise self.malformed(f"content[{index}] is not an object")
            kind = block.get("type")
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    raise self.malformed(f"content[{index}] text block has no 'text'")
                texts.append(block["text"])
            elif kind == "tool_use":
                tool_calls.append(self._parse_tool_use(index, block))
            # Other block types (thinking, server tools, ...) carry nothing the
            # executor acts on; they stay visible in ``raw``.
        return "\n\n".join(text for text in texts if text), tool_calls, data.get("stop_reason")

    def parse_usage(self, usage: dict) -> Usage:
        return Usage(
            # input_tokens excludes prompt-cache reads/writes; count them
            # too so budgets reflect everything the model was fed.
            input_tokens=as_int(usage.get("input_tokens"))
            + as_int(usage.get("cache_creation_input_tokens"))
            + as_int(usage.get("cache_read_input_tokens")),
            output_tokens=as_int(usage.get("output_tokens")),
        )

    def _parse_tool_use(self, index: int, block: dict) -> ToolCall:
        """One ``tool_use`` content block."""
        call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
        if not isinstance(call_id, str) or not call_id:
            raise self.malformed(f"content[{index}] tool_use block has no 'id'")
        if not isinstance(name, str) or not name:
            raise self.malformed(f"content[{index}] tool_use block has no 'name'")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ProviderError(
                f"model returned input for tool '{name}' (content[{index}]) that is not a JSON object",
                retryable=False,
            )
        return ToolCall(id=call_id, name=name, arguments=arguments)


def to_wire_tool(tool: dict) -> dict:
    """Neutral tool spec -> ``{name, description, input_schema}``."""
    return {
        "name": tool["name"],
        "description": tool.get("description") or "",
        "input_schema": tool.get("parameters") or {"type": "object", "properties": {}},
    }


def to_wire_messages(messages: list[dict]) -> tuple[list[str], list[dict]]:
    """Neutral messages -> (extra system texts, Messages API messages).

    Tool results become ``tool_result`` blocks in a user turn; consecutive
    results (parallel calls) and any user text right after them share ONE user
    message, with the results first as the API requires.
    """
    system_parts: list[str] = []
    wire: list[dict] = []

    def append(role: str, blocks: list[dict]) -> None:
        if not blocks:
            return
        if wire and wire[-1]["role"] == role:
            previous = wire[-1]["content"]
            if isinstance(previous, str):
                previous = [{"type": "text", "text": previous}]
            wire[-1]["content"] = previous + blocks
        else:
            wire.append({"role": role, "content": blocks})

    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            # The Messages API has no system role; fold it into ``system``.
            system_parts.append(message.get("content") or "")
        elif role == "user":
            text = message.get("content") or ""
            if wire and wire[-1]["role"] == "user":
                append("user", [{"type": "text", "text": text}] if text else [])
            else:
                # A plain string keeps the recorded request easy to read.
                wire.append({"role": "user", "content": text})
        elif role == "assistant":
            blocks: list[dict] = []
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            for call in message.get("tool_calls") or []:
                blocks.append(
                    {"type": "tool_use", "id": call["id"], "name": call["name"], "input": call.get("arguments") or {}}
                )
            # An empty assistant turn would be rejected by the API; drop it.
            append("assistant", blocks)
        elif role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": _tool_content(message.get("content")),
            }
            if message.get("is_error"):
                block["is_error"] = True
            append("user", [block])
        else:
            raise ProviderError(f"unsupported message role {role!r} at messages[{index}]", retryable=False)
    return system_parts, wire


def _tool_content(content: Any) -> str:
    """Tool results are sent as text."""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)
