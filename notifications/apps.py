from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications: channels and their log"

    def ready(self) -> None:
        from agents.dispatcher import register_source
        from agents.tools import register_tool
        from notifications import subscribers

        subscribers.connect()
        register_tool("notifications.tools.NotifyTool")
        register_source("notifications.sources.DueNotificationsSource")
        register_source("notifications.sources.LostNotificationsSource")
        checks.register(check_notifications)


def check_notifications(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Transport paths must import, and the service bases must be URLs, or sends fail later."""
    from urllib.parse import urlsplit

    from django.utils.module_loading import import_string

    from notifications.conf import setting
    from notifications.transports import transport_paths

    errors: list[checks.CheckMessage] = []
    extra = setting("GRADENT_NOTIFY_TRANSPORTS")
    if not isinstance(extra, dict):
        message = "GRADENT_NOTIFY_TRANSPORTS must be a dict of kind → dotted path"
        errors.append(checks.Error(message, id="notifications.E002"))
    else:
        for kind, path in transport_paths().items():
            try:
                transport = import_string(path)
            except ImportError as exc:
                errors.append(
                    checks.Error(f"transport {kind!r} ({path}) cannot be imported: {exc}", id="notifications.E001")
                )
                continue
            if not hasattr(transport, "send") or not hasattr(transport, "ConfigSerializer"):
                errors.append(checks.Error(f"transport {kind!r} ({path}) is not a Transport", id="notifications.E001"))
    for name in ("GRADENT_NOTIFY_DISCORD_BASE", "GRADENT_NOTIFY_SLACK_BASE"):
        parts = urlsplit(str(setting(name)))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append(checks.Error(f"{name} must be an http(s) URL", id="notifications.E003"))
    try:
        ok = float(setting("GRADENT_NOTIFY_TIMEOUT")) > 0 and int(setting("GRADENT_NOTIFY_MAX_ATTEMPTS")) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        errors.append(
            checks.Error(
                "GRADENT_NOTIFY_TIMEOUT must be positive and GRADENT_NOTIFY_MAX_ATTEMPTS at least 1",
                id="notifications.E004",
            )
        )
    return errors
