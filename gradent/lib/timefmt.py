"""One way to write an instant for people, everywhere: "2026-12-04 09:47" in the reader's
zone, the UTC instant beside it for a hover, and "3 minutes ago" in lists.

Imports no app: the template filters (gradent/templatetags/times.py), the settings' format
module and the charts all read their formats here."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Django date-format strings (the template `date` filter and gradent/formats/en use them).
DATE = "Y-m-d"
MINUTES = "Y-m-d H:i"
SECONDS = "Y-m-d H:i:s"
# The same as strftime patterns, for Python callers.
STRF_MINUTES = "%Y-%m-%d %H:%M"
STRF_SECONDS = "%Y-%m-%d %H:%M:%S"


def zone_or_none(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None for an empty or unknown name (never raises)."""
    if not name or name not in zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_ZONES: frozenset[str] | None = None


def zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def local(value: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """`value` in `zone`, as "2026-12-04 09:47" (or with ":05" seconds)."""
    return value.astimezone(zone).strftime(STRF_SECONDS if seconds else STRF_MINUTES)


def utc(value: datetime) -> str:
    """The UTC instant, as "2026-12-04 08:47:05 UTC"."""
    return value.astimezone(UTC).strftime(STRF_SECONDS) + " UTC"


def zone_label(zone: tzinfo, at: datetime) -> str:
    """ "Europe/Paris (CET)" — the zone's name and its abbreviation at `at`."""
    name = getattr(zone, "key", None) or str(zone)
    abbreviation = at.astimezone(zone).tzname() or ""
    if not abbreviation or abbreviation == name:
        return name
    return f"{name} ({abbreviation})"


def relative(value: datetime, now: datetime) -> str:
    """Short and rounded, for lists: "just now", "12 min ago", "in 3 h", "5 days ago"; past two
    weeks, the date."""
    seconds = (now - value).total_seconds()
    past = seconds >= 0
    size = abs(seconds)
    if size < 45:
        return "just now"
    if size < 59.5 * 60:
        amount = f"{max(1, round(size / 60))} min"
    elif size < 36 * 3600:
        amount = f"{round(size / 3600)} h"
    elif size < 14 * 86400:
        amount = f"{round(size / 86400)} days"
    else:
        return value.astimezone(now.tzinfo).strftime("%Y-%m-%d") if now.tzinfo else value.strftime("%Y-%m-%d")
    return f"{amount} ago" if past else f"in {amount}"
