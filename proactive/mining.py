"""Suggestions mined from history.

- An agent run by hand at least 3 times, on different days, at about the same local time
  → suggest a daily (or weekday) cron schedule at that time.
- A monitor that flipped 4+ times in 24 hours → suggest requiring more consecutive checks.
- An interval schedule whose recent fires were mostly skipped for overlap → suggest
  doubling the interval.

A finding has a fingerprint; once suggested (and accepted or dismissed) it is never
suggested again.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Run, RunSource, RunStatus
from agents.skips import OVERLAP, skip_code_for
from proactive.models import Monitor, Schedule, Suggestion
from workspaces.models import Workspace

MANUAL_SOURCES = (RunSource.MANUAL, RunSource.API)
WINDOW_MINUTES = 30
MIN_MANUAL_RUNS = 3
FLAPS_PER_DAY = 4


def _manual_time_patterns(workspace: Workspace, now) -> list[dict]:
    tz = ZoneInfo(settings.TIME_ZONE)
    since = now - timedelta(days=30)
    runs = (
        Run.objects.filter(workspace=workspace, source__in=MANUAL_SOURCES, created__gte=since)
        .exclude(status=RunStatus.SKIPPED)
        .values_list("agent_id", "agent__name", "id", "created")
    )
    by_agent: dict[int, list] = {}
    for agent_id, agent_name, run_id, created in runs:
        local = created.astimezone(tz)
        by_agent.setdefault(agent_id, []).append((local.hour * 60 + local.minute, local, run_id, agent_name))
    patterns = []
    for agent_id, items in by_agent.items():
        items.sort(key=lambda item: item[0])
        best: list = []
        start = 0
        for end in range(len(items)):
            while items[end][0] - items[start][0] > 2 * WINDOW_MINUTES:
                start += 1
            window = items[start : end + 1]
            if len(window) > len(best):
                best = window
        days = {local.date() for _, local, _, _ in best}
        if len(best) < MIN_MANUAL_RUNS or len(days) < MIN_MANUAL_RUNS:
            continue
        minute_of_day = int(statistics.median(m for m, _, _, _ in best))
        minute_of_day = round(minute_of_day / 5) * 5 % (24 * 60)
        hour, minute = divmod(minute_of_day, 60)
        weekdays_only = all(local.weekday() < 5 for _, local, _, _ in best)
        cron = f"{minute} {hour} * * {'1-5' if weekdays_only else '*'}"
        patterns.append(
            {
                "kind": Suggestion.Kind.SCHEDULE,
                "agent_id": agent_id,
                "title": f"Schedule '{best[0][3]}' at {hour:02d}:{minute:02d}"
                + (" on weekdays" if weekdays_only else " daily"),
                "detail": f"It was run by hand {len(best)} times on {len(days)} days at about this time "
                f"({settings.TIME_ZONE}).",
                "proposal": {"kind": "cron", "cron_expression": cron, "timezone": settings.TIME_ZONE},
                "evidence": {"runs": [run_id for _, _, run_id, _ in best]},
                "fingerprint": f"schedule:agent:{agent_id}:{cron}",
            }
        )
    return patterns


def _flapping_monitors(workspace: Workspace, now) -> list[dict]:
    patterns = []
    for monitor in Monitor.objects.filter(workspace=workspace, enabled=True):
        flips = list(
            monitor.checks.filter(flipped=True, checked_at__gte=now - timedelta(hours=24)).values_list("id", flat=True)
        )
        if len(flips) < FLAPS_PER_DAY:
            continue
        after = max(3, monitor.trigger_after + 2)
        patterns.append(
            {
                "kind": Suggestion.Kind.MONITOR_THRESHOLD,
                "monitor_id": monitor.pk,
                "agent_id": monitor.agent_id,
                "title": f"Calm monitor '{monitor.name}': trigger after {after} consecutive checks",
                "detail": f"It flipped {len(flips)} times in the last 24 hours.",
                "proposal": {"trigger_after": after, "clear_after": max(monitor.clear_after, 2)},
                "evidence": {"flipping_checks": flips},
                "fingerprint": f"monitor:{monitor.pk}:trigger_after:{after}",
            }
        )
    return patterns


def _overlapping_schedules(workspace: Workspace, now) -> list[dict]:
    patterns = []
    for schedule in Schedule.objects.filter(workspace=workspace, enabled=True, kind=Schedule.Kind.INTERVAL):
        recent = list(
            Run.objects.filter(source=RunSource.SCHEDULE, source_ref=schedule.source_ref)
            .order_by("-id")
            .values_list("id", "status", "reason")[:20]
        )
        skipped = [
            run_id
            for run_id, status, reason in recent
            if status == RunStatus.SKIPPED and skip_code_for(reason) in OVERLAP
        ]
        if len(recent) < 5 or len(skipped) * 2 < len(recent):
            continue
        longer = schedule.interval_seconds * 2
        patterns.append(
            {
                "kind": Suggestion.Kind.LONGER_INTERVAL,
                "schedule_id": schedule.pk,
                "agent_id": schedule.agent_id,
                "title": f"Run '{schedule}' every {longer} s instead of {schedule.interval_seconds} s",
                "detail": f"{len(skipped)} of its last {len(recent)} fires were skipped: the previous run was "
                "still going.",
                "proposal": {"interval_seconds": longer},
                "evidence": {"skipped_runs": skipped},
                "fingerprint": f"schedule:{schedule.pk}:interval:{longer}",
            }
        )
    return patterns


def find_patterns(workspace: Workspace, *, now=None) -> list[dict]:
    now = now or timezone.now()
    found = [*_manual_time_patterns(workspace, now), *_flapping_monitors(workspace, now)]
    found += _overlapping_schedules(workspace, now)
    return [{**pattern, "workspace_id": workspace.pk} for pattern in found]


def mine_suggestions(workspace: Workspace, *, now=None) -> list[Suggestion]:
    """Turn new patterns into open suggestions; known fingerprints are skipped."""
    created = []
    known = set(Suggestion.objects.filter(workspace=workspace).values_list("fingerprint", flat=True))
    for pattern in find_patterns(workspace, now=now):
        if pattern["fingerprint"] in known:
            continue
        fields = {k: v for k, v in pattern.items() if k != "workspace_id"}
        try:
            with transaction.atomic():
                created.append(Suggestion.objects.create(workspace=workspace, **fields))
        except IntegrityError:
            continue  # another miner got there first
    return created


@transaction.atomic
def suggestion_accept(suggestion: Suggestion) -> Suggestion:
    from proactive.services import schedule_save

    proposal = suggestion.proposal
    if suggestion.kind == Suggestion.Kind.SCHEDULE:
        schedule = Schedule(
            workspace_id=suggestion.workspace_id,
            agent_id=suggestion.agent_id,
            name="Suggested schedule",
            kind=Schedule.Kind.CRON,
            cron_expression=proposal["cron_expression"],
            timezone=proposal.get("timezone", "UTC"),
        )
        suggestion.schedule = schedule_save(schedule)
    elif suggestion.kind == Suggestion.Kind.MONITOR_THRESHOLD and suggestion.monitor:
        monitor = suggestion.monitor
        monitor.trigger_after = proposal["trigger_after"]
        monitor.clear_after = proposal.get("clear_after", monitor.clear_after)
        monitor.save(update_fields=["trigger_after", "clear_after", "updated"])
    elif suggestion.kind == Suggestion.Kind.LONGER_INTERVAL and suggestion.schedule:
        schedule = suggestion.schedule
        schedule.interval_seconds = proposal["interval_seconds"]
        schedule_save(schedule)
    suggestion.status, suggestion.decided_at = Suggestion.Status.ACCEPTED, timezone.now()
    suggestion.save(update_fields=["status", "decided_at", "schedule"])
    return suggestion
