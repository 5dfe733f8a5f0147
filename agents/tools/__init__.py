"""The tool registry: the built-ins below, the apps above register theirs from
``AppConfig.ready`` (:func:`register_tool`), users add theirs with ``GRADENT_EXTRA_TOOLS``.
Resolved lazily; the `agents.E001` / `agents.E002` system check imports them all."""

from __future__ import annotations

from agents.tools.base import Tool, ToolContext, ToolError
from gradent.lib.registry import Registry

TOOLS = Registry(
    "tool",
    setting="GRADENT_EXTRA_TOOLS",
    builtins=[
        "agents.tools.builtin.HttpRequestTool",
        "agents.tools.builtin.RememberTool",
        "agents.tools.builtin.RecallTool",
        "agents.tools.builtin.FinishTool",
    ],
    base=Tool,
    check_id="agents.E001",
    invalid_id="agents.E002",
)


def register_tool(dotted_path: str) -> None:
    """For apps above `agents`: call from AppConfig.ready()."""
    TOOLS.register(dotted_path)


def tool_paths() -> list[str]:
    return TOOLS.paths()


def tool_registry() -> dict[str, type[Tool]]:
    return TOOLS.entries()


def get_tool(name: str) -> type[Tool]:
    try:
        return TOOLS.get(name)
    except KeyError:
        raise KeyError(f"no tool named {name!r}") from None


def tool_names() -> list[str]:
    return sorted(TOOLS.entries())


__all__ = [
    "TOOLS",
    "Tool",
    "ToolContext",
    "ToolError",
    "get_tool",
    "register_tool",
    "tool_names",
    "tool_paths",
    "tool_registry",
]
