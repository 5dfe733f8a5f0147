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


# An undo is called as `undo(params, goal_id, result)` with the action's stored result when
# the measured impact is negative (the metric moved the wrong way): a rollback.
Undo = Callable[[dict[str, Any], int, dict[str, Any]], dict | None]
_UNDOS: dict[str, Undo] = {}


def register_action_handler(name: str, handler: Handler, *, undo: Undo | None = None) -> None:
    """Register (or replace) the handler called ``name``, with its undo if it has one (a
    handler given by dotted path declares it as an ``undo`` attribute)."""
    if not name or name == RUN_EXECUTOR_AGENT:
        raise ValueError(f"invalid action handler name {name!r}")
    if not callable(handler):
        raise TypeError(f"action handler {name!r} is not callable")
    if undo is not None and not callable(undo):
        raise TypeError(f"the undo of action handler {name!r} is not callable")
    ACTIONS.unregister(name)
    ACTIONS.register(handler, name=name)
    _UNDOS.pop(name, None)
    if undo is not None:
        _UNDOS[name] = undo


def unregister_action_handler(name: str) -> None:
    ACTIONS.unregister(name)
    _UNDOS.pop(name, None)


def undo_for(name: str) -> Undo | None:
    """The undo of the handler called ``name``, or None."""
    if name in _UNDOS:
        return _UNDOS[name]
    handler = action_handlers().get(name)
    undo = getattr(handler, "undo", None)
    return undo if callable(undo) else None


def action_handlers() -> dict[str, Handler]:
    """Registered handlers, then the setting's dotted paths (imported lazily)."""
    return dict(ACTIONS.entries())
