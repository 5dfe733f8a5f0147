"""The notifications app's settings, with their defaults.

Read at call time (so tests can override them) through :func:`setting`; each may be set in
``gradent/settings.py`` or the environment-driven settings of a deployment.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Where Discord and Slack webhook requests go. The stored URL must be a real Discord /
    # Slack webhook URL; only its path is sent to this base, so a test (or a relay proxy)
    # can stand in for the service while the production code path runs unchanged.
    "GRADENT_NOTIFY_DISCORD_BASE": "https://discord.com",
    "GRADENT_NOTIFY_SLACK_BASE": "https://hooks.slack.com",
    # Total seconds one send may take (connect, redirects, headers and body): a peer that
    # hangs cannot hold a worker longer than this.
    "GRADENT_NOTIFY_TIMEOUT": 15.0,
    # Attempts per notification, the first included.
    "GRADENT_NOTIFY_MAX_ATTEMPTS": 5,
    # Exponential backoff with full jitter between attempts, never sooner than a peer's
    # Retry-After, which is honoured up to GRADENT_NOTIFY_MAX_RETRY_AFTER seconds.
    "GRADENT_NOTIFY_RETRY_BASE_SECONDS": 5.0,
    "GRADENT_NOTIFY_RETRY_MAX_SECONDS": 900.0,
    "GRADENT_NOTIFY_MAX_RETRY_AFTER": 86400.0,
    # The opt-in tool-call tracker: at most this many tool_called notifications per channel
    # per minute; the rest are dropped (a run may call hundreds of tools).
    "GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE": 6,
    # Users' own transports, added to the built-ins: dotted paths (or {"kind": "dotted.path"}).
    "GRADENT_NOTIFY_TRANSPORTS": {},
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
