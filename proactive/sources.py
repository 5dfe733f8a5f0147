"""The proactive app's dispatcher sources: due schedules and due monitor checks."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import OperationalError, transaction
from django.db.models import F, Q

from agents.dispatcher import Source, TickResult, register_source, skip_locked_supported
from proactive.models import Monitor, Schedule

logger = logging.getLogger(__name__)


class ScheduleSource(Source):
    """Claims due schedules one at a time, each in its own short transaction (SKIP LOCKED
    where the database has it, so several dispatchers share the work), fires it and
    advances next_fire_at. One transaction per schedule keeps the locks a fire takes (its
    schedule, agent and quota rows) from piling up across a batch, where two dispatchers
    would deadlock. A schedule that raises is disabled with its error; a database conflict
    (deadlock, lock timeout) is not the schedule's fault and is retried next tick. The
    unique slot key on Run makes a slot fire at most once even if two dispatchers race."""

    name = "schedules"
    batch = 200

    def tick(self, now: datetime) -> TickResult:
        from proactive.services import schedule_disable_with_error, schedule_fire_due

        # A plain read first: on SQLite every transaction takes the write lock at BEGIN,
        # and most ticks have nothing due.
        if not Schedule.objects.due(now).exists():
            return TickResult(next_due=self._upcoming())
        done = claimed = 0
        while claimed < self.batch:
            try:
                with transaction.atomic():
                    due = Schedule.objects.due(now).select_related("agent", "agent__workspace")
                    due = due.order_by("next_fire_at", "id")
                    if skip_locked_supported():
                        due = due.select_for_update(skip_locked=True, of=("self",))
                    schedule = due.first()
                    if schedule is None:
                        break
                    claimed += 1
                    try:
                        with transaction.atomic():
                            schedule_fire_due(schedule, now=now)
                        done += 1
                    except OperationalError:
                        raise
                    except Exception as exc:
                        logger.exception("schedule %s failed; disabling it", schedule.pk)
                        schedule_disable_with_error(schedule.pk, f"{exc.__class__.__name__}: {exc}")
            except OperationalError:
                logger.warning("schedule source: database conflict; retrying next tick", exc_info=True)
                return TickResult(done=done, next_due=now)
        if claimed == self.batch:
            return TickResult(done=done, next_due=now)
        return TickResult(done=done, next_due=self._upcoming())

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
register_source(SuggestionSource())
