"""Writes of schedules: validation and the next fire, pause / resume, run now, and the
dispatcher's fires (a batch of on-time ones, or one schedule's catch-up of missed slots)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from agents.models import Agent, Run, RunSource
from agents.services import RunRequest, record_missed_run, start_run, start_runs
from proactive import selectors, timing
from proactive.models import Schedule
from proactive.timing import Timing

CATCHUP_SCAN_LIMIT = 1000


def schedule_validate(schedule: Schedule) -> None:
    """Raise timing.ScheduleError naming the field when the schedule cannot fire."""
    timing.validate_timezone(schedule.timezone)
    if schedule.kind == Schedule.Kind.CRON:
        schedule.cron_expression = timing.validate_cron(schedule.cron_expression)
    elif schedule.kind == Schedule.Kind.INTERVAL:
        if not schedule.interval_seconds:
            raise timing.ScheduleError("An interval schedule needs interval_seconds.", field="interval_seconds")
    elif schedule.kind == Schedule.Kind.ONCE:
        if not schedule.run_at:
            raise timing.ScheduleError("A one-off schedule needs run_at.", field="run_at")
    if schedule.start_at and schedule.end_at and schedule.end_at <= schedule.start_at:
        raise timing.ScheduleError("The end must be after the start.", field="end_at")


def schedule_compute_next(schedule: Schedule, *, after: datetime) -> datetime | None:
    schedule_timing = Timing.from_schedule(schedule)
    if schedule_timing.anchor is None:
        schedule_timing = replace(schedule_timing, anchor=after)
    return timing.next_fire(schedule_timing, after=after)


def schedule_save(schedule: Schedule, *, now: datetime | None = None) -> Schedule:
    """Validate, compute the next fire from now, save."""
    now = now or timezone.now()
    schedule_validate(schedule)
    if schedule.kind == Schedule.Kind.INTERVAL and schedule.anchor is None:
        schedule.anchor = schedule.start_at or now
    schedule.next_fire_at = schedule_compute_next(schedule, after=now) if schedule.enabled else None
    schedule.error = ""
    schedule.save()
    return schedule


def schedule_pause(schedule: Schedule) -> Schedule:
    schedule.enabled = False
    schedule.next_fire_at = None
    schedule.save(update_fields=["enabled", "next_fire_at", "updated"])
    return schedule


def schedule_resume(schedule: Schedule, *, now: datetime | None = None) -> Schedule:
    """Resume from now on: the fires of the paused period are not owed (they were paused,
    not missed)."""
    schedule.enabled = True
    return schedule_save(schedule, now=now)


def _schedule_input(schedule: Schedule, **extra) -> dict:
    data = dict(schedule.input or {})
    if schedule.task_description:
        data["task"] = schedule.task_description
    data.update(extra)
    return data


def schedule_run_now(schedule: Schedule) -> Run:
    return start_run(
        schedule.agent,
        source=RunSource.SCHEDULE,
        source_ref=schedule.source_ref,
        input=_schedule_input(schedule),
        overlap_policy=schedule.overlap_policy or None,
    )


def _fire_slot(schedule: Schedule, slot: datetime, *, extra_input: dict | None = None) -> Run:
    not_before = None
    if schedule.jitter_seconds:
        not_before = Timing.from_schedule(schedule).jittered(slot, seed=schedule.source_ref)
    return start_run(
        schedule.agent,
        source=RunSource.SCHEDULE,
        source_ref=schedule.source_ref,
        input=_schedule_input(schedule, **(extra_input or {})),
        scheduled_for=slot,
        slot_key=schedule.slot_key(slot),
        not_before=not_before,
        overlap_policy=schedule.overlap_policy or None,
    )


@dataclass
class SimpleFire:
    """A schedule's due fire when it is on time and alone (no missed slots): what a batch
    needs to fire it together with others."""

    schedule: Schedule
    slot: datetime
    next_fire_at: datetime | None
    request: RunRequest

    def fits(self, now: datetime) -> bool:
        """True when, at `now`, the slot is this schedule's only due fire and on time;
        else schedule_fire_due decides (missed slots, catch-up)."""
        late = (now - self.slot).total_seconds() > settings.GRADENT_FIRE_LATE_SECONDS
        return self.slot <= now and not late and (self.next_fire_at is None or self.next_fire_at > now)


def schedule_plan_fire(schedule: Schedule) -> SimpleFire | None:
    """The schedule's next fire as a batch fires it, or None when its timing raises (then
    schedule_fire_due meets the error and disables it)."""
    slot = schedule.next_fire_at
    if slot is None:
        return None
    schedule_timing = Timing.from_schedule(schedule)
    try:
        following = timing.next_fire_shared(schedule_timing, after=slot)
    except Exception:
        return None
    not_before = None
    if schedule.jitter_seconds:
        not_before = schedule_timing.jittered(slot, seed=schedule.source_ref)
    return SimpleFire(
        schedule=schedule,
        slot=slot,
        next_fire_at=following,
        request=RunRequest(
            schedule.agent_id,
            source=RunSource.SCHEDULE,
            source_ref=schedule.source_ref,
            input=_schedule_input(schedule),
            scheduled_for=slot,
            slot_key=schedule.slot_key(slot),
            not_before=not_before,
            overlap_policy=schedule.overlap_policy or None,
        ),
    )


def schedule_fire_batch(fires: list[SimpleFire], *, now: datetime) -> int:
    """Start the fires' runs with one start_runs call and advance their schedules: one
    UPDATE per group of schedules that share the slot and the next fire (thousands of
    "0 9 * * *" in one zone are one group), each schedule's run found by its slot key.
    (`bulk_update` builds a CASE per row and field: 15 s for 10,000 schedules.) Returns
    how many runs were started (or recorded as skipped)."""
    runs = start_runs([fire.request for fire in fires])
    groups: dict[tuple, list[int]] = defaultdict(list)
    for fire in fires:
        ends = fire.next_fire_at is None and fire.schedule.kind == Schedule.Kind.ONCE
        groups[(fire.slot, fire.next_fire_at, not ends)].append(fire.schedule.pk)
    for (slot, next_fire_at, enabled), ids in groups.items():
        slot_key = Concat(
            Value("schedule:"), Cast(OuterRef("pk"), CharField()), Value(f":{slot.astimezone(UTC).isoformat()}")
        )
        Schedule.objects.filter(pk__in=ids).update(
            last_fire_at=slot,
            last_run_id=Subquery(Run.objects.filter(slot_key=slot_key).values("pk")[:1]),
            next_fire_at=next_fire_at,
            enabled=enabled,
            updated=now,
        )
    return len(runs)


# What a batch fire reads of a schedule.
FIRE_FIELDS = (
    "agent_id", "kind", "timezone", "cron_expression", "interval_seconds", "anchor", "created", "run_at",
    "start_at", "end_at", "next_fire_at", "jitter_seconds", "input", "task_description", "overlap_policy", "updated",
)  # fmt: skip


def schedule_fire_due(schedule: Schedule, *, now: datetime) -> list[Run]:
    """Fire what is due for one schedule and advance it. Fires later than
    GRADENT_FIRE_LATE_SECONDS are misfires (the dispatcher was down); the misfire policy
    says what happens to them, and one `missed` run summarises each gap."""
    slot = schedule.next_fire_at
    if slot is None or slot > now:
        return []
    schedule_timing = Timing.from_schedule(schedule)
    slots = [slot, *timing.fires_between(schedule_timing, after=slot, until=now, limit=CATCHUP_SCAN_LIMIT)]
    late_limit = timedelta(seconds=settings.GRADENT_FIRE_LATE_SECONDS)
    on_time = [s for s in slots if now - s <= late_limit]
    missed = [s for s in slots if now - s > late_limit]
    runs: list[Run] = []
    fired_missed: list[datetime] = []
    if missed:
        policy = schedule.misfire_policy
        if policy == Schedule.Misfire.RUN_ONCE and not on_time:
            fired_missed = missed[-1:]
            runs.append(_fire_slot(schedule, missed[-1], extra_input={"missed_fires": len(missed) - 1}))
        elif policy == Schedule.Misfire.RUN_ALL:
            grace = timedelta(seconds=schedule.misfire_grace_seconds)
            fired_missed = [s for s in missed if now - s <= grace][-schedule.max_catchup :]
            runs.extend(_fire_slot(schedule, s) for s in fired_missed)
        unfired = [s for s in missed if s not in fired_missed]
        if unfired:
            more = "at least " if len(slots) > CATCHUP_SCAN_LIMIT else ""
            record_missed_run(
                schedule.agent,
                source=RunSource.SCHEDULE,
                source_ref=schedule.source_ref,
                reason=(
                    f"{more}{len(unfired)} fire(s) from {unfired[0]:%Y-%m-%d %H:%M:%S} to "
                    f"{unfired[-1]:%Y-%m-%d %H:%M:%S} UTC were more than {settings.GRADENT_FIRE_LATE_SECONDS} s "
                    "late (the dispatcher was down or behind); "
                    f"misfire policy '{policy}'" + (f" ran {len(fired_missed)} of them." if fired_missed else ".")
                ),
                scheduled_for=unfired[-1],
                slot_key=f"{schedule.slot_key(unfired[-1])}:missed",
                input={"missed_fires": len(unfired), "first": unfired[0].isoformat(), "last": unfired[-1].isoformat()},
            )
    runs.extend(_fire_slot(schedule, s) for s in on_time)
    schedule.last_fire_at = slots[-1]
    if runs:
        schedule.last_run = runs[-1]
    schedule.next_fire_at = schedule_compute_next(schedule, after=max(now, slots[-1]))
    if schedule.next_fire_at is None and schedule.kind == Schedule.Kind.ONCE:
        schedule.enabled = False
    schedule.save(update_fields=["last_fire_at", "last_run", "next_fire_at", "enabled", "updated"])
    return runs


def schedule_disable_with_error(schedule_id: int, error: str) -> None:
    Schedule.objects.filter(pk=schedule_id).update(enabled=False, next_fire_at=None, error=error[:2000])


def agent_sync_schedule(agent: Agent) -> Schedule | None:
    """The scheduled-agents design: Agent.schedule (cron) + run_on_schedule create or update
    the agent's own Schedule (in the server's TIME_ZONE), or pause it."""
    schedule = selectors.agent_schedule(agent)
    if not agent.schedule or not agent.run_on_schedule:
        if schedule is not None and schedule.enabled:
            schedule_pause(schedule)
        return schedule
    if schedule is None:
        schedule = Schedule(
            workspace_id=agent.workspace_id,
            agent=agent,
            is_agent_schedule=True,
            name=f"{agent.name} (agent schedule)",
            timezone=settings.TIME_ZONE,
        )
    schedule.kind = Schedule.Kind.CRON
    schedule.cron_expression = agent.schedule
    schedule.enabled = True
    return schedule_save(schedule)
