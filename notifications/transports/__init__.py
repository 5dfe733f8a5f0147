"""The transport registry: one module per channel kind, registered below; users' own
:class:`Transport` subclasses are listed by dotted path in ``GRADENT_NOTIFY_TRANSPORTS``
(or as ``{"kind": "dotted.path"}``) and added to the built-ins, never replacing one.
Resolved lazily; the `notifications.E001` system check imports them all."""

from __future__ import annotations

from gradent.lib.registry import Registry
from notifications.transports.base import Message, Transport, TransportError, TransportResult

TRANSPORTS = Registry(
    "transport",
    setting="GRADENT_NOTIFY_TRANSPORTS",
    builtins=[
        "notifications.transports.discord.DiscordTransport",
        "notifications.transports.ntfy.NtfyTransport",
        "notifications.transports.slack.SlackTransport",
        "notifications.transports.webhook.WebhookTransport",
        "notifications.transports.email.EmailTransport",
    ],
    name_attr="kind",
    base=Transport,
    check_id="notifications.E001",
    setting_id="notifications.E002",
)


def transport_paths() -> list[str]:
    return TRANSPORTS.paths()


def kind_choices() -> list[tuple[str, str]]:
    """``(kind, label)`` of every registered transport, for the form, the serializer and the admin."""
    return TRANSPORTS.choices()


def get_transport_class(kind: str) -> type[Transport]:
    try:
        return TRANSPORTS.get(kind)
    except KeyError:
        raise KeyError(f"no transport for channel kind {kind!r}") from None


__all__ = [
    "TRANSPORTS",
    "Message",
    "Transport",
    "TransportError",
    "TransportResult",
    "get_transport_class",
    "kind_choices",
    "transport_paths",
]
