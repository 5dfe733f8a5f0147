"""The tool registry: built-ins by dotted path, apps add theirs, users add theirs with
GRADENT_EXTRA_TOOLS. Resolved lazily; the `agents.E001` system check imports them all."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from agents.tools.base import Tool, ToolContext, ToolError

BUILTIN_TOOLS = [
    "agents.tools.builtin.HttpRequestTool",
    "agents.tools.builtin.RememberTool",
    "agents.tools.builtin.RecallTool",
    "agents.tools.builtin.FinishTool",
]
_registered: list[str] = []


def register_tool(dotted_path: str) -> None:
    """For apps above `agents`: call from AppConfig.ready()."""
    if dotted_path not in _registered:
        _registered.append(dotted_path)
        tool_registry.cache_clear()


def tool_paths() -> list[str]:
    return [*BUILTIN_TOOLS, *_registered, *settings.GRADENT_EXTRA_TOOLS]


@lru_cache(maxsize=1)
def tool_registry() -> dict[str, type[Tool]]:
    registry: dict[str, type[Tool]] = {}
    for path in tool_paths():
        tool = import_string(path)
        registry[tool.name] = tool
    return registry


def get_tool(name: str) -> type[Tool]:
    try:
        return tool_registry()[name]
    except KeyError:
        raise KeyError(f"no tool named {name!r}") from None


def tool_names() -> list[str]:
    return sorted(tool_registry())


__all__ = ["Tool", "ToolContext", "ToolError", "get_tool", "register_tool", "tool_names", "tool_registry"]
