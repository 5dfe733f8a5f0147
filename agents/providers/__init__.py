"""LLM providers and their registry.

The executor speaks to every provider in one neutral message format:

- ``{"role": "user", "content": str}``
- ``{"role": "assistant", "content": str, "tool_calls": [{"id", "name", "arguments": dict}]}``
- ``{"role": "tool", "tool_call_id": str, "name": str, "content": str}`` (one per
  tool result; several in a row after parallel calls)

and describes tools as ``{"name", "description", "parameters": <JSON schema>}``.
Providers are looked up by name through :func:`get_provider_class`; classes
are imported lazily so that loading the registry stays cheap. Users add their own
:class:`Provider` subclasses by dotted path in ``GRADENT_EXTRA_PROVIDERS``.
"""

from __future__ import annotations

from agents.providers.base import (
    Provider,
    ProviderError,
    ProviderResponse,
    RunContext,
    ToolCall,
    Usage,
)
from gradent.lib.registry import Registry

__all__ = [
    "PROVIDERS",
    "Provider",
    "ProviderError",
    "ProviderResponse",
    "RunContext",
    "ToolCall",
    "UnknownProviderError",
    "Usage",
    "get_provider_class",
    "provider_choices",
]

PROVIDERS = Registry(
    "provider",
    setting="GRADENT_EXTRA_PROVIDERS",
    builtins=[
        "agents.providers.openai.OpenAIProvider",
        "agents.providers.anthropic.AnthropicProvider",
        "agents.providers.scripted.ScriptedProvider",
    ],
    base=Provider,
    check_id="agents.E003",
)


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
        return PROVIDERS.get(name)
    except KeyError:
        raise UnknownProviderError(
            f"unknown provider {name!r}; choose one of: {', '.join(sorted(PROVIDERS))}"
        ) from None


def provider_choices() -> list[tuple[str, str]]:
    """``(name, verbose_name)`` of every registered provider, for forms."""
    return PROVIDERS.choices("verbose_name")
