"""The proactive app's dispatcher sources: due schedules and due monitor checks."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import F, Q

from agents.dispatcher import Source, TickResult, register_source, skip_locked_supported
from proactive.models import Monitor, Schedule

logger = logging.getLogger(__name__)


# What plan_simple_fire reads; a batch loads only these.
PLAN_FIELDS = (
    "agent_id", "kind", "timezone", "cron_expression", "interval_seconds", "anchor", "created", "run_at",
    "start_at", "end_at", "next_fire_at", "jitter_seconds", "input", "task_description", "overlap_policy",
)  # fmt: skip


class ScheduleSource(Source):
    """Fires due schedules in batches: each batch is one short transaction that claims up
    to `batch` due schedules (SKIP LOCKED where the database has it, so several
    dispatchers share the work), starts their runs with one start_runs call and advances
    them with one executemany. A schedule with more than its on-time slot (the
    dispatcher was down: misfire policy, catch-up) or whose timing raises is left out of
    the batch and fired on its own, in its own transaction, by schedule_fire_due; one
    that raises there is disabled with its error and never blocks the others. A database
    conflict (deadlock, lock timeout) is not a schedule's fault and is retried next tick.
    The unique slot key on Run makes a slot fire at most once even if two dispatchers
    race."""

    name = "schedules"
    batch = 1000
    batches_per_tick = 50

    def tick(self, now: datetime) -> TickResult:
        # A plain read first: on SQLite every transaction takes the write lock at BEGIN,
        # and most ticks have nothing due.
        if not Schedule.objects.due(now).exists():
            return TickResult(next_due=self._upcoming())
        done = 0
        for _ in range(self.batches_per_tick):
            try:
                fired, claimed, one_by_one = self._fire_batch(now)
                done += fired
                for schedule_id in one_by_one:
                    done += self._fire_one(schedule_id, now)
            except OperationalError:
                logger.warning("schedule source: database conflict; retrying next tick", exc_info=True)
                return TickResult(done=done, next_due=now)
            if claimed < self.batch:
                return TickResult(done=done, next_due=self._upcoming())
        return TickResult(done=done, next_due=now)

    def _claim(self, now: datetime):
        due = Schedule.objects.due(now).order_by("next_fire_at", "id")
        if skip_locked_supported():
            due = due.select_for_update(skip_locked=True, of=("self",))
        return due

    def _fire_batch(self, now: datetime) -> tuple[int, int, list[int]]:
        """Fire the batch's simple schedules (one on-time slot each) together. Returns
        (runs started, schedules claimed, ids to fire one by one)."""
        from proactive.services import plan_simple_fire

        with transaction.atomic():
            schedules = list(self._claim(now).only(*PLAN_FIELDS)[: self.batch])
            plans, one_by_one = [], []
            for schedule in schedules:
                plan = plan_simple_fire(schedule, now=now)
                (plans if plan else one_by_one).append(plan or schedule.pk)
            if plans:
                try:
                    with transaction.atomic():
                        fired = _fire_plans(plans, now)
                except OperationalError:
                    raise
                except Exception:
                    logger.exception("a batch of %s schedules failed; firing them one by one", len(plans))
                    one_by_one.extend(plan.schedule.pk for plan in plans)
                    fired = 0
            else:
                fired = 0
        return fired, len(schedules), one_by_one

    def _fire_one(self, schedule_id: int, now: datetime) -> int:
        from proactive.services import schedule_disable_with_error, schedule_fire_due

        with transaction.atomic():
            schedule = self._claim(now).filter(pk=schedule_id).select_related("agent", "agent__workspace").first()
            if schedule is None:
                return 0  # fired meanwhile by another dispatcher, or no longer due
            try:
                with transaction.atomic():
                    return len(schedule_fire_due(schedule, now=now))
            except OperationalError:
                raise
            except Exception as exc:
                logger.exception("schedule %s failed; disabling it", schedule.pk)
                schedule_disable_with_error(schedule.pk, f"{exc.__class__.__name__}: {exc}")
                return 0

    def _upcoming(self):
        return (
            Schedule.objects.filter(enabled=True, next_fire_at__isnull=False)
            .order_by("next_fire_at")
            .values_list("next_fire_at", flat=True)
            .first()
        )


def _fire_plans(plans, now: datetime) -> int:
    """Start the planned fires' runs in one batch and advance their schedules."""
    from agents.services import start_runs

    runs = start_runs([plan.request for plan in plans])
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.executemany(
            'UPDATE "proactive_schedule" SET last_fire_at = %s, last_run_id = %s, next_fire_at = %s, '
            "enabled = %s, updated = %s WHERE id = %s",
            [
                (
                    ops.adapt_datetimefield_value(plan.slot),
                    run.pk,
                    ops.adapt_datetimefield_value(plan.next_fire_at),
                    plan.enabled,
                    ops.adapt_datetimefield_value(now),
                    plan.schedule.pk,
                )
                for plan, run in zip(plans, runs, strict=True)
            ],
        )
    return len(runs)


class MonitorSource(Source):
    """Sends due monitor checks to the workers (probes do I/O). The claim moves
    next_check_at forward with a conditional update, so each check is sent once."""

    name = "monitors"
    batch = 200

    def tick(self, now: datetime) -> TickResult:
        from django_q.tasks import async_task

        done = 0
        # Monitors created without a next check are due now.
        due = (
            Monitor.objects.filter(enabled=True)
            .filter(Q(next_check_at__lte=now) | Q(next_check_at__isnull=True))
            .order_by(F("next_check_at").asc(nulls_first=True))
            .values_list("id", "next_check_at", "check_interval")[: self.batch]
        )
        for monitor_id, next_check_at, interval in due:
            claimed = Monitor.objects.filter(pk=monitor_id, next_check_at=next_check_at).update(
                next_check_at=now + timedelta(seconds=interval)
            )
            if claimed:
                try:
                    async_task("proactive.tasks.check_monitor", monitor_id, task_name=f"monitor-{monitor_id}")
                    done += 1
                except Exception:
                    logger.exception("could not enqueue the check of monitor %s", monitor_id)
                    Monitor.objects.filter(pk=monitor_id).update(next_check_at=next_check_at)
        upcoming = (
            Monitor.objects.filter(enabled=True, next_check_at__isnull=False)
            .order_by("next_check_at")
            .values_list("next_check_at", flat=True)
            .first()
        )
        return TickResult(done=done, next_due=upcoming)


class WebhookDeliverySource(Source):
    """Starts the runs of accepted webhook deliveries, which were answered as soon as
    they were stored: up to `batch` a tick, in one start_runs call."""

    name = "webhook_deliveries"
    batch = 500
    # Under a stream of deliveries, gather a quarter second's worth per batch: each batch
    # is a write transaction, and on SQLite the web process waits for every one of them.
    every = timedelta(seconds=0.25)

    def __init__(self):
        self.last: datetime | None = None

    def tick(self, now: datetime) -> TickResult:
        from proactive.models import WebhookDelivery
        from proactive.services import webhook_start_pending

        if self.last is not None and self.last <= now < self.last + self.every:
            return TickResult(next_due=self.last + self.every)
        if not WebhookDelivery.objects.filter(pending=True).exists():
            return TickResult()
        self.last = now
        done = webhook_start_pending(limit=self.batch)
        # While deliveries keep coming, look again after the gathering interval.
        return TickResult(done=done, next_due=now if done >= self.batch else now + self.every)


class SuggestionSource(Source):
    """Mines every workspace's history for suggestions, once per GRADENT_MINING_INTERVAL."""

    name = "suggestions"

    def tick(self, now: datetime) -> TickResult:
        from django.conf import settings
        from django.core.cache import cache

        from proactive.mining import mine_suggestions
        from workspaces.models import Workspace

        interval = settings.GRADENT_MINING_INTERVAL
        if not interval or not cache.add("proactive:mining", now.isoformat(), timeout=interval):
            return TickResult()
        found = 0
        for workspace in Workspace.objects.all().iterator():
            found += len(mine_suggestions(workspace, now=now))
        return TickResult(done=found)


register_source(ScheduleSource())
register_source(MonitorSource())
register_source(WebhookDeliverySource())
register_source(SuggestionSource())
