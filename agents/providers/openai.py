"""OpenAI-compatible Chat Completions provider.

Works with any server that speaks ``POST {base_url}/chat/completions``: OpenAI
itself, OpenRouter, and local runtimes such as Ollama, vLLM, llama.cpp's server
and LM Studio. Only the non-streaming request/response form is used.
"""

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
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_ALLOWED_SETTINGS = {"base_url", "temperature", "max_tokens", "timeout", "extra_headers"}


class OpenAIProvider(HTTPProvider):
    """Chat Completions with function tools (parallel tool calls supported)."""

    name: ClassVar[str] = "openai"
    verbose_name: ClassVar[str] = "OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio, OpenRouter...)"
    label: ClassVar[str] = "OpenAI-compatible"
    stop_reasons: ClassVar[dict[str, str]] = {
        "stop": STOP_END,
        "tool_calls": STOP_TOOL_CALLS,
        "function_call": STOP_TOOL_CALLS,
        "length": STOP_LENGTH,
    }

    @classmethod
    def validate_settings(cls, settings: dict) -> dict:
        """Validate base_url, temperature, max_tokens, timeout and extra_headers."""
        settings = super().validate_settings(settings)
        check_allowed_keys(settings, _ALLOWED_SETTINGS)
        cleaned: dict[str, Any] = {
            "base_url": clean_base_url(settings.get("base_url"), DEFAULT_BASE_URL),
            "timeout": clean_number(settings, "timeout", default=60, minimum=0, maximum=3600, exclusive_minimum=True),
            "extra_headers": clean_headers(settings.get("extra_headers")),
        }
        temperature = clean_number(settings, "temperature", default=None, minimum=0, maximum=2)
        if temperature is not None:
            cleaned["temperature"] = temperature
        max_tokens = clean_number(settings, "max_tokens", default=None, minimum=1, maximum=10_000_000, integer=True)
        if max_tokens is not None:
            cleaned["max_tokens"] = max_tokens
        return cleaned

    def endpoint_url(self) -> str:
        """``{base_url}/chat/completions``."""
        return f"{self.settings['base_url']}/chat/completions"

    def request_headers(self) -> dict[str, str]:
        """JSON headers, Bearer auth when a key is configured (Ollama needs none)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(self.settings.get("extra_headers") or {})
        return headers

    def build_body(self, *, system: str, messages: list[dict], tools: list[dict]) -> dict:
        """The Chat Completions request body for a neutral conversation."""
        body: dict[str, Any] = {"model": self.model, "messages": to_wire_messages(system, messages)}
        if tools:
            body["tools"] = [to_wire_tool(tool) for tool in tools]
            body["tool_choice"] = "auto"
        if "temperature" in self.settings:
            body["temperature"] = self.settings["temperature"]
        if "max_tokens" in self.settings:
            body["max_tokens"] = self.settings["max_tokens"]
        return body

    def error_in_body(self, data: dict) -> ProviderError | None:
        """Some compatible proxies report upstream failures in a 200 body; surface their
        message instead of a bare "no choices"."""
        if "error" in data and "choices" not in data:
            message, _type, _code = api_error_fields(data)
            return self.malformed(f"returned an error in a 2xx response: {self.redact(message)[:500]}")
        return None

    def parse_reply(self, data: dict) -> tuple[str, list[ToolCall], Any]:
        """Text, tool calls and ``finish_reason`` of ``choices[0]``."""
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self.malformed("response has no 'choices'")
        choice = choices[0]
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise self.malformed("response has no 'choices[0].message'")
        message = choice["message"]

        text = _content_text(message.get("content"))
        if text is None:
            raise self.malformed("'choices[0].message.content' is neither text nor null")

        tool_calls = [self._parse_tool_call(i, item) for i, item in enumerate(message.get("tool_calls") or [])]
        return text, tool_calls, choice.get("finish_reason")

    def parse_usage(self, usage: dict) -> Usage:
        return Usage(
            input_tokens=as_int(usage.get("prompt_tokens")),
            output_tokens=as_int(usage.get("completion_tokens")),
        )

    def _parse_tool_call(self, index: int, item: Any) -> ToolCall:
        """One entry of ``message.tool_calls``."""
        if not isinstance(item, dict) or not isinstance(item.get("function"), dict):
            raise self.malformed(f"tool_calls[{index}] has no 'function' object")
        function = item["function"]
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise self.malformed(f"tool_calls[{index}] has no function name")
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            # Ollama-style servers sometimes send the object instead of a string.
            parsed: Any = arguments
        elif arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            parsed = {}
        elif isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError as exc:
                raise ProviderError(
                    f"model returned invalid JSON arguments for tool '{name}' "
                    f"(tool_calls[{index}]): {exc.msg} at position {exc.pos}; "
                    f"arguments began {arguments[:120]!r}",
                    retryable=False,
                ) from exc
        else:
            raise self.malformed(f"tool_calls[{index}].function.arguments is not a JSON string")
        if not isinstance(parsed, dict):
            raise ProviderError(
                f"model returned arguments for tool '{name}' (tool_calls[{index}]) that are "
                f"not a JSON object: {json.dumps(parsed)[:120]}",
                retryable=False,
            )
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id:
            # Some compatible servers omit ids; the tool result must still be
            # matched to its call on the next turn, so invent a stable one.
            call_id = f"call_{index}"
        return ToolCall(id=call_id, name=name, arguments=parsed)


def _content_text(content: Any) -> str | None:
    """Assistant text from ``message.content`` (string, null, or list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return None


def to_wire_tool(tool: dict) -> dict:
    """Neutral tool spec -> ``{"type": "function", "function": {...}}``."""
    function: dict[str, Any] = {
        "name": tool["name"],
        "description": tool.get("description") or "",
        "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    return {"type": "function", "function": function}


def to_wire_messages(system: str, messages: list[dict]) -> list[dict]:
    """Neutral messages -> Chat Completions messages (system prompt first)."""
    wire: list[dict] = []
    if system:
        wire.append({"role": "system", "content": system})
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("user", "system"):
            wire.append({"role": role, "content": message.get("content") or ""})
        elif role == "assistant":
            calls = message.get("tool_calls") or []
            item: dict[str, Any] = {"role": "assistant"}
            content = message.get("content") or ""
            # The API wants null content (not "") on a pure tool-call turn.
            item["content"] = content if content or not calls else None
            if calls:
                item["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {
                            "name": call["name"],
                            "arguments": json.dumps(call.get("arguments") or {}, ensure_ascii=False),
                        },
                    }
                    for call in calls
                ]
            wire.append(item)
        elif role == "tool":
            wire.append(
                {
                    "role": "tool",
                    "tool_call_id": message["tool_call_id"],
                    "content": _tool_content(message.get("content")),
                }
            )
        else:
            raise ProviderError(f"unsupported message role {role!r} at messages[{index}]", retryable=False)
    return wire


def _tool_content(content: Any) -> str:
    """Tool results must be text on the wire."""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)
