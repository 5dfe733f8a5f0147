"""Action handlers: Python callables registered by name (the `register_action_handler`
API of the original design), plus "run_executor_agent", which starts the workspace's
executor agent with a task describing the goal.

A handler is called as `handler(params, goal_id)` and returns a dict; `{"success": False}`
or an exception fails the action (never the cycle). Handlers can also be listed by dotted
path in the GRADENT_AUTONOMY_ACTION_HANDLERS setting ({name: "package.module.callable"}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

RUN_EXECUTOR_AGENT = "run_executor_agent"

Handler = Callable[[dict[str, Any], int], dict | None]
_handlers: dict[str, Handler] = {}


def register_action_handler(name: str, handler: Handler) -> None:
    if not name or name == RUN_EXECUTOR_AGENT:
        raise ValueError(f"invalid action handler name {name!r}")
    if not callable(handler):
        raise TypeError(f"action handler {name!r} is not callable")
    _handlers[name] = handler


def unregister_action_handler(name: str) -> None:
    _handlers.pop(name, None)


def configured_handlers() -> dict[str, str]:
    return dict(getattr(settings, "GRADENT_AUTONOMY_ACTION_HANDLERS", {}) or {})


def action_handlers() -> dict[str, Handler]:
    """Registered handlers, then the setting's dotted paths (imported lazily)."""
    found = dict(_handlers)
    for name, path in configured_handlers().items():
        if name not in found:
            found[name] = import_string(path)
    return found


def handler_path_errors() -> list[str]:
    errors = []
    for name, path in configured_handlers().items():
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(f"action handler {name!r} ({path}): {exc}")
    return errors
