"""The proactive app's dispatcher sources: due schedules, due monitor checks, the runs of
webhook deliveries, suggestions, and the deliveries' retention."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import OperationalError, transaction
from django.db.models import F, Q

from agents.dispatcher import Source, TickResult, skip_locked_supported
from proactive.models import Monitor, Schedule
from proactive.services import FIRE_FIELDS, SimpleFire, schedule_fire_batch, schedule_plan_fire

logger = logging.getLogger(__name__)


class ScheduleSource(Source):
    """Fires due schedules in batches: each batch is one short transaction that claims up
    to `batch` due schedules (SKIP LOCKED where the database has it, so several
    dispatchers share the work), starts their runs with one start_runs call and advances
    them with one bulk_update (proactive.services.schedule_fire_batch).

    A schedule with more than its on-time slot (the dispatcher was down: misfire policy,
    catch-up) or whose timing raises is fired on its own, in its own transaction, by
    schedule_fire_due; one that raises there is disabled with its error and never blocks
    the others. A database conflict (deadlock, lock timeout) is not a schedule's fault
    and is retried next tick. The unique slot key on Run makes a slot fire at most once
    even if two dispatchers race."""

    name = "schedules"
    batch = 1000
    batches_per_tick = 50
    # Fires this close are planned while the dispatcher waits for them: their schedules
    # loaded and their runs' requests built, so at the slot only the claim, the starts
    # and the advance are left. A plan is used only for a schedule unchanged since (the
    # same `updated`, which every save sets); any other is loaded again at the slot.
    plan_ahead = timedelta(seconds=2)

    def __init__(self):
        self._planned: dict[int, tuple[datetime, SimpleFire]] = {}
        self._planned_for: datetime | None = None

    def tick(self, now: datetime) -> TickResult:
        # A plain read first: on SQLite every transaction takes the write lock at BEGIN,
        # and most ticks have nothing due.
        if not Schedule.objects.due(now).exists():
            upcoming = self._upcoming()
            if upcoming is not None and upcoming - now <= self.plan_ahead:
                self._plan(upcoming)
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
                return TickResult(done=done, next_due=self._upcoming())
        return TickResult(done=done, next_due=now, more=True)

    def _claim(self, now: datetime):
        due = Schedule.objects.due(now).order_by("next_fire_at", "id")
        if skip_locked_supported():
            due = due.select_for_update(skip_locked=True, of=("self",))
        return due

    def _plan(self, slot: datetime) -> None:
        """Plan the fires due by `slot` (once per slot), as _fire_batch would at the slot."""
        if slot == self._planned_for:
            return
        self._planned_for, self._planned = slot, {}
        due = Schedule.objects.due(slot).order_by("next_fire_at", "id").only(*FIRE_FIELDS)
        for schedule in due[: self.batch * self.batches_per_tick].iterator(chunk_size=self.batch):
            fire = schedule_plan_fire(schedule)
            if fire is not None:
                self._planned[schedule.pk] = (schedule.updated, fire)

    def _fires(self, claimed: list[tuple[int, datetime]]) -> list[SimpleFire | int]:
        """The claimed schedules' fires, in claim order: planned ahead where the schedule
        is unchanged since, else planned now; a schedule's id where it cannot be planned."""
        fires: dict[int, SimpleFire | int] = {}
        for pk, updated in claimed:
            planned = self._planned.pop(pk, None)
            if planned is not None and planned[0] == updated:
                fires[pk] = planned[1]
        changed = [pk for pk, _ in claimed if pk not in fires]
        if changed:
            for schedule in Schedule.objects.filter(pk__in=changed).only(*FIRE_FIELDS):
                fires[schedule.pk] = schedule_plan_fire(schedule) or schedule.pk
        return [fires.get(pk, pk) for pk, _ in claimed]

    def _fire_batch(self, now: datetime) -> tuple[int, int, list[int]]:
        """Fire the batch's schedules whose one due slot is on time, together. Returns
        (runs started, schedules claimed, ids to fire one by one)."""
        with transaction.atomic():
            claimed = list(self._claim(now).values_list("pk", "updated")[: self.batch])
            fires, one_by_one = [], []
            for fire in self._fires(claimed):
                if isinstance(fire, SimpleFire) and fire.fits(now):
                    fires.append(fire)
                else:
                    one_by_one.append(fire if isinstance(fire, int) else fire.schedule.pk)
            fired = 0
            if fires:
                try:
                    with transaction.atomic():
                        fired = schedule_fire_batch(fires, now=now)
                except OperationalError:
                    raise
                except Exception:
                    logger.exception("a batch of %s schedules failed; firing them one by one", len(fires))
                    one_by_one.extend(fire.schedule.pk for fire in fires)
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


class MonitorSource(Source):
    """Sends due monitor checks to the workers (probes do I/O). The claim moves
    next_check_at forward with a conditional update, so each check is sent once."""

    name = "monitors"
    batch = 200

    def tick(self, now: datetime) -> TickResult:
        from agents import queueing

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
                    queueing.enqueue("proactive.tasks.check_monitor", monitor_id, name=f"monitor-{monitor_id}")
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


class DeliveryRetentionSource(Source):
    """Prunes webhook deliveries by age and count per webhook (GRADENT_WEBHOOK_RETENTION_*),
    once per GRADENT_WEBHOOK_RETENTION_INTERVAL across dispatchers (the cache says who)."""

    name = "webhook_retention"

    def tick(self, now: datetime) -> TickResult:
        from django.conf import settings
        from django.core.cache import cache

        from proactive.services import webhook_prune_deliveries

        interval = settings.GRADENT_WEBHOOK_RETENTION_INTERVAL
        if not interval or not cache.add("proactive:webhook-retention", now.isoformat(), timeout=interval):
            return TickResult()
        try:
            return TickResult(done=webhook_prune_deliveries(now=now))
        except OperationalError:
            cache.delete("proactive:webhook-retention")  # a database conflict: again next tick
            logger.warning("webhook retention: database conflict; retrying next tick", exc_info=True)
            return TickResult()
