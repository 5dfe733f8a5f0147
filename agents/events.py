"""The run lifecycle, published for the apps above `agents` (notifications, autonomy…).

One small explicit hook: apps subscribe in AppConfig.ready(); a failing subscriber is
logged and never breaks the run that published the event.
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


def register_event(event: str) -> None:
    """For apps above `agents` that publish events of their own (e.g. monitor_flipped).
    Register in AppConfig.ready(); subscribers come later in INSTALLED_APPS order."""
    if event not in _known:
        _known.append(event)


def subscribe(event: str, callback: Callable[..., None]) -> None:
    if event not in _known:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(_known)}")
    if callback not in _subscribers[event]:
        _subscribers[event].append(callback)


def unsubscribe(event: str, callback: Callable[..., None]) -> None:
    if callback in _subscribers[event]:
        _subscribers[event].remove(callback)


def publish(event: str, **payload) -> None:
    for callback in list(_subscribers[event]):
        try:
            callback(event=event, **payload)
        except Exception:
            logger.exception("subscriber %r failed on %s", callback, event)


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
