"""How the apps above `agents` (proactive, notifications, autonomy) talk without importing
each other.

Events: `agents` publishes the run lifecycle; an app above may register and publish events
of its own (proactive's monitor_flipped, autonomy's cycle and goal events). Apps subscribe
in AppConfig.ready(); a failing subscriber is logged and never breaks what published it.

Questions: one app may answer a named question for the others (notifications answers
"validate this channel config" and "send a test message" for autonomy). Unlike an event a
question has one answerer and the asker gets its return value and its exceptions.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

logger = logging.getLogger(__name__)

RUN_STARTED = "run_started"
RUN_SUCCEEDED = "run_succeeded"
RUN_FAILED = "run_failed"
RUN_SKIPPED = "run_skipped"
AGENT_AUTO_PAUSED = "agent_auto_paused"
TOOL_CALLED = "tool_called"
EVENTS = (RUN_STARTED, RUN_SUCCEEDED, RUN_FAILED, RUN_SKIPPED, AGENT_AUTO_PAUSED, TOOL_CALLED)

_known: list[str] = list(EVENTS)
_batch: ContextVar[dict | None] = ContextVar("gradent_events_batch", default=None)
_subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)
_answerers: dict[str, Callable[..., Any]] = {}


class NoAnswer(LookupError):
    """No installed app answers this question."""


def register_event(event: str) -> None:
    """For apps above `agents` that publish events of their own (e.g. monitor_flipped).
    Register in AppConfig.ready()."""
    if event not in _known:
        _known.append(event)


def subscribe(event: str, callback: Callable[..., None]) -> None:
    """While the apps load, the publisher's ready() may not have run yet (INSTALLED_APPS
    order), so an unknown name is accepted then and reported by `check_events` (agents.E006);
    afterwards an unknown name is a ValueError at once."""
    from django.apps import apps

    if event not in _known and apps.ready:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(_known)}")
    if callback not in _subscribers[event]:
        _subscribers[event].append(callback)


def check_events() -> list[str]:
    """Events somebody subscribed to that no app registered: a typo, or an app not installed."""
    return sorted(event for event, callbacks in _subscribers.items() if callbacks and event not in _known)


def unsubscribe(event: str, callback: Callable[..., None]) -> None:
    if callback in _subscribers[event]:
        _subscribers[event].remove(callback)


def publish(event: str, **payload) -> None:
    for callback in list(_subscribers[event]):
        try:
            callback(event=event, **payload)
        except Exception:
            logger.exception("subscriber %r failed on %s", callback, event)


def answer(question: str, callback: Callable[..., Any]) -> None:
    """Answer `question` for the other apps (in AppConfig.ready()); one answerer each."""
    current = _answerers.get(question)
    if current is not None and current is not callback:
        raise ValueError(f"question {question!r} is already answered by {current!r}")
    _answerers[question] = callback


def ask(question: str, **payload) -> Any:
    """The answerer's return value; its exceptions reach the asker. NoAnswer when no
    installed app answers."""
    callback = _answerers.get(question)
    if callback is None:
        raise NoAnswer(question)
    return callback(**payload)


@contextmanager
def batch() -> Iterator[None]:
    """Publish many events together (a batch of skipped fires): while it lasts,
    subscribers may keep what they looked up (see `remember`), so thousands of events
    do not cost thousands of identical queries."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


def remember(key: Any, compute: Callable[[], Any]) -> Any:
    """compute(), kept for the rest of the current batch() (computed afresh outside one)."""
    memo = _batch.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]
