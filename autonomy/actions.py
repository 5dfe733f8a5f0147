"""Action handlers: Python callables by name (the `register_action_handler` API of the
original design), plus "run_executor_agent", which starts the workspace's executor agent
with a task describing the goal.

A handler is called as `handler(params, goal_id)` and returns a dict; `{"success": False}`
or an exception fails the action (never the cycle). Users add theirs by dotted path in the
GRADENT_AUTONOMY_ACTION_HANDLERS setting: a list of paths (each named by the function's
``__name__``) or ``{name: "package.module.callable"}``. The `autonomy.E001` system check
imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradent.lib.registry import Registry

RUN_EXECUTOR_AGENT = "run_executor_agent"

Handler = Callable[[dict[str, Any], int], dict | None]

ACTIONS = Registry(
    "action handler",
    setting="GRADENT_AUTONOMY_ACTION_HANDLERS",
    name_attr="__name__",
    check_id="autonomy.E001",
)


def register_action_handler(name: str, handler: Handler) -> None:
    """Register (or replace) the handler called ``name``."""
    if not name or name == RUN_EXECUTOR_AGENT:
        raise ValueError(f"invalid action handler name {name!r}")
    if not callable(handler):
        raise TypeError(f"action handler {name!r} is not callable")
    ACTIONS.unregister(name)
    ACTIONS.register(handler, name=name)


def unregister_action_handler(name: str) -> None:
    ACTIONS.unregister(name)


def action_handlers() -> dict[str, Handler]:
    """Registered handlers, then the setting's dotted paths (imported lazily)."""
    return dict(ACTIONS.entries())
