"""How late do schedules fire when thousands come due in the same second?

    python bench/fire_lag.py [--n 10000] [--q-n 1000] [--q-rounds 3] [--lead 20]
                             [--database-url postgres://user:pw@127.0.0.1:5432/x]

Prints one JSON object. Everything runs on a fresh temporary data directory with the
default embedded setup (SQLite in WAL/IMMEDIATE mode, the django-q2 ORM broker, 2 workers):

(a) gradent: one real `manage.py dispatch` and one real `manage.py qcluster`. `--n` cron
    schedules of a no-op scripted agent (6-field cron with seconds, all for the same
    second, `--lead` seconds ahead; bulk-created with that next fire) come due at once.
    Per run: dispatch lag = Run.created - Run.scheduled_for (due -> queued) and run lag =
    Run.started_at - Run.scheduled_for (due -> running on a worker); p50/p90/p99/max.
    A run is created inside its batch's transaction and its task is committed with it, so
    `committed_lag_s` also polls (every 20 ms) how many runs another connection can see:
    when the first 50/90/99/100 % were committed. Also fires/s (N / (last created -
    slot)) and runs/s. The same is done first with `--q-n` schedules, the baseline's
    size. Targets: p99 <= 1 s, for both dispatch_lag_s and committed_lag_s; run_lag_s
    (due -> running) p99 <= 15 s. With `--database-url` the same runs on a PostgreSQL
    database the bench creates (and drops) on that server.
(b) django-q2's own scheduler (the baseline): a qcluster with Q_CLUSTER["scheduler"] on
    (bench/settings_q_scheduler.py, for that process only) and `--q-n`
    django_q.models.Schedule rows (MINUTES, repeats=1) whose next_run is the same instant;
    lag = Task.started - next_run, over `--q-rounds` rounds at different offsets (its
    sentinel runs the scheduler every ~30 s, so the lag depends on where the instant falls
    in that cycle).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_DISPATCH_LAG = 1.0
TARGET_P99_RUN_LAG = 15.0  # due -> running, at 10,000 no-op runs (issue 8)
NOOP = "bench.fire_lag.noop"


def noop() -> None:
    """The baseline's scheduled task: nothing, so only scheduling and queueing are measured."""


def percentiles(values: list[float]) -> dict:
    """Nearest-rank percentiles, in seconds."""
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)

    return {"min": rank(0), "p50": rank(50), "p90": rank(90), "p99": rank(99), "max": rank(100)}


# --- (a) gradent -------------------------------------------------------------------------------
def make_agent():
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from workspaces.models import personal_workspace_for

    user = get_user_model().objects.create_user(username="bench", password=None)
    workspace = personal_workspace_for(user)
    workspace.runs_per_hour = 10_000_000  # the hourly quota is not what is measured
    workspace.save(update_fields=["runs_per_hour"])
    return Agent.objects.create(
        workspace=workspace,
        name="Bench no-op",
        provider="scripted",
        provider_settings={"steps": [], "answer": "ok"},
        overlap_policy="allow",
        auto_pause_after=0,
    )


def make_schedules(agent, n: int, lead: float) -> datetime:
    """`n` cron schedules all due at one second `lead` seconds from now; returns it."""
    from django.utils import timezone

    from proactive import timing
    from proactive.models import Schedule

    slot = (timezone.now() + timedelta(seconds=lead)).replace(microsecond=0)
    cron = f"{slot.second} {slot.minute} {slot.hour} * * *"
    next_fire = timing.next_fire(kind="cron", cron=cron, tz="UTC", after=timezone.now())
    assert next_fire == slot, (next_fire, slot)
    Schedule.objects.bulk_create(
        [
            Schedule(
                workspace_id=agent.workspace_id,
                agent=agent,
                name=f"bench {slot:%H:%M:%S} #{i}",
                kind=Schedule.Kind.CRON,
                cron_expression=cron,
                timezone="UTC",
                next_fire_at=slot,
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    margin = (slot - timezone.now()).total_seconds()
    if margin < 1:
        raise RuntimeError(f"creating {n} schedules took too long ({margin:.1f} s left before the slot); raise --lead")
    return slot


def watch_committed(runs, n: int, slot, *, timeout: float, services) -> list[tuple[float, int]]:
    """Poll how many of the slot's runs other connections can see (committed, and so with
    their tasks in the broker), every 20 ms: [(seconds after the slot, count)]."""
    from django.utils import timezone

    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    while True:
        count = runs.count()
        seen.append(((timezone.now() - slot).total_seconds(), count))
        if count >= n:
            return seen
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} of {n} fires after {timeout:.0f} s")
        for service in services:
            service.check()
        time.sleep(0.02)


def committed_percentiles(seen: list[tuple[float, int]], n: int) -> dict:
    """When the first p % of the runs were visible to other connections (20 ms polls)."""

    def first(p: float) -> float:
        need = max(1, math.ceil(p / 100 * n))
        return round(next(t for t, count in seen if count >= need), 3)

    return {"p50": first(50), "p90": first(90), "p99": first(99), "max": first(100)}


def gradent_phase(agent, n: int, lead: float, services, timeout: float) -> dict:
    from django.db.models import Count, Max

    from agents.models import Run, RunSource, RunStatus
    from bench.run_throughput import wait_for

    slot = make_schedules(agent, n, lead)
    runs = Run.objects.filter(source=RunSource.SCHEDULE, scheduled_for=slot)
    seen = watch_committed(runs, n, slot, timeout=lead + timeout, services=services)
    wait_for(
        lambda: not runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists(),
        timeout=timeout,
        what=f"{n} runs to finish",
        services=services,
        interval=0.2,
    )
    statuses = dict(runs.values_list("status").annotate(n=Count("id")))
    rows = list(runs.values_list("created", "started_at"))
    dispatch = [(created - slot).total_seconds() for created, _ in rows]
    started = [(s - slot).total_seconds() for _, s in rows if s is not None]
    last = runs.aggregate(created=Max("created"), started=Max("started_at"))
    return {
        "schedules": n,
        "slot": slot.isoformat(),
        "statuses": statuses,
        "dispatch_lag_s": percentiles(dispatch),
        "committed_lag_s": committed_percentiles(seen, n),
        "run_lag_s": percentiles(started) if started else None,
        "fires_per_s": round(n / max((last["created"] - slot).total_seconds(), 1e-3), 1),
        "runs_per_s": round(len(started) / max((last["started"] - slot).total_seconds(), 1e-3), 1) if started else None,
        "meets_target": max(percentiles(dispatch)["p99"], committed_percentiles(seen, n)["p99"])
        <= TARGET_P99_DISPATCH_LAG,
        "meets_run_lag_target": bool(started) and percentiles(started)["p99"] <= TARGET_P99_RUN_LAG,
    }


def gradent(sizes: list[int], lead: float, work_dir: Path, timeout: float) -> list[dict]:
    from agents.models import DispatcherHeartbeat
    from bench.run_throughput import Service, wait_for

    agent = make_agent()
    workers = Service("qcluster", ["qcluster"], work_dir)
    dispatcher = Service("dispatch", ["dispatch"], work_dir)
    services = [workers, dispatcher]
    try:
        wait_for(lambda: "running." in workers.output(), timeout=60, what="qcluster to start", services=services)
        wait_for(DispatcherHeartbeat.objects.exists, timeout=60, what="a dispatcher heartbeat", services=services)
        return [gradent_phase(agent, n, lead, services, timeout) for n in sizes]
    finally:
        for service in (dispatcher, workers):
            service.stop()


# --- (b) django-q2's scheduler -------------------------------------------------------------------
def django_q_round(n: int, round_: int, lead: float, services, timeout: float) -> dict:
    from django.utils import timezone
    from django_q.models import Schedule, Task

    from bench.run_throughput import wait_for

    # Rounds start at different points of the sentinel's ~30 s scheduler cycle.
    next_run = (timezone.now() + timedelta(seconds=lead + 10 * round_)).replace(microsecond=0)
    prefix = f"r{round_}-"
    Schedule.objects.bulk_create(
        [
            Schedule(
                name=f"{prefix}{i}",
                func=NOOP,
                schedule_type=Schedule.MINUTES,
                minutes=24 * 60,
                repeats=1,
                next_run=next_run,
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    tasks = Task.objects.filter(group__startswith=prefix)
    wait_for(
        lambda: tasks.count() >= n,
        timeout=lead + 10 * round_ + 60 + timeout,
        what=f"{n} django-q2 scheduled tasks (round {round_})",
        services=services,
        interval=0.2,
    )
    rows = list(tasks.values_list("started", "success"))
    lags = [(started - next_run).total_seconds() for started, _ in rows]
    first, last = min(s for s, _ in rows), max(s for s, _ in rows)
    return {
        "next_run": next_run.isoformat(),
        "lag_s": percentiles(lags),
        "succeeded": sum(1 for _, ok in rows if ok),
        "tasks_per_s_once_started": round(n / max((last - first).total_seconds(), 1e-3), 1),
        "_lags": lags,
    }


def django_q(n: int, rounds: int, lead: float, work_dir: Path, timeout: float) -> dict:
    from bench.run_throughput import Service, wait_for

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings_q_scheduler")
    workers = Service("qcluster-scheduler", ["qcluster"], work_dir, env=env)
    try:
        wait_for(lambda: "running." in workers.output(), timeout=60, what="qcluster to start", services=[workers])
        results = [django_q_round(n, r, lead, [workers], timeout) for r in range(rounds)]
    finally:
        workers.stop()
    pooled = [lag for r in results for lag in r.pop("_lags")]
    return {"schedules": n, "rounds": results, "lag_s": percentiles(pooled)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="gradent schedules due at once (default 10,000)")
    parser.add_argument("--q-n", type=int, default=1000, help="baseline size, also run on gradent (default 1,000)")
    parser.add_argument("--q-rounds", type=int, default=3, help="rounds of the django-q2 baseline (default 3)")
    parser.add_argument("--lead", type=float, default=20, help="seconds from creating the schedules to their slot")
    parser.add_argument("--timeout", type=float, default=900, help="give up on a phase after this many seconds")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgres://user:pw@host:port/any): the bench creates a database "
        "of its own there and drops it after; default: SQLite in the temporary directory",
    )
    options = parser.parse_args()
    database = fresh_postgres_database(options.database_url) if options.database_url else None
    try:
        run(options, database)
    finally:
        if database:
            drop_postgres_database(options.database_url, database)


def _server(url: str):
    """A psycopg connection to the server of `url`, in autocommit (CREATE/DROP DATABASE)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def fresh_postgres_database(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    name = f"gradent_bench_{os.getpid()}"
    with _server(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["GRADENT_BENCH_DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    return name


def drop_postgres_database(url: str, name: str) -> None:
    with _server(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(options, database: str | None) -> None:

    with tempfile.TemporaryDirectory(prefix="gradent-bench-") as tmp:
        tmp_path = Path(tmp)
        for name in ("DATABASE_URL", "REDIS_URL", "GRADENT_SQLITE_PATH", "GRADENT_Q_NAME"):
            os.environ.pop(name, None)
        if database:
            os.environ["DATABASE_URL"] = os.environ["GRADENT_BENCH_DATABASE_URL"]
        os.environ.update(
            DJANGO_SETTINGS_MODULE="gradent.settings",
            GRADENT_DATA_DIR=str(tmp_path / "data"),
            GRADENT_WORKERS="2",
            GRADENT_MINING_INTERVAL="0",
            PYTHONUNBUFFERED="1",
        )
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        logging.getLogger("django-q").setLevel(logging.WARNING)
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        started = time.perf_counter()
        sizes = sorted({options.q_n, options.n}) if not options.skip_baseline else [options.n]
        result = {
            "database": "postgresql" if database else "sqlite",
            "broker": "orm",
            "workers": settings.Q_CLUSTER["workers"],
            "dispatcher_max_sleep_s": settings.GRADENT_DISPATCHER_MAX_SLEEP,
            "fire_late_s": settings.GRADENT_FIRE_LATE_SECONDS,
            "target_p99_dispatch_lag_s": TARGET_P99_DISPATCH_LAG,
            "target_p99_run_lag_s": TARGET_P99_RUN_LAG,
        }
        try:
            result["gradent"] = gradent(sizes, options.lead, tmp_path, options.timeout)
            if not options.skip_baseline:
                result["django_q2_scheduler"] = django_q(
                    options.q_n, options.q_rounds, options.lead, tmp_path, options.timeout
                )
        except Exception:
            for log in sorted(tmp_path.glob("*.log")):
                print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-5000:]}", file=sys.stderr)
            raise
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
