"""The proactive app's dispatcher sources: due schedules and due monitor checks."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import F, Q

from agents.dispatcher import Source, TickResult, skip_locked_supported
from gradent.lib.bulkinsert import datetime_param
from proactive.models import Monitor, Schedule
from proactive.services import PLAN_FIELDS, SimpleFire, plan_fire

logger = logging.getLogger(__name__)


class ScheduleSource(Source):
    """Fires due schedules in batches: each batch is one short transaction that claims up
    to `batch` due schedules (SKIP LOCKED where the database has it, so several
    dispatchers share the work), starts their runs with one start_runs call and advances
    them with one executemany.

    Plans are made ahead: a tick up to `lead` before the next fire instant loads the
    schedules due by then and plans their fires (next instant, input, slot key), so that
    at the instant a batch only claims, decides and writes. A plan is used only if the
    schedule's row is unchanged (`updated`, `next_fire_at`); else the schedule is planned
    again from the claimed row.

    A schedule with more than its on-time slot (the dispatcher was down: misfire policy,
    catch-up) or whose timing raises is fired on its own, in its own transaction, by
    schedule_fire_due; one that raises there is disabled with its error and never blocks
    the others. A database conflict (deadlock, lock timeout) is not a schedule's fault
    and is retried next tick. The unique slot key on Run makes a slot fire at most once
    even if two dispatchers race."""

    name = "schedules"
    batch = 1000
    batches_per_tick = 50
    lead = timedelta(seconds=1)
    plans_kept = 20_000  # ~1 KB each, freed once fired; beyond this, planned at the instant

    def __init__(self):
        self._plans: dict[int, SimpleFire] = {}
        self._planned_until: datetime | None = None

    def tick(self, now: datetime) -> TickResult:
        # A plain read first: on SQLite every transaction takes the write lock at BEGIN,
        # and most ticks have nothing due.
        if not Schedule.objects.due(now).exists():
            upcoming = self._upcoming()
            if upcoming is None:
                return TickResult()
            if upcoming - now > self.lead:
                return TickResult(next_due=upcoming - self.lead)
            self._plan_ahead(now)
            return TickResult(next_due=upcoming)
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
                self._forget_stale(now)
                return TickResult(done=done, next_due=self._upcoming())
        return TickResult(done=done, next_due=now, more=True)

    def _plan_ahead(self, now: datetime) -> None:
        """Plan the fires due by now + lead that are not planned yet (reads only)."""
        until = now + self.lead
        if self._planned_until is not None and self._planned_until >= until:
            return
        due = Schedule.objects.filter(enabled=True, next_fire_at__lte=until)
        if self._planned_until is not None:
            due = due.filter(next_fire_at__gt=self._planned_until)
        room = self.plans_kept - len(self._plans)
        for schedule in due.order_by("next_fire_at", "id").only(*PLAN_FIELDS)[: max(0, room)]:
            plan = plan_fire(schedule)
            if plan is not None:
                self._plans[schedule.pk] = plan
        self._planned_until = until

    def _forget_stale(self, now: datetime) -> None:
        if self._plans:
            self._plans = {pk: plan for pk, plan in self._plans.items() if plan.slot > now}
        if not self._plans:
            self._planned_until = None

    def _claim(self, now: datetime):
        due = Schedule.objects.due(now).order_by("next_fire_at", "id")
        if skip_locked_supported():
            due = due.select_for_update(skip_locked=True, of=("self",))
        return due

    def _fire_batch(self, now: datetime) -> tuple[int, int, list[int]]:
        """Fire the batch's schedules whose one due slot is on time, together. Returns
        (runs started, schedules claimed, ids to fire one by one)."""
        with transaction.atomic():
            claimed = list(self._claim(now).values_list("id", "next_fire_at", "updated")[: self.batch])
            plans, unplanned, one_by_one = [], [], []
            for pk, next_fire_at, updated in claimed:
                plan = self._plans.pop(pk, None)
                if plan is None or plan.slot != next_fire_at or plan.updated != updated:
                    unplanned.append(pk)  # not planned ahead, or changed since
                elif plan.fits(now):
                    plans.append(plan)
                else:
                    one_by_one.append(pk)
            if unplanned:
                for schedule in Schedule.objects.filter(pk__in=unplanned).only(*PLAN_FIELDS):
                    plan = plan_fire(schedule)
                    if plan is not None and plan.fits(now):
                        plans.append(plan)
                    else:
                        one_by_one.append(schedule.pk)
            fired = 0
            if plans:
                try:
                    with transaction.atomic():
                        fired = _fire_plans(plans, now)
                except OperationalError:
                    raise
                except Exception:
                    logger.exception("a batch of %s schedules failed; firing them one by one", len(plans))
                    one_by_one.extend(plan.schedule_id for plan in plans)
        return fired, len(claimed), one_by_one

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
    adapt = datetime_param(connection)
    with connection.cursor() as cursor:
        cursor.executemany(
            'UPDATE "proactive_schedule" SET last_fire_at = %s, last_run_id = %s, next_fire_at = %s, '
            "enabled = %s, updated = %s WHERE id = %s",
            [
                (adapt(plan.slot), run.pk, adapt(plan.next_fire_at), plan.enabled, adapt(now), plan.schedule_id)
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
