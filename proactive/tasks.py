"""django-q2 entry points: take ids, call a service."""

from __future__ import annotations


def check_monitor(monitor_id: int) -> str:
    from proactive.services import monitor_check

    check = monitor_check(monitor_id)
    if check is None:
        return "no such monitor"
    return f"{check.state_after}{' (flipped)' if check.flipped else ''}"
