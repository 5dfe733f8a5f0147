"""System checks of the project itself (apps check their own in their apps.py)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from gradent.lib import crypto, safehttp


@checks.register()
def check_private_urls_setting(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The global allow-list of private addresses became one per purpose (issue 9)."""
    if not getattr(settings, "GRADENT_ALLOW_PRIVATE_URLS", None):
        return []
    return [
        checks.Warning(
            "GRADENT_ALLOW_PRIVATE_URLS now only allows private addresses for model endpoints.",
            hint=(
                "Rename it GRADENT_ALLOW_PRIVATE_URLS_MODELS; agent tools, monitor probes and notification "
                "channels have their own lists: GRADENT_ALLOW_PRIVATE_URLS_TOOLS, _PROBES, _CHANNELS."
            ),
            id="gradent.W002",
        )
    ]


# What people write when they mean "yes": none of them names an address.
_YES_NO = frozenset({"1", "0", "true", "false", "yes", "no", "on", "off"})


@checks.register()
def check_private_url_lists(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """An allow-list of private addresses holds "*", CIDRs, IPs or host names; "1" or "true"
    allows nothing, which is not what whoever wrote it meant."""
    messages = []
    for purpose in safehttp.PURPOSES:
        name = safehttp.allow_setting(purpose)
        odd = [entry for entry in safehttp.allow_entries(purpose) if entry.lower() in _YES_NO]
        if odd:
            messages.append(
                checks.Warning(
                    f"{name} holds {', '.join(repr(entry) for entry in odd)}, which allows no address.",
                    hint=(
                        f'List what {purpose} may reach: "*" (any private address), CIDRs (192.168.1.0/24), '
                        "IPs (127.0.0.1) or host names (ollama.lan), comma-separated."
                    ),
                    id="gradent.W003",
                )
            )
    return messages


@checks.register(checks.Tags.database)
def check_secrets_readable(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check --database default`: every stored secret decrypts with the configured keys.

    Tagged `database`, so it runs only when asked (it reads every encrypted column).
    """
    if not databases:
        return []
    try:
        unreadable = crypto.unreadable_secrets()
    except DatabaseError:
        return []  # not migrated yet: nothing stored
    if not unreadable:
        return []
    sample = ", ".join(f"{label} {pk} {field}" for label, pk, field in unreadable[:10])
    more = f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
    return [
        checks.Error(
            f"{len(unreadable)} stored secret(s) cannot be decrypted: {sample}{more}.",
            hint=(
                "Add the key they were encrypted with to GRADENT_ENCRYPTION_OLD_KEYS (then run "
                "`manage.py rotate_encryption_key`), or enter those secrets again."
            ),
            id="gradent.E001",
        )
    ]
