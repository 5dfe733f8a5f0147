"""The transport registry: one module per channel kind, by dotted path; the
GRADENT_NOTIFY_TRANSPORTS setting replaces the transport of a kind ({"kind": "dotted.path"}).
Resolved lazily; the `notifications.E001` system check imports them all."""

from __future__ import annotations

from django.utils.module_loading import import_string

from notifications.conf import setting
from notifications.transports.base import Message, Transport, TransportError, TransportResult

TRANSPORTS = {
    "discord": "notifications.transports.discord.DiscordTransport",
    "ntfy": "notifications.transports.ntfy.NtfyTransport",
    "slack": "notifications.transports.slack.SlackTransport",
    "webhook": "notifications.transports.webhook.WebhookTransport",
    "email": "notifications.transports.email.EmailTransport",
}


def transport_paths() -> dict[str, str]:
    return {**TRANSPORTS, **(setting("GRADENT_NOTIFY_TRANSPORTS") or {})}


def get_transport_class(kind: str) -> type[Transport]:
    try:
        path = transport_paths()[kind]
    except KeyError:
        raise KeyError(f"no transport for channel kind {kind!r}") from None
    return import_string(path)


__all__ = ["Message", "Transport", "TransportError", "TransportResult", "get_transport_class", "transport_paths"]
