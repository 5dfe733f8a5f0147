"""Many runs in flight in one worker process.

django-q2 gives a worker process one task at a time and waits for it to return. A run is
mostly waiting on a model or a tool, so the run's task (agents.tasks.execute_run) only
claims the run and hands it to this process's pool, where it executes on a thread of its
own; the task returns and django-q2 delivers the next one. The pool holds at most
GRADENT_RUNS_PER_WORKER runs: when it is full the task waits for a free slot, so the
worker takes nothing more and a burst stays in the broker (back-pressure), not in memory.

Each run's thread has its own database connection, closed when the run ends (on
PostgreSQL it is also given back before every wait: agents.executor.release_connection).

The pool writes its WorkerHeartbeat row every GRADENT_WORKER_HEARTBEAT_SECONDS with the
ids of the runs it holds; the dispatcher hands back the runs of a worker silent for
GRADENT_WORKER_LOST_SECONDS (killed, or its machine lost). When the worker stops (SIGTERM,
or django-q2 stopping or recycling it) the pool takes no more runs, lets the running ones
finish for up to GRADENT_WORKER_STOP_GRACE_SECONDS and hands back the rest: queued again,
the attempt not counted. A run is never lost and never runs in two places: every write
of an attempt is conditional on this worker still holding it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing import util

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from agents import executor, queueing

logger = logging.getLogger(__name__)


class Sustained:
    """Whether a condition, looked at now and then, has held without a break for a while."""

    def __init__(self) -> None:
        self.since: float | None = None

    def held_for(self, seconds: float, holds: bool) -> bool:
        if not holds:
            self.since = None
            return False
        if self.since is None:
            self.since = time.monotonic()
        return time.monotonic() - self.since >= seconds


class RunPool:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.name = executor.worker_id()
        self.pid = os.getpid()
        self._slots = threading.BoundedSemaphore(capacity)
        self._lock = threading.Lock()
        self._held: set[int] = set()
        # Since when the worker has waited for a task without taking one (None while it
        # executes one): what tells the dispatcher a task was lost (agents.dispatcher).
        self._waiting_since = timezone.now()
        self.stopping = threading.Event()
        self._stopped = threading.Event()
        self._last_task = time.monotonic()
        self._in_task = False  # the main thread is executing a task (a run's or another)
        self._backlog_waiting = Sustained()
        self._cluster_silent = Sustained()
        self._beating: threading.Thread | None = None

    # --- taking runs ---------------------------------------------------------------------
    def start(self) -> None:
        _pool_database_connections()
        queueing.on_task_boundaries(self._task_started, self._task_ended)
        self.beat()  # a row exists before the first claim, so a lost worker is noticed
        self._beating = threading.Thread(target=self._beat_forever, name="worker-heartbeat", daemon=True)
        self._beating.start()
        # Both django-q2's stop and recycle end the worker's loop and the process exits.
        util.Finalize(None, self.stop, exitpriority=100)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _task_started(self) -> None:
        self._in_task, self._last_task = True, time.monotonic()
        with self._lock:
            self._waiting_since = None

    def _task_ended(self) -> None:
        self._in_task, self._last_task = False, time.monotonic()
        with self._lock:
            self._waiting_since = timezone.now()

    def submit(self, *run_ids: int) -> str:
        """Claim the runs and start each on a thread, waiting while the pool is full: the
        runs that fit in the free slots are claimed together (executor.claim_many). Runs
        this worker will not take (it is stopping) are given back unclaimed: the
        dispatcher sends them again."""
        results: list[str] = []
        try:
            while len(results) < len(run_ids):
                slots = self._take_slots(len(run_ids) - len(results))
                if not slots:
                    break
                chunk = run_ids[len(results) : len(results) + slots]
                try:
                    runs = executor.claim_many(chunk)
                except BaseException:
                    self._give_slots(slots)
                    raise
                self._give_slots(slots - len(runs))
                started = self._start(runs)
                results += [started.get(run_id, "not claimed") for run_id in chunk]
        finally:  # also on SIGTERM while waiting for a slot
            left = run_ids[len(results) :]
            if left:
                executor.give_back_unclaimed(*left)
        if len(run_ids) == 1:
            return results[0] if results else "worker stopping"
        return f"{results.count('started')} of {len(run_ids)} started" + (" (worker stopping)" if left else "")

    def _take_slots(self, wanted: int) -> int:
        """Wait for a free slot, then take as many more as are free, up to `wanted`; 0 when
        the worker is stopping."""
        while not self._slots.acquire(timeout=0.5):
            if self.stopping.is_set():
                return 0
        if self.stopping.is_set():
            self._slots.release()
            return 0
        taken = 1
        while taken < wanted and self._slots.acquire(blocking=False):
            taken += 1
        return taken

    def _give_slots(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def _start(self, runs: list) -> dict[int, str]:
        """Announce the claimed runs, then start each on its own thread."""
        with self._lock:
            self._held.update(run.pk for run in runs)
        executor.announce_started(runs)  # a failing subscriber is logged by agents.events
        started = {}
        for run in runs:
            try:
                threading.Thread(target=self._execute, args=(run,), name=f"run-{run.pk}", daemon=True).start()
                started[run.pk] = "started"
            except RuntimeError:  # no thread to be had (a process limit): queue the run again
                logger.exception("worker %s: could not start a thread for run %s", self.name, run.pk)
                executor.hand_back(run, why="could not start a thread during", attempt_counts=False)
                self._release(run.pk)
                started[run.pk] = "handed back"
        return started

    def _execute(self, run) -> None:
        try:
            executor.execute_claimed(run)
        except BaseException:  # execute_claimed ends every run itself; this is a last guard
            logger.exception("run %s: the executor failed", run.pk)
        finally:
            connections.close_all()  # this thread's connections
            self._release(run.pk)

    def _release(self, run_id: int) -> None:
        with self._lock:
            self._held.discard(run_id)
        self._slots.release()

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    # --- heartbeat -----------------------------------------------------------------------
    def beat(self) -> None:
        from agents.models import WorkerHeartbeat

        with self._lock:
            held, waiting_since = sorted(self._held), self._waiting_since
        WorkerHeartbeat.objects.update_or_create(
            name=self.name,
            defaults={
                "last_beat": timezone.now(),
                "capacity": self.capacity,
                "held": held,
                "waiting_since": waiting_since,
            },
        )

    def _beat_forever(self) -> None:
        every = settings.GRADENT_WORKER_HEARTBEAT_SECONDS
        while not self._stopped.wait(every):
            try:
                close_old_connections()
                self.beat()
                self._watch_the_task_queue()
                self._watch_the_sentinel()
            except Exception:
                logger.exception("worker %s: heartbeat failed", self.name)
            finally:
                connections.close_all()

    def _watch_the_task_queue(self) -> None:
        """django-q2's workers share one task queue whose read lock is held by the worker
        waiting for the next task. A pool worker spends most of its time there, so a
        worker killed outright (OOM killer, segfault) may die holding that lock, and then
        no worker of the cluster ever gets a task again. Seen from here: free slots, no
        task for GRADENT_WORKER_WEDGED_SECONDS, while the broker has tasks waiting. The
        only way out is a new cluster: kill this one (its supervisor, `up` or systemd,
        starts it again) after handing back this worker's runs; the dispatcher hands
        back the other workers' runs once their heartbeats stop."""
        limit = settings.GRADENT_WORKER_WEDGED_SECONDS
        if not limit or self.stopping.is_set():
            return
        # Idle: not inside any task (a monitor check or an autonomy cycle may take long),
        # a free slot, and no task started or ended for the whole period.
        idle = not self._in_task and len(self.held()) < self.capacity and time.monotonic() - self._last_task >= limit
        if not self._backlog_waiting.held_for(limit, idle and bool(queueing.broker_status().get("queued"))):
            return
        logger.critical(
            "worker %s: tasks wait in the broker but none reached this worker for %.0f s: the cluster's task "
            "queue is wedged (a worker died holding its lock); stopping the cluster so it is started again",
            self.name,
            limit,
        )
        self._restart_the_cluster(grace=0)

    def _watch_the_sentinel(self) -> None:
        """django-q2's sentinel replaces dead workers and reports the cluster's status every
        half second. To look at a worker it takes that worker's timer lock, which a worker
        holds for a moment as each task ends: a worker killed in that moment leaves the
        sentinel blocked for good, so no dead worker is replaced again and the cluster goes
        silent. Seen from a worker that survived: its cluster has not reported for
        GRADENT_WORKER_WEDGED_SECONDS while the status store keeps what is written to it.
        Then this worker lets its runs finish (the stop grace period) and the cluster is
        killed, for its supervisor to start a new one. (`up` watches too, for the case
        where no worker survived.)"""
        limit = settings.GRADENT_WORKER_WEDGED_SECONDS
        if not limit or self.stopping.is_set():
            return
        main = _parent_of(os.getppid())  # worker -> sentinel -> the cluster's main process
        if not self._cluster_silent.held_for(limit, bool(main) and queueing.cluster_reporting(main) is False):
            return
        logger.critical(
            "worker %s: the cluster has not reported its status for %.0f s (its sentinel is stuck or gone): "
            "stopping the cluster so it is started again",
            self.name,
            limit,
        )
        self._restart_the_cluster(grace=None)

    def _restart_the_cluster(self, *, grace: float | None) -> None:
        self.stop(grace=grace)
        # Tasks this cluster had fetched die with it: send every queued run's task again
        # (a task sent twice is harmless, the claim is conditional).
        executor.resend_queued()
        kill_the_cluster()

    # --- stopping ------------------------------------------------------------------------
    def _on_sigterm(self, signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough
        self.stopping.set()
        # Leave django-q2's loop wherever the main thread is (waiting for a task, or for a
        # slot); the process then exits through stop() (multiprocessing's finalizers).
        raise SystemExit(0)

    def stop(self, grace: float | None = None) -> None:
        """Let the runs finish for up to the grace period, then hand back the rest."""
        if os.getpid() != self.pid or self._stopped.is_set():
            return
        self.stopping.set()
        grace = settings.GRADENT_WORKER_STOP_GRACE_SECONDS if grace is None else grace
        deadline = time.monotonic() + grace
        while self.held() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopped.set()
        if self._beating is not None and self._beating is not threading.current_thread():
            self._beating.join(timeout=5)  # no beat may land after the row is deleted
        try:
            close_old_connections()
            left = executor.hand_back_worker_runs(
                self.name, why="stopped during", detail="stop grace period over", attempt_counts=False
            )
            from agents.models import WorkerHeartbeat

            WorkerHeartbeat.objects.filter(name=self.name).delete()
            if left:
                logger.warning("worker %s stopped: handed back %s run(s)", self.name, left)
        except Exception:
            logger.exception("worker %s: could not hand back its runs; the dispatcher will", self.name)
        finally:
            connections.close_all()


def _pool_database_connections() -> None:
    """On PostgreSQL, this process's connections come from a pool of GRADENT_DB_POOL_SIZE
    (psycopg_pool, through Django's "pool" option): many runs share a few connections, each
    given back while its run waits (agents.executor.release_connection), and a run waits
    for one rather than the server refusing one more. Opened here, in the worker process
    django-q2 forked, never in a process that forks: a pool's connections must not be
    shared across a fork."""
    database = connections.settings["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    connections.close_all()
    database["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django must not
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": settings.GRADENT_DB_POOL_SIZE,
        "timeout": 60,
    }


def kill_the_cluster() -> None:
    """SIGKILL this worker's whole qcluster: its process group when the qcluster process
    leads one (under `up`, systemd or a shell), else the qcluster and its sentinel."""
    sentinel = os.getppid()
    main = _parent_of(sentinel)
    try:
        if main and os.getpgid(0) == main:
            os.killpg(main, signal.SIGKILL)
        for pid in (main, sentinel):
            if pid and pid > 1:
                os.kill(pid, signal.SIGKILL)
    finally:
        os._exit(1)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


_pool: RunPool | None = None
_pool_lock = threading.Lock()


def start() -> RunPool:
    """Start this worker process's pool: called as django-q2 spawns the worker."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = RunPool(settings.GRADENT_RUNS_PER_WORKER)
            _pool.start()
        return _pool


def current() -> RunPool | None:
    """This process's pool; None outside django-q2's workers (web, dispatcher, tests)."""
    return _pool if _pool is not None and _pool.pid == os.getpid() else None
