"""make_* helpers for the notifications tests."""

from __future__ import annotations

from django.utils import timezone

from notifications.models import Channel, Notification
from notifications.serializers import validate_channel_config
from notifications.services import notification_create, notification_deliver
from notifications.transports import get_transport_class
from tests.helpers import make_user
from workspaces.models import personal_workspace_for

RUN_CONTEXT = {
    "run": {
        "id": 41,
        "status": "failed",
        "reason": "The model called tool 'rm', which this agent is not allowed to use.",
        "error": "",
        "attempt": 1,
        "max_attempts": 3,
        "source": "schedule",
        "source_label": "Schedule",
        "url": "http://localhost:8000/agents/runs/41/",
    },
    "agent": {"id": 7, "name": "Nightly report"},
    "url": "http://localhost:8000/agents/runs/41/",
}


def make_channel(kind: str, config: dict, *, user=None, workspace=None, validate: bool = True, **fields) -> Channel:
    """A channel stored as the API stores it (config validated, secrets encrypted).
    validate=False stores what the API would refuse, to test the send-time checks."""
    workspace = workspace or personal_workspace_for(user or make_user())
    if validate:
        config = validate_channel_config(kind=kind, config=config)
    channel = Channel(workspace=workspace, kind=kind, name=fields.pop("name", f"{kind} channel"), **fields)
    channel.set_full_config(config, secret_fields=get_transport_class(kind).secret_fields)
    channel.save()
    return channel


def send(channel: Channel, event: str = "run_failed", context: dict | None = None) -> Notification:
    """Write the notification as an event would, then run its first attempt."""
    notification = notification_create(channel=channel, event=event, context=context or RUN_CONTEXT)
    notification_deliver(notification.pk)
    notification.refresh_from_db()
    return notification


def make_due(notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
