from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications: channels and their log"

    def ready(self) -> None:
        from agents.dispatcher import register_source
        from agents.tools import register_tool
        from notifications import hooks, subscribers

        subscribers.connect()
        hooks.connect()
        register_tool("notifications.tools.NotifyTool")
        register_source("notifications.sources.DueNotificationsSource")
        register_source("notifications.sources.LostNotificationsSource")
        checks.register(check_notifications)


def check_notifications(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Transport paths must import, and the service bases must be URLs, or sends fail later."""
    from urllib.parse import urlsplit

    from notifications.conf import setting
    from notifications.transports import TRANSPORTS

    errors: list[checks.CheckMessage] = TRANSPORTS.check()
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
