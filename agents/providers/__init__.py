"""LLM providers and their registry.

The executor speaks to every provider in one neutral message format:

- ``{"role": "user", "content": str}``
- ``{"role": "assistant", "content": str, "tool_calls": [{"id", "name", "arguments": dict}]}``
- ``{"role": "tool", "tool_call_id": str, "name": str, "content": str}`` (one per
  tool result; several in a row after parallel calls)

and describes tools as ``{"name", "description", "parameters": <JSON schema>}``.
Providers are looked up by name through :func:`get_provider_class`; classes
are imported lazily so that loading the registry stays cheap.
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from agents.providers.base import (
    Provider,
    ProviderError,
    ProviderResponse,
    RunContext,
    ToolCall,
    Usage,
)

__all__ = [
    "PROVIDERS",
    "PROVIDER_CHOICES",
    "Provider",
    "ProviderError",
    "ProviderResponse",
    "RunContext",
    "ToolCall",
    "UnknownProviderError",
    "Usage",
    "get_provider_class",
]

PROVIDERS: dict[str, str] = {
    "openai": "agents.providers.openai.OpenAIProvider",
    "anthropic": "agents.providers.anthropic.AnthropicProvider",
    "scripted": "agents.providers.scripted.ScriptedProvider",
}

PROVIDER_CHOICES: list[tuple[str, str]] = [
    ("openai", "OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio, OpenRouter...)"),
    ("anthropic", "Anthropic (Claude Messages API)"),
    ("scripted", "Scripted (fixed steps, no LLM)"),
]


class UnknownProviderError(KeyError, ValueError):
    """No provider is registered under the requested name.

    Subclasses both KeyError and ValueError so callers may catch either.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0]) if self.args else "unknown provider"


def get_provider_class(name: str) -> type[Provider]:
    """Return the provider class registered as ``name``."""
    try:
        path = PROVIDERS[name]
    except (KeyError, TypeError):
        raise UnknownProviderError(
            f"unknown provider {name!r}; choose one of: {', '.join(sorted(PROVIDERS))}"
        ) from None
    return import_string(path)
