"""System test: several real dispatchers share the schedules without a double or a lost fire.

Two `manage.py dispatch` processes run against the test database while many interval
schedules come due, a fixed number of slots each (an inclusive end window). Every slot must
be fired exactly once: no slot twice (the claim uses SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL, and the unique `Run.slot_key` backs it up), none missed (no `missed` run, no
gap between consecutive slots), no schedule disabled by an error, and neither dispatcher
may crash or log an error on the way.

The PostgreSQL load is more than two dispatchers sustain on a small machine (1,000
schedules every 5 s = 200 fires/s; measured ~60-100/s on 2 vCPUs), on purpose: both stay
busy racing for the same rows for the whole test, and they fall behind. Falling behind is
lateness, not loss, so GRADENT_FIRE_LATE_SECONDS is raised for these dispatchers: a late
slot must still fire, once; the worst lag is printed.

No workers run: the assertion is about slots, so the runs stay `queued` (their tasks wait
in the ORM broker's queue: ten thousand small rows at most).

The PostgreSQL tests are skipped on SQLite; CI runs them with DATABASE_URL set: 1,000
schedules of one agent x 10 slots (~2.5 min on 2 vCPUs), and 500 schedules of 3 agents x 4
slots (~30 s; two dispatchers starting runs of different agents in different orders:
this is the one that caught the batch-transaction deadlock). The SQLite test (100
schedules x 10 slots, ~30 s) is their small sibling:
SQLite has no SKIP LOCKED, its IMMEDIATE transactions serialise the dispatchers instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, F, Max
from django.utils import timezone

from agents.models import Agent, DispatcherHeartbeat, Run, RunSource, RunStatus
from proactive.models import Schedule
from proactive.services import schedule_compute_next
from tests.helpers import make_user
from tests.system.conftest import base_env, wait_for
from tests.system.conftest import test_database_env as database_env
from workspaces.models import personal_workspace_for

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

FIRES = 10
# A slot fired later than this would be recorded as `missed` (production default: 60 s).
FIRE_LATE_SECONDS = 900
# How long the dispatchers may take beyond the last slot before the test gives up.
CATCH_UP_SECONDS = 240
NEEDS_POSTGRESQL = "needs PostgreSQL: set DATABASE_URL (CI runs it)"


@dataclass
class Outcome:
    schedules: list[Schedule]
    seconds: float  # from the first slot until every schedule had fired its last one
    busy_ticks: dict[int, int]  # dispatcher pid -> ticks seen that fired something
    outputs: dict[str, str]  # dispatcher name -> its whole output


def scripted_agents(count: int) -> list[Agent]:
    """`count` no-op scripted agents in one workspace."""
    workspace = personal_workspace_for(make_user("scheduler"))
    workspace.runs_per_hour = 1_000_000  # the hourly quota is not what is tested
    workspace.save(update_fields=["runs_per_hour"])
    return [
        Agent.objects.create(
            workspace=workspace,
            name=f"Scheduled no-op {n}",
            provider="scripted",
            provider_settings={"steps": [], "answer": "ok"},
            overlap_policy="allow",
            auto_pause_after=0,
        )
        for n in range(count)
    ]


def make_schedules(
    agents: list[Agent], *, count: int, interval: int, fires: int, first_slot: datetime
) -> list[Schedule]:
    """`count` interval schedules, dealt round-robin to `agents`, with `fires` slots each (an
    inclusive end window) and anchors spread evenly over one interval, so that some slot
    comes due every few milliseconds."""
    now = timezone.now()
    assert first_slot > now
    schedules = []
    for i in range(count):
        anchor = first_slot + timedelta(seconds=interval * i / count)
        schedule = Schedule(
            workspace=agents[0].workspace,
            agent=agents[i % len(agents)],
            name=f"every {interval}s #{i}",
            kind=Schedule.Kind.INTERVAL,
            interval_seconds=interval,
            anchor=anchor,
            end_at=anchor + timedelta(seconds=interval * (fires - 1)),
            timezone="UTC",
            overlap_policy="allow",
        )
        # What schedule_save computes, without a thousand single-row INSERTs.
        schedule.next_fire_at = schedule_compute_next(schedule, after=now)
        assert schedule.next_fire_at == anchor
        schedules.append(schedule)
    return Schedule.objects.bulk_create(schedules, batch_size=500)


def dispatcher_env() -> dict[str, str]:
    return base_env(
        **database_env(),
        GRADENT_DISPATCHER_MAX_SLEEP="0.5",
        GRADENT_FIRE_LATE_SECONDS=str(FIRE_LATE_SECONDS),
        GRADENT_MINING_INTERVAL="0",
        # No workers run: keep the dispatcher from re-sending the waiting runs' tasks.
        GRADENT_QUEUED_STALE_SECONDS="3600",
        PYTHONUNBUFFERED="1",
    )


def fire_with_two_dispatchers(start_service, *, count: int, interval: int, fires: int, agents: int) -> Outcome:
    owners = scripted_agents(agents)
    env = dispatcher_env()
    dispatchers = [start_service(f"dispatch-{n}", "dispatch", env=env) for n in (1, 2)]
    pids = {d.pid for d in dispatchers}

    def check_alive() -> None:
        for d in dispatchers:
            assert d.alive(), f"{d.name} exited with {d.process.returncode}:\n{d.output()[-5000:]}"

    def both_beating() -> bool:
        check_alive()
        names = DispatcherHeartbeat.objects.values_list("name", flat=True)
        return {int(name.rsplit(":", 1)[1]) for name in names} >= pids

    wait_for(both_beating, timeout=60, interval=0.2, what="a heartbeat from both dispatchers")

    first_slot = (timezone.now() + timedelta(seconds=3)).replace(microsecond=0)
    schedules = make_schedules(owners, count=count, interval=interval, fires=fires, first_slot=first_slot)
    last_slot = max(s.end_at for s in schedules)

    # Until no schedule has a next fire (each passed its end window), noting which
    # dispatcher does the work.
    busy_ticks: dict[int, int] = defaultdict(int)
    seen: set[tuple[str, datetime]] = set()

    def all_fired() -> bool:
        check_alive()
        for name, beat, info in DispatcherHeartbeat.objects.values_list("name", "last_beat", "info"):
            if (name, beat) not in seen and (info or {}).get("done"):
                seen.add((name, beat))
                busy_ticks[int(name.rsplit(":", 1)[1])] += 1
        return not Schedule.objects.filter(enabled=True, next_fire_at__isnull=False).exists()

    timeout = (last_slot - timezone.now()).total_seconds() + CATCH_UP_SECONDS
    wait_for(all_fired, timeout=timeout, interval=0.05, what=f"{count} schedules to fire {fires} slots each")
    seconds = (timezone.now() - first_slot).total_seconds()

    # Both survived the race and stop cleanly.
    check_alive()
    for d in dispatchers:
        assert d.stop(timeout=15) == 0, f"{d.name} did not stop cleanly:\n{d.output()[-5000:]}"
    return Outcome(schedules, seconds, dict(busy_ticks), {d.name: d.output() for d in dispatchers})


def assert_quiet(outcome: Outcome) -> None:
    """No traceback or error in the dispatchers' output (say, an IntegrityError or a
    deadlock that a source caught and logged), and both said goodbye."""
    for name, output in outcome.outputs.items():
        lines = output.splitlines()
        alarming = [line for line in lines if "Traceback" in line or " ERROR " in line or " CRITICAL " in line]
        assert not alarming, f"{name} logged {len(alarming)} error line(s), e.g.:\n" + "\n".join(alarming[:5])
        assert "stopped" in lines[-1], lines[-1]


def assert_every_slot_fired_once(outcome: Outcome, *, interval: int, fires: int) -> None:
    schedules = outcome.schedules
    step = timedelta(seconds=interval)

    # No schedule was disabled by an error on the way.
    broken = list(Schedule.objects.exclude(error="").values_list("id", "error")[:3])
    assert not broken, f"{Schedule.objects.exclude(error='').count()} schedule(s) disabled, e.g. {broken}"
    assert not Schedule.objects.filter(enabled=False).exists()

    runs = Run.objects.filter(source=RunSource.SCHEDULE)
    statuses = dict(runs.values_list("status").annotate(n=Count("id")))
    # 0 missed: no slot was found later than GRADENT_FIRE_LATE_SECONDS.
    missed = list(runs.filter(status=RunStatus.MISSED).values_list("reason", flat=True)[:3])
    assert RunStatus.MISSED not in statuses, (statuses, missed)
    # Nothing else held them back either (quota, paused agent, overlap): all are waiting.
    assert statuses == {RunStatus.QUEUED: len(schedules) * fires}, statuses

    slots: dict[str, list[datetime]] = defaultdict(list)
    for source_ref, scheduled_for, slot_key in runs.values_list("source_ref", "scheduled_for", "slot_key"):
        slots[source_ref].append(scheduled_for)
        assert slot_key == f"{source_ref}:{scheduled_for.isoformat()}", slot_key
    assert set(slots) == {s.source_ref for s in schedules}

    last_fires = dict(Schedule.objects.values_list("id", "last_fire_at"))
    for schedule in schedules:
        fired = sorted(slots[schedule.source_ref])
        # 0 duplicates: each slot once.
        assert len(fired) == len(set(fired)) == fires, (schedule.source_ref, fired)
        # 0 missed: from the first slot to the last, consecutive slots are one interval
        # apart, and they are exactly the schedule's slots.
        assert {b - a for a, b in zip(fired, fired[1:])} == {step}, (schedule.source_ref, fired)
        assert fired == [schedule.anchor + k * step for k in range(fires)], (schedule.source_ref, fired)
        assert last_fires[schedule.pk] == fired[-1]


def report(outcome: Outcome, *, count: int, interval: int, fires: int, agents: int) -> None:
    lag = Run.objects.filter(source=RunSource.SCHEDULE).aggregate(worst=Max(F("created") - F("scheduled_for")))
    print(
        f"\n{connection.vendor}: {count} schedules ({agents} agent(s)) x {fires} slots every {interval} s, "
        f"2 dispatchers: all {count * fires} fired {outcome.seconds:.1f} s after the first slot "
        f"(ideal {interval * fires} s), worst fire lag {lag['worst'].total_seconds():.1f} s; "
        f"busy ticks seen per dispatcher: {sorted(outcome.busy_ticks.values())}"
    )


def check(start_service, *, count: int, interval: int, fires: int = FIRES, agents: int = 1) -> None:
    outcome = fire_with_two_dispatchers(start_service, count=count, interval=interval, fires=fires, agents=agents)
    assert_every_slot_fired_once(outcome, interval=interval, fires=fires)
    assert_quiet(outcome)
    report(outcome, count=count, interval=interval, fires=fires, agents=agents)
    # Both dispatchers took part (on PostgreSQL, SKIP LOCKED shares the due rows).
    assert len(outcome.busy_ticks) == 2, outcome.busy_ticks


def test_two_dispatchers_fire_1000_schedules_x_10_once_each_on_postgresql(start_service):
    if connection.vendor != "postgresql":
        pytest.skip(NEEDS_POSTGRESQL)
    check(start_service, count=1000, interval=5)


def test_two_dispatchers_fire_500_schedules_of_3_agents_once_each_on_postgresql(start_service):
    """Schedules dealt over three agents of one workspace: the two dispatchers now start
    runs of different agents at the same time, in different orders."""
    if connection.vendor != "postgresql":
        pytest.skip(NEEDS_POSTGRESQL)
    check(start_service, count=500, interval=5, fires=4, agents=3)


def test_two_dispatchers_fire_100_schedules_x_10_once_each_on_sqlite(start_service):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant of the PostgreSQL tests above")
    check(start_service, count=100, interval=2, agents=2)
