"""Shared by the proactive pages: limits, how schedules are described and shown in their
zone, the run-started message and the delete confirmation."""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

from django.contrib import messages
from django.http import HttpRequest

from agents.models import Run, RunStatus
from proactive import timing
from proactive.models import Schedule

PREVIEW_COUNT = 10
RUNS_SHOWN = 50
CHECKS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 50
BODY_SHOWN = 65536
UPCOMING_HOURS = 24
UPCOMING_LIMIT = 20
SECRET_SESSION_KEY = "proactive:webhook-secret:{pk}"  # noqa: S105 (a session key name)


def zone_or_utc(name: str) -> ZoneInfo:
    try:
        return timing.validate_timezone(name)
    except timing.ScheduleError:
        return ZoneInfo("UTC")


@functools.cache
def timezone_names() -> list[str]:
    """For the timezone field's suggestions (the field itself accepts what timing accepts)."""
    return sorted(available_timezones() - timing.NOT_ZONES)


def in_zone(instant: datetime | None, zone_name: str) -> str:
    """An instant as wall time in a schedule's zone, with the zone's abbreviation."""
    if instant is None:
        return ""
    local = instant.astimezone(zone_or_utc(zone_name))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if local.second else "%Y-%m-%d %H:%M %Z")


def every_text(seconds: int | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    return "Every second" if seconds == 1 else f"Every {seconds} seconds"


def describe_schedule(schedule_timing: timing.Timing) -> str:
    """One line saying when a schedule fires: cron in words, "Every 5 minutes", "Once, at …"."""
    kind, cron = schedule_timing.kind, schedule_timing.cron
    if kind == Schedule.Kind.CRON and cron:
        try:
            return timing.describe_cron(cron)
        except timing.ScheduleError:
            return ""
    if kind == Schedule.Kind.INTERVAL:
        return every_text(schedule_timing.interval_seconds)
    if kind == Schedule.Kind.ONCE and schedule_timing.run_at:
        return f"Once, at {in_zone(schedule_timing.run_at, schedule_timing.tz)}"
    return ""


def describe(schedule: Schedule) -> str:
    return describe_schedule(timing.Timing.from_schedule(schedule))


def schedule_title(schedule: Schedule) -> str:
    """Its name, or what it does and for whom ("Every 10 minutes · Reporter")."""
    if schedule.name:
        return schedule.name
    return f"{describe(schedule) or schedule.get_kind_display()} · {schedule.agent.name}"


def titled(schedule: Schedule) -> Schedule:
    schedule.title = schedule_title(schedule)
    return schedule


def started_message(request: HttpRequest, run: Run, what: str) -> None:
    if run.status == RunStatus.SKIPPED:
        messages.warning(request, f"Run #{run.pk} was skipped: {run.reason}")
    else:
        messages.success(request, f"Run #{run.pk} of {what} started.")


CONFIRM_DELETE_TEMPLATE = "proactive/confirm_delete.html"


def confirm_context(*, name: str, kind: str, action: str, back: str, notes: list[str]) -> dict:
    """What ``proactive/confirm_delete.html`` shows: the object, where to post, where to go back."""
    return {"name": name, "kind": kind, "action_url": action, "cancel_url": back, "notes": notes}
