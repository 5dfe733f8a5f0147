"""Does a dispatcher tick cost more when there are more schedules, none of them due?

    python bench/tick_cost.py [--small 1000] [--large 100000] [--ticks 100] [--rounds 10]
    python bench/tick_cost.py --postgres postgres://user:pass@127.0.0.1:5432/postgres

Prints one JSON object. DESIGN.md §3: "Cost per tick grows with the work due, not with the
number of schedules"; the target is a difference under 10 %.

Two helper processes each set up a fresh database (SQLite in a temporary data directory by
default; with --postgres, a temporary database on that server, dropped afterwards): one
with `--small` enabled schedules, one with `--large`, none due (next fires 1-23 h ahead,
bulk-created), ANALYZEd as a long-running database would be. Then they take turns, in
ABBA order, timing `ScheduleSource().tick(now)` `--ticks` times per turn for `--rounds`
rounds: turns alternate so that the load of a shared machine hits both alike. Reported:
the median of the per-round medians for each size (`*_ms`), and the SQL alone (the two
queries a tick sends, through a raw cursor: `sql_ms`), which isolates the database's share
from the ORM's constant Python cost. The baseline is the small table, measured in the
same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_DIFFERENCE = 0.10
WARMUP_TICKS = 50


# --- the helper process: one database of one size ----------------------------------------
def make_agent():
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from workspaces.models import personal_workspace_for

    user = get_user_model().objects.create_user(username="bench", password=None)
    return Agent.objects.create(
        workspace=personal_workspace_for(user),
        name="Bench no-op",
        provider="scripted",
        provider_settings={"steps": [], "answer": "ok"},
        overlap_policy="allow",
    )


def add_schedules(agent, count: int) -> None:
    """`count` enabled daily cron schedules whose next fire is 1-23 h ahead, computed here
    as schedule_save would, without one INSERT each."""
    from datetime import timedelta

    from django.utils import timezone

    from proactive import timing
    from proactive.models import Schedule

    now = timezone.now()
    next_fires: dict[str, object] = {}  # cron expression -> next fire
    batch = []
    for i in range(count):
        cron = f"{i % 60} {(now.hour + 2 + (i // 60) % 22) % 24} * * *"
        if cron not in next_fires:
            next_fires[cron] = timing.next_fire(kind="cron", cron=cron, tz="UTC", after=now)
        batch.append(
            Schedule(
                workspace_id=agent.workspace_id,
                agent=agent,
                name=f"bench #{i}",
                kind=Schedule.Kind.CRON,
                cron_expression=cron,
                timezone="UTC",
                next_fire_at=next_fires[cron],
            )
        )
        if len(batch) == 5000:
            Schedule.objects.bulk_create(batch)
            batch = []
    Schedule.objects.bulk_create(batch)
    assert Schedule.objects.filter(enabled=True).count() == count
    assert not Schedule.objects.due(now + timedelta(minutes=30)).exists(), "a schedule is due"


def tick_queries() -> list[tuple[str, tuple]]:
    """The SQL of the two queries an idle ScheduleSource.tick sends (due, then upcoming)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from proactive.sources import ScheduleSource

    with CaptureQueriesContext(connection) as captured:
        ScheduleSource().tick(timezone.now())
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, selects
    return selects


def helper(size: int) -> None:
    """Set up, then answer commands on stdin with one JSON line each."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from proactive.models import Schedule
    from proactive.sources import ScheduleSource

    call_command("migrate", interactive=False, verbosity=0)
    add_schedules(make_agent(), size)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    source = ScheduleSource()
    for _ in range(WARMUP_TICKS):
        result = source.tick(timezone.now())
        assert result.done == 0 and result.next_due is not None
    sql = tick_queries()
    plan = Schedule.objects.due(timezone.now()).select_related("agent", "agent__workspace").order_by("next_fire_at")
    info = {
        "database": connection.vendor,
        "schedules": Schedule.objects.filter(enabled=True).count(),
        "due_query_plan": " | ".join(line.strip() for line in plan[:200].explain().splitlines() if line.strip()),
    }
    print(json.dumps(info), flush=True)

    def run_raw() -> None:
        with connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)
                cursor.fetchall()

    for line in sys.stdin:
        ticks = int(line)
        samples, raw = [], []
        for _ in range(ticks):
            now = timezone.now()
            started = time.perf_counter()
            result = source.tick(now)
            samples.append(time.perf_counter() - started)
            assert result.done == 0
            started = time.perf_counter()
            run_raw()
            raw.append(time.perf_counter() - started)
        print(json.dumps({"tick": statistics.median(samples), "sql": statistics.median(raw)}), flush=True)


# --- the parent: take turns, compare -----------------------------------------------------
class Helper:
    def __init__(self, size: int, env: dict[str, str]):
        self.size = size
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--helper", str(size)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ticks: list[float] = []
        self.sql: list[float] = []

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the helper for {self.size} schedules exited with {self.process.wait()}")
        return json.loads(line)

    def turn(self, ticks: int) -> None:
        self.process.stdin.write(f"{ticks}\n")
        self.process.stdin.flush()
        answer = self.read()
        self.ticks.append(answer["tick"])
        self.sql.append(answer["sql"])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(30)

    def summary(self, info: dict) -> dict:
        return {
            "schedules": info["schedules"],
            "tick_ms": round(statistics.median(self.ticks) * 1000, 3),
            "sql_ms": round(statistics.median(self.sql) * 1000, 3),
            "round_tick_medians_ms": [round(t * 1000, 3) for t in self.ticks],
            "due_query_plan": info["due_query_plan"],
        }


class TemporaryPostgres:
    """Fresh databases next to the one in `url` (same server and role), dropped on exit."""

    def __init__(self, url: str):
        self.url = url
        self.names: list[str] = []

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        name = f"gradent_bench_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return urlunsplit(urlsplit(self.url)._replace(path=f"/{name}"))

    def drop_all(self) -> None:
        for name in self.names:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def compare(options, tmp: Path) -> dict:
    postgres = TemporaryPostgres(options.postgres) if options.postgres else None
    helpers: list[Helper] = []
    started = time.perf_counter()
    try:
        infos = []
        for size in (options.small, options.large):
            env = dict(os.environ, DJANGO_SETTINGS_MODULE="gradent.settings", GRADENT_DATA_DIR=str(tmp / str(size)))
            for name in ("DATABASE_URL", "REDIS_URL", "GRADENT_SQLITE_PATH"):
                env.pop(name, None)
            if postgres:
                env["DATABASE_URL"] = postgres.create()
            helpers.append(Helper(size, env))
        infos = [h.read() for h in helpers]  # both set up
        small, large = helpers
        for round_ in range(options.rounds):
            order = (small, large) if round_ % 2 == 0 else (large, small)
            for h in order:
                h.turn(options.ticks)
        for h in helpers:
            h.close()
    finally:
        for h in helpers:
            if h.process.poll() is None:
                h.process.kill()
        if postgres:
            postgres.drop_all()
    small_summary, large_summary = (h.summary(info) for h, info in zip(helpers, infos, strict=True))
    difference = large_summary["tick_ms"] / small_summary["tick_ms"] - 1
    sql_difference = large_summary["sql_ms"] / small_summary["sql_ms"] - 1
    return {
        "database": infos[0]["database"],
        "ticks_per_round": options.ticks,
        "rounds": options.rounds,
        "small": small_summary,
        "large": large_summary,
        "difference_pct": round(difference * 100, 1),
        "sql_difference_pct": round(sql_difference * 100, 1),
        "target_pct": TARGET_DIFFERENCE * 100,
        "meets_target": difference < TARGET_DIFFERENCE,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="schedules in the baseline (default 1,000)")
    parser.add_argument("--large", type=int, default=100_000, help="schedules in the large case (default 100,000)")
    parser.add_argument("--ticks", type=int, default=100, help="timed ticks per turn (default 100)")
    parser.add_argument("--rounds", type=int, default=10, help="turns per size (default 10)")
    parser.add_argument("--postgres", metavar="URL", help="use temporary databases on this PostgreSQL server")
    parser.add_argument("--helper", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    if options.helper is not None:
        helper(options.helper)
        return
    if options.large <= options.small:
        parser.error("--large must be more than --small")
    with tempfile.TemporaryDirectory(prefix="gradent-bench-") as tmp:
        result = compare(options, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
