"""What notifications answers for the other apps on `agents.events` (see `events.answer`):
they may keep channels of their own (autonomy's Discord and ntfy channels) and check a
channel's settings without importing this app. Answered from NotificationsConfig.ready()."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from agents import events
from notifications.models import TEST_EVENT, Channel
from notifications.rendering import RenderError, level_for, render_message
from notifications.serializers import validate_channel_config
from notifications.services import send_now
from notifications.transports import Message, TransportError, get_transport_class

# The questions, by name; the asking app writes the same strings.
VALIDATE_CONFIG = "channel.validate_config"
SEND_TEST = "channel.send_test"
FIND = "channel.find"
SAVE = "channel.save"


@dataclass(frozen=True)
class ChannelRef:
    """A channel as another app sees it: enough to link to it and show its target."""

    pk: int
    name: str
    kind: str
    enabled: bool
    config: dict  # the full config, secrets included: the owning app set them


def validate_config(*, kind: str, config: dict) -> dict:
    """The kind's validated config. Raises a DRF ValidationError under `config`."""
    return validate_channel_config(kind=kind, config=config)


def send_test(*, kind: str, config: dict, channel_name: str, sender: str) -> str:
    """One test message to an unsaved channel, at once. The error's reason, or ""."""
    channel = Channel(kind=kind, name="test", secret=json.dumps(config))
    context = {"channel": {"id": None, "name": channel_name}, "sender": sender}
    now = timezone.now()
    try:
        rendered = render_message(kind=kind, event=TEST_EVENT, context=context, now=now)
        message = Message(
            event=TEST_EVENT,
            title=rendered.title,
            body=rendered.body,
            payload=rendered.payload,
            level=level_for(TEST_EVENT, context),
            timestamp=now,
        )
        send_now(channel, message)
    except (TransportError, RenderError) as exc:
        return getattr(exc, "message", str(exc))
    return ""


def find(*, workspace_id: int, name: str, kind: str, enabled: bool | None = None) -> ChannelRef | None:
    """The workspace's channel of this name and kind. An app's own channels are known by
    their name, which is unique in the workspace (constraint `channel_unique_name`)."""
    channels = Channel.objects.filter(workspace_id=workspace_id, name=name, kind=kind)
    if enabled is not None:
        channels = channels.filter(enabled=enabled)
    channel = channels.first()
    if channel is None:
        return None
    # Unreadable secrets (gradent.lib.crypto) are left out: the asking app sees them as unset.
    return ChannelRef(
        pk=channel.pk,
        name=channel.name,
        kind=channel.kind,
        enabled=channel.enabled,
        config={**(channel.config or {}), **channel.secrets},
    )


def save(*, workspace_id: int, name: str, kind: str, config: dict | None, events: list[str], off_reason: str) -> None:
    """Create or update the workspace's channel `name` with a validated config, enabled and
    subscribed to `events` (added to the ones it has); None switches it off with `off_reason`."""
    with transaction.atomic():
        if config is None:
            Channel.objects.filter(workspace_id=workspace_id, name=name, kind=kind).update(
                enabled=False, disabled_reason=off_reason
            )
            return
        # Found by its name alone: the name is unique in the workspace.
        channel = Channel.objects.filter(workspace_id=workspace_id, name=name).first() or Channel(
            workspace_id=workspace_id, name=name
        )
        channel.kind = kind
        channel.set_full_config(config, secret_fields=get_transport_class(kind).secret_fields)
        channel.events = sorted(set(channel.events or []) | set(events)) if channel.pk else list(events)
        channel.enabled = True
        channel.disabled_reason = ""
        channel.save()


def connect() -> None:
    events.answer(VALIDATE_CONFIG, validate_config)
    events.answer(SEND_TEST, send_test)
    events.answer(FIND, find)
    events.answer(SAVE, save)
