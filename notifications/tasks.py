"""django-q2 entry points: take ids, call a service."""

from __future__ import annotations

from notifications.services import notification_deliver


def send_notification(notification_id: int) -> str:
    return notification_deliver(notification_id)
