"""The dispatcher: one loop that finds due work and hands it to django-q2.

Apps register *sources* (agents: due runs and stuck-run recovery; proactive: schedules
and monitors; autonomy: cycles). Each tick asks every source to do what is due, in short
transactions, then sleeps until the earliest next due time it was told about, at most
GRADENT_DISPATCHER_MAX_SLEEP seconds. Claims are conditional updates or
select_for_update(skip_locked=True), so several dispatchers may run at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gradent.lib.registry import Registry

logger = logging.getLogger(__name__)


@dataclass
class TickResult:
    done: int = 0
    next_due: datetime | None = None
    # A source filled its batch: more may be waiting behind it, so tick again soon.
    more: bool = False


class Source:
    """A kind of due work. `tick(now)` does what is due (bounded per call) and may say
    when it next has something to do."""

    name = ""
    batch = 100

    def tick(self, now: datetime) -> TickResult:
        raise NotImplementedError


def _instance(source: type[Source] | Source) -> Source:
    return source() if isinstance(source, type) else source


# Apps above `agents` add theirs from AppConfig.ready (register_source); users theirs with
# GRADENT_EXTRA_DISPATCHER_SOURCES. One instance of each class per process.
SOURCES = Registry(
    "dispatcher source",
    setting="GRADENT_EXTRA_DISPATCHER_SOURCES",
    builtins=["agents.dispatcher.DueRunsSource", "agents.dispatcher.StuckRunsSource"],
    base=Source,
    load=_instance,
    check_id="agents.E005",
)
HEARTBEAT_EVERY = 5.0


def register_source(dotted_path: str) -> None:
    """For apps above `agents`: call from AppConfig.ready() with a Source subclass's path."""
    SOURCES.register(dotted_path)


def sources() -> list[Source]:
    return list(SOURCES.entries().values())


def skip_locked_supported() -> bool:
    return connection.features.has_select_for_update_skip_locked


# --- agents' own sources ------------------------------------------------------------------
def lost_tasks_before(now: datetime) -> datetime | None:
    """A task sent before this instant is lost (the broker lost it, or a cluster that had
    fetched it died) when a worker has waited for a task since then without getting one:
    a task in the broker would have reached it. None when every worker is taking tasks
    (they may be working through a backlog, however many free slots their pools have) or
    none is alive; then only GRADENT_QUEUED_STALE_SECONDS applies. Sending a task twice is
    harmless: the claim is a conditional update."""
    from agents.models import WorkerHeartbeat

    window = timedelta(seconds=settings.GRADENT_WORKER_LOST_SECONDS)
    idle = WorkerHeartbeat.objects.filter(last_beat__gte=now - window, waiting_since__lte=now - window)
    return now - window if idle.exists() else None


class DueRunsSource(Source):
    """Queued runs that should be with a worker and are not: due retries, delayed starts,
    tasks the broker never delivered (Redis loses in-flight tasks when a worker dies), and
    tasks that could not be sent when the run started."""

    name = "due_runs"

    def tick(self, now: datetime) -> TickResult:
        from agents.models import Run, RunStatus
        from agents.services import enqueue_run

        running_sibling = Run.objects.filter(agent_id=OuterRef("agent_id"), status=RunStatus.RUNNING)
        due = (
            Run.objects.due(now, lost_before=lost_tasks_before(now))
            .annotate(blocked=Exists(running_sibling))
            .exclude(overlap_policy="queue_one", blocked=True)
            .order_by("not_before", "id")
            .values_list("id", "enqueued_at")[: self.batch]
        )
        done = 0
        for run_id, enqueued_at in due:
            # Claim the send: only one dispatcher re-enqueues a given run.
            claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, enqueued_at=enqueued_at).update(
                enqueued_at=now
            )
            if claimed and enqueue_run(run_id):
                done += 1
        upcoming = (
            Run.objects.filter(status=RunStatus.QUEUED, not_before__gt=now, enqueued_at__isnull=True)
            .order_by("not_before")
            .values_list("not_before", flat=True)
            .first()
        )
        return TickResult(done=done, next_due=upcoming)


class StuckRunsSource(Source):
    """Running runs whose worker is gone: its heartbeat went silent for
    GRADENT_WORKER_LOST_SECONDS (killed, or its machine lost), or, as a backstop, the run
    is past its deadline. Each is handed back: retried if attempts remain, else failed as
    quarantined. Heartbeat rows of lost workers are then removed."""

    name = "stuck_runs"

    def __init__(self):
        # Since when this dispatcher has ticked without a gap. A worker is judged silent
        # only after that long: while the database was down (or this dispatcher was not
        # running) no worker could write its heartbeat either.
        self._watching_since: datetime | None = None
        self._last_tick: datetime | None = None

    def tick(self, now: datetime) -> TickResult:
        from agents.executor import hand_back
        from agents.models import Run, RunStatus, WorkerHeartbeat

        lost_after = timedelta(seconds=settings.GRADENT_WORKER_LOST_SECONDS)
        if self._last_tick is None or now - self._last_tick > lost_after / 3 or now < self._last_tick:
            self._watching_since = now
        done = 0
        silent_since = now - lost_after
        lost = {}
        if now - self._watching_since >= lost_after:
            lost = dict(WorkerHeartbeat.objects.filter(last_beat__lt=silent_since).values_list("name", "last_beat"))
        if lost:
            for run in Run.objects.filter(status=RunStatus.RUNNING, worker__in=lost).order_by("id")[: self.batch]:
                silent = (now - lost[run.worker]).total_seconds()
                done += hand_back(run, why="was lost during", detail=f"no heartbeat for {silent:.0f} s")
            if not Run.objects.filter(status=RunStatus.RUNNING, worker__in=lost).exists():
                WorkerHeartbeat.objects.filter(name__in=lost, last_beat__lt=silent_since).delete()
        for run in Run.objects.stuck_running(now).order_by("deadline_at")[: self.batch]:
            detail = f"deadline {run.deadline_at:%Y-%m-%d %H:%M:%S} UTC passed"
            done += hand_back(run, why="was lost during", detail=detail)
        self._last_tick = now
        return TickResult(done=done)


# --- the loop ------------------------------------------------------------------------------
def tick(now: datetime | None = None) -> TickResult:
    """One pass over every source. A failing source is logged and does not stop the others."""
    now = now or timezone.now()
    total = TickResult()
    for source in sources():
        try:
            result = source.tick(now)
        except Exception:
            logger.exception("dispatcher source %s failed", source.name)
            continue
        total.done += result.done
        total.more = total.more or result.more or result.done >= source.batch
        if result.next_due and (total.next_due is None or result.next_due < total.next_due):
            total.next_due = result.next_due
    return total


def beat(name: str, tick_ms: int, info: dict) -> None:
    from agents.models import DispatcherHeartbeat

    DispatcherHeartbeat.objects.update_or_create(
        name=name, defaults={"last_beat": timezone.now(), "last_tick_ms": tick_ms, "info": info}
    )


def run_forever(stop: threading.Event | None = None, *, max_sleep: float | None = None) -> None:
    stop = stop or threading.Event()
    max_sleep = max_sleep if max_sleep is not None else settings.GRADENT_DISPATCHER_MAX_SLEEP
    name = f"{socket.gethostname()}:{os.getpid()}"
    logger.info("dispatcher %s started with sources: %s", name, ", ".join(s.name for s in sources()))
    last_beat = 0.0
    done_since_beat = slowest_ms = 0
    while not stop.is_set():
        started = time.monotonic()
        close_old_connections()
        try:
            result = tick()
            done_since_beat += result.done
            slowest_ms = max(slowest_ms, int((time.monotonic() - started) * 1000))
            # A heartbeat is a write (and on SQLite every writer waits for it): every few
            # seconds is fresh enough for /healthz, however busy the ticks are.
            if started - last_beat >= HEARTBEAT_EVERY:
                beat(name, slowest_ms, {"done": done_since_beat})
                last_beat, done_since_beat, slowest_ms = started, 0, 0
        except Exception:
            # The database may be briefly unreachable; keep the loop alive.
            logger.exception("dispatcher tick failed")
            result = TickResult()
        sleep = max_sleep
        if result.more:
            sleep = 0.05  # a batch was full: more may be waiting behind it
        elif result.next_due:
            sleep = min(max_sleep, max(0.0, (result.next_due - timezone.now()).total_seconds()))
        stop.wait(sleep)
    from agents.models import DispatcherHeartbeat

    DispatcherHeartbeat.objects.filter(name=name).delete()
    logger.info("dispatcher %s stopped", name)


def dispatcher_status() -> dict:
    from agents.models import DispatcherHeartbeat

    latest = DispatcherHeartbeat.objects.order_by("-last_beat").first()
    if latest is None:
        return {"ok": False, "detail": "no dispatcher has run", "last_beat": None}
    age = (timezone.now() - latest.last_beat).total_seconds()
    ok = age <= settings.GRADENT_DISPATCHER_STALE_SECONDS
    return {
        "ok": ok,
        "detail": f"last beat {age:.0f} s ago" + ("" if ok else " (late)"),
        "last_beat": latest.last_beat.isoformat(),
        "running": DispatcherHeartbeat.objects.filter(
            last_beat__gte=timezone.now() - timedelta(seconds=settings.GRADENT_DISPATCHER_STALE_SECONDS)
        ).count(),
    }
