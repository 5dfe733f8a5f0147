"""Times for people, in the reader's zone (activated per request by
workspaces.middleware.UserTimezoneMiddleware), with the UTC instant on hover.

    {{ run.created|when }}           2026-12-04 09:47, title "2026-12-04 08:47:05 UTC"
    {{ run.started_at|when:"s" }}    2026-12-04 09:47:05
    {{ run.created|ago }}            3 min ago, title "2026-12-04 09:47 · 2026-12-04 08:47:05 UTC"
    {% zone_label %}                 Europe/Paris (CET)

Loaded as a builtin (settings.TEMPLATES), so no template needs `{% load times %}`.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from gradent.lib import timefmt

register = template.Library()


def _instant(value) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


@register.filter
def when(value, arg: str = ""):
    """An absolute time in the reader's zone; "s" adds seconds. Anything else is shown as it is."""
    instant = _instant(value)
    if instant is None:
        return "—" if value in (None, "") else value
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        instant.isoformat(),
        timefmt.utc(instant),
        timefmt.local(instant, timezone.get_current_timezone(), seconds=arg == "s"),
    )


@register.filter
def ago(value):
    """A relative time ("3 min ago", "in 2 h", "5 days ago") for lists."""
    instant = _instant(value)
    if instant is None:
        return "—" if value in (None, "") else value
    return format_html(
        '<time datetime="{}" title="{} · {}">{}</time>',
        instant.isoformat(),
        timefmt.local(instant, timezone.get_current_timezone()),
        timefmt.utc(instant),
        timefmt.relative(instant, timezone.localtime(timezone.now())),
    )


@register.filter
def utc(value) -> str:
    """Just the UTC instant as text, for a title beside a time shown in another zone."""
    instant = _instant(value)
    return timefmt.utc(instant) if instant is not None else ""


@register.simple_tag
def zone_label() -> str:
    return timefmt.zone_label(timezone.get_current_timezone(), timezone.now())
