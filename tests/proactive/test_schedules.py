"""Schedules through the dispatcher's schedule source, with a clock the test controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from agents.models import Run
from proactive.models import Schedule
from proactive.services import schedule_pause, schedule_resume, schedule_save
from proactive.sources import ScheduleSource
from tests.helpers import auth, make_agent, make_user, token_for

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_schedule(agent, *, now, **fields) -> Schedule:
    defaults = {"kind": "cron", "cron_expression": "0 9 * * *", "timezone": "UTC"}
    schedule = Schedule(workspace=agent.workspace, agent=agent, **{**defaults, **fields})
    return schedule_save(schedule, now=now)


def tick(now):
    return ScheduleSource().tick(now)


def runs_of(schedule):
    return list(Run.objects.filter(source_ref=schedule.source_ref).order_by("id"))


def test_it_fires_a_due_slot_once_and_advances():
    agent = make_agent()
    schedule = make_schedule(agent, now=utc(2026, 3, 1, 8, 0), task_description="Daily report")
    assert schedule.next_fire_at == utc(2026, 3, 1, 9, 0)
    assert tick(utc(2026, 3, 1, 8, 59, 59)).done == 0
    tick(utc(2026, 3, 1, 9, 0, 1))
    tick(utc(2026, 3, 1, 9, 0, 2))
    runs = runs_of(schedule)
    assert len(runs) == 1
    run = runs[0]
    assert (run.status, run.source, run.input["task"]) == ("queued", "schedule", "Daily report")
    assert run.scheduled_for == utc(2026, 3, 1, 9, 0)
    schedule.refresh_from_db()
    assert schedule.next_fire_at == utc(2026, 3, 2, 9, 0)
    assert schedule.last_run_id == run.pk


def test_it_fires_in_the_schedules_own_timezone():
    agent = make_agent()
    schedule = make_schedule(agent, now=utc(2026, 7, 1, 0, 0), timezone="America/New_York")
    assert schedule.next_fire_at == utc(2026, 7, 1, 13, 0)  # 09:00 EDT
    winter = make_schedule(agent, now=utc(2026, 12, 1, 0, 0), timezone="America/New_York", name="w")
    assert winter.next_fire_at == utc(2026, 12, 1, 14, 0)  # 09:00 EST


def test_a_slot_fires_once_even_when_the_schedule_is_ticked_from_a_stale_copy():
    agent = make_agent()
    schedule = make_schedule(agent, now=utc(2026, 3, 1, 8, 0))
    from proactive.services import schedule_fire_due

    stale = Schedule.objects.get(pk=schedule.pk)
    schedule_fire_due(Schedule.objects.get(pk=schedule.pk), now=utc(2026, 3, 1, 9, 0, 1))
    schedule_fire_due(stale, now=utc(2026, 3, 1, 9, 0, 2))  # a second dispatcher's view
    assert len(runs_of(schedule)) == 1


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", {"missed": 1, "queued": 0}),
        ("run_once", {"missed": 1, "queued": 1}),
        ("run_all", {"missed": 1, "queued": 3}),
    ],
)
def test_misfire_policies_after_downtime(policy, expected):
    agent = make_agent()
    schedule = make_schedule(
        agent,
        now=utc(2026, 3, 1, 0, 0),
        cron_expression="0 * * * *",
        misfire_policy=policy,
        misfire_grace_seconds=3 * 3600 + 60,
    )
    # The dispatcher was down from 01:00 to 06:30: six hourly slots missed.
    tick(utc(2026, 3, 1, 6, 30))
    runs = runs_of(schedule)
    counts = {status: sum(r.status == status for r in runs) for status in ("missed", "queued")}
    assert counts == expected
    missed = next(r for r in runs if r.status == "missed")
    assert "s late (the dispatcher was down or behind)" in missed.reason
    assert policy in missed.reason
    if policy == "run_once":
        ran = next(r for r in runs if r.status == "queued")
        assert ran.scheduled_for == utc(2026, 3, 1, 6, 0)
        assert ran.input["missed_fires"] == 5
    if policy == "run_all":
        fired = sorted(r.scheduled_for for r in runs if r.status == "queued")
        assert fired == [utc(2026, 3, 1, 4, 0), utc(2026, 3, 1, 5, 0), utc(2026, 3, 1, 6, 0)]
        assert missed.input["missed_fires"] == 3
    schedule.refresh_from_db()
    assert schedule.next_fire_at == utc(2026, 3, 1, 7, 0)


def test_run_all_is_bounded_by_max_catchup():
    agent = make_agent()
    schedule = make_schedule(
        agent, now=utc(2026, 3, 1, 0, 0), cron_expression="*/5 * * * *", misfire_policy="run_all",
        misfire_grace_seconds=86400, max_catchup=4,
    )  # fmt: skip
    tick(utc(2026, 3, 1, 2, 0, 30))
    runs = runs_of(schedule)
    assert sum(r.status == "queued" for r in runs) == 4 + 1  # 4 caught up + the on-time 02:00 slot
    assert sum(r.status == "missed" for r in runs) == 1


def test_the_overlap_policy_override_records_a_skipped_fire():
    agent = make_agent(overlap_policy="allow")
    schedule = make_schedule(agent, now=utc(2026, 3, 1, 0, 0), cron_expression="0 * * * *", overlap_policy="skip")
    Run.objects.create(workspace=agent.workspace, agent=agent, status="running")
    tick(utc(2026, 3, 1, 1, 0, 1))
    (run,) = runs_of(schedule)
    assert run.status == "skipped" and "Overlap policy 'skip'" in run.reason
    assert run.scheduled_for == utc(2026, 3, 1, 1, 0)


def test_a_paused_schedule_owes_nothing_on_resume():
    agent = make_agent()
    schedule = make_schedule(agent, now=utc(2026, 3, 1, 0, 0), cron_expression="0 * * * *")
    schedule_pause(schedule)
    assert tick(utc(2026, 3, 1, 5, 0, 1)).done == 0
    schedule_resume(schedule, now=utc(2026, 3, 1, 5, 10))
    assert schedule.next_fire_at == utc(2026, 3, 1, 6, 0)
    assert runs_of(schedule) == []


def test_a_one_off_schedule_fires_once_and_disables_itself():
    agent = make_agent()
    schedule = make_schedule(agent, now=utc(2026, 3, 1, 0, 0), kind="once", run_at=utc(2026, 3, 1, 12, 0))
    tick(utc(2026, 3, 1, 12, 0, 1))
    schedule.refresh_from_db()
    assert len(runs_of(schedule)) == 1
    assert (schedule.enabled, schedule.next_fire_at) == (False, None)


def test_an_interval_schedule_counts_from_its_anchor():
    agent = make_agent()
    schedule = make_schedule(
        agent, now=utc(2026, 3, 1, 0, 0, 10), kind="interval", interval_seconds=600, anchor=utc(2026, 3, 1, 0, 0)
    )
    assert schedule.next_fire_at == utc(2026, 3, 1, 0, 10)


def test_one_broken_schedule_is_disabled_and_does_not_block_the_others(monkeypatch):
    agent = make_agent()
    good = make_schedule(agent, now=utc(2026, 3, 1, 0, 0), name="good")
    bad = make_schedule(agent, now=utc(2026, 3, 1, 0, 0), name="bad")
    Schedule.objects.filter(pk=bad.pk).update(timezone="Mars/Olympus_Mons")
    tick(utc(2026, 3, 1, 9, 0, 1))
    bad.refresh_from_db()
    good.refresh_from_db()
    assert not bad.enabled and "Mars/Olympus_Mons" in bad.error
    assert len(runs_of(good)) == 1 and good.next_fire_at == utc(2026, 3, 2, 9, 0)


def test_jitter_delays_the_run_within_the_window():
    agent = make_agent()
    schedule = make_schedule(agent, now=utc(2026, 3, 1, 0, 0), jitter_seconds=120)
    tick(utc(2026, 3, 1, 9, 0, 1))
    (run,) = runs_of(schedule)
    assert utc(2026, 3, 1, 9, 0) <= run.not_before <= utc(2026, 3, 1, 9, 2)
    assert run.scheduled_for == utc(2026, 3, 1, 9, 0)


def test_the_agent_level_schedule_fields_manage_the_agents_own_schedule():
    user = make_user()
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent_id = client.post(
        "/api/agents/", {"name": "a", "provider": "scripted", "schedule": "30 7 * * 1-5", "run_on_schedule": True},
        format="json",
    ).json()["id"]  # fmt: skip
    schedule = Schedule.objects.get(agent_id=agent_id, is_agent_schedule=True)
    assert (schedule.cron_expression, schedule.enabled) == ("30 7 * * 1-5", True)
    client.patch(f"/api/agents/{agent_id}/", {"run_on_schedule": False}, format="json")
    schedule.refresh_from_db()
    assert not schedule.enabled
    bad = client.patch(f"/api/agents/{agent_id}/", {"schedule": "61 * * * *"}, format="json")
    assert bad.status_code == 400 and "schedule" in bad.json()


class TestScheduleAPI:
    @pytest.fixture
    def client(self):
        self.user = make_user()
        client = APIClient()
        client.credentials(**auth(token_for(self.user)))
        return client

    def test_it_creates_a_schedule_from_the_original_fields(self, client):
        agent = make_agent(self.user)
        response = client.post(
            "/api/proactive/schedules",
            {"agent_id": agent.pk, "workspace_id": agent.workspace_id, "cron_expression": "0 9 * * 1-5",
             "timezone": "Europe/Riga", "task_description": "Morning summary"},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["description"].startswith("At 09:00")
        assert body["next_fire_at"] is not None
        preview = client.get(f"/api/proactive/schedules/{body['id']}/preview?count=3").json()
        assert preview["timezone"] == "Europe/Riga" and len(preview["fires"]) == 3

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"cron_expression": "0 0 31 4 *"}, "cron_expression"),
            ({"cron_expression": "0 9 * * *", "timezone": "Europe/Atlantis"}, "timezone"),
            ({"kind": "interval"}, "interval_seconds"),
            ({"kind": "once"}, "run_at"),
            ({"cron_expression": "0 9 * * *", "misfire_policy": "sometimes"}, "misfire_policy"),
        ],
    )
    def test_it_rejects_bad_schedules_naming_the_field(self, client, body, field):
        agent = make_agent(self.user)
        response = client.post("/api/proactive/schedules", {"agent_id": agent.pk, **body}, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()
        assert Schedule.objects.count() == 0

    def test_it_previews_an_unsaved_expression_with_dst_marked(self, client):
        response = client.post(
            "/api/proactive/schedules/preview",
            {"cron_expression": "30 2 * * *", "timezone": "Europe/Riga", "count": 5},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert len(response.json()["fires"]) == 5
        bad = client.post("/api/proactive/schedules/preview", {"cron_expression": "0 0 30 2 *"}, format="json")
        assert bad.status_code == 400 and "February" in str(bad.json()["cron_expression"])

    def test_run_pause_resume_and_isolation(self, client):
        agent = make_agent(self.user)
        schedule = make_schedule(agent, now=datetime.now(UTC))
        assert client.post(f"/api/proactive/schedules/{schedule.pk}/run").status_code == 202
        assert client.post(f"/api/proactive/schedules/{schedule.pk}/pause").json()["enabled"] is False
        assert client.post(f"/api/proactive/schedules/{schedule.pk}/resume").json()["next_fire_at"]
        other = make_agent(make_user("mallory"))
        theirs = make_schedule(other, now=datetime.now(UTC))
        for method, url in [
            ("get", f"/api/proactive/schedules/{theirs.pk}"),
            ("delete", f"/api/proactive/schedules/{theirs.pk}"),
            ("post", f"/api/proactive/schedules/{theirs.pk}/run"),
            ("post", f"/api/proactive/schedules/{theirs.pk}/pause"),
            ("get", f"/api/proactive/schedules/{theirs.pk}/preview"),
        ]:
            assert getattr(client, method)(url).status_code == 404, (method, url)
        response = client.post("/api/proactive/schedules", {"agent_id": other.pk, "cron_expression": "* * * * *"},
                               format="json")  # fmt: skip
        assert response.status_code == 400 and "agent_id" in response.json()
        assert Schedule.objects.filter(pk=theirs.pk, enabled=True).exists()


def test_tick_cost_does_not_depend_on_schedules_that_are_not_due(django_assert_max_num_queries):
    agent = make_agent()
    now = utc(2026, 3, 1, 8, 0)
    for i in range(50):
        make_schedule(agent, now=now, name=f"s{i}")
    with django_assert_max_num_queries(4):
        tick(now + timedelta(minutes=30))


def test_many_due_schedules_fire_in_batches_with_a_bounded_number_of_queries(django_assert_max_num_queries):
    """The dispatcher's hot path: 300 schedules of 3 agents due in the same second fire in
    one batch (not one transaction per schedule), each exactly once, each advanced."""
    first = make_agent(name="agent 0")
    agents = [first] + [make_agent(name=f"agent {i}", workspace=first.workspace) for i in (1, 2)]
    before = utc(2026, 3, 1, 8, 0)
    schedules = [make_schedule(agents[i % 3], now=before, name=f"s{i}", cron_expression="0 9 * * *")
                 for i in range(300)]  # fmt: skip
    with django_assert_max_num_queries(60):  # one by one, 300 took > 2,000
        assert tick(utc(2026, 3, 1, 9, 0, 1)).done == 300
    tick(utc(2026, 3, 1, 9, 0, 2))
    by_slot = Run.objects.filter(scheduled_for=utc(2026, 3, 1, 9, 0))
    assert by_slot.count() == 300 and by_slot.filter(status="queued").count() == 300
    assert set(by_slot.values_list("source_ref", flat=True)) == {s.source_ref for s in schedules}
    advanced = Schedule.objects.filter(next_fire_at=utc(2026, 3, 2, 9, 0), last_fire_at=utc(2026, 3, 1, 9, 0))
    assert advanced.count() == 300
    last_runs = dict(Schedule.objects.values_list("id", "last_run__source_ref"))
    assert all(last_runs[s.pk] == s.source_ref for s in schedules)


def test_a_batch_fires_late_schedules_on_their_own_and_keeps_a_broken_one_out():
    """In one tick: on-time schedules go through the batch; one whose slots were missed
    takes the misfire path; a broken one is disabled; the others are not held up."""
    agent = make_agent()
    start = utc(2026, 3, 1, 8, 0)
    on_time = [make_schedule(agent, now=start, name=f"ok{i}") for i in range(5)]
    late = make_schedule(agent, now=start, name="late", cron_expression="*/10 * * * *", misfire_policy="run_once")
    Schedule.objects.filter(pk=late.pk).update(next_fire_at=utc(2026, 3, 1, 8, 10))
    broken = make_schedule(agent, now=start, name="broken")
    Schedule.objects.filter(pk=broken.pk).update(cron_expression="61 9 * * *")
    tick(utc(2026, 3, 1, 9, 0, 1))
    assert all(len(runs_of(s)) == 1 for s in on_time)
    late_runs = runs_of(late)
    assert [r.status for r in late_runs] == ["missed", "queued"]
    assert late_runs[1].scheduled_for == utc(2026, 3, 1, 9, 0)
    broken.refresh_from_db()
    assert not broken.enabled and broken.error and runs_of(broken) == []


def test_a_batch_fires_what_the_schedule_says_at_the_instant():
    agent = make_agent()
    start = utc(2026, 3, 1, 8, 0)
    kept = make_schedule(agent, now=start, name="kept", task_description="as saved")
    changed = make_schedule(agent, now=start, name="changed", task_description="old task")
    paused = make_schedule(agent, now=start, name="paused")
    source = ScheduleSource()  # one source across ticks, as in the dispatcher

    far = source.tick(utc(2026, 3, 1, 8, 30))
    assert far.done == 0 and far.next_due == utc(2026, 3, 1, 9, 0)
    changed.task_description = "new task"
    schedule_save(changed, now=utc(2026, 3, 1, 8, 59, 59, 700000))
    schedule_pause(paused)

    assert source.tick(utc(2026, 3, 1, 9, 0, 0, 100000)).done == 2
    assert runs_of(kept)[0].input["task"] == "as saved"
    assert runs_of(changed)[0].input["task"] == "new task"
    assert runs_of(paused) == []
    for schedule in (kept, changed):
        schedule.refresh_from_db()
        assert schedule.next_fire_at == utc(2026, 3, 2, 9, 0)
        assert schedule.last_fire_at == utc(2026, 3, 1, 9, 0)
        assert schedule.last_run == runs_of(schedule)[0]


def test_fires_planned_while_waiting_for_the_slot_fire_as_the_schedule_is_at_the_slot(monkeypatch):
    """The tick before a slot plans its fires (ScheduleSource.plan_ahead): at the slot a
    plan is used only for a schedule unchanged since; an edited one is planned again, a
    paused or moved one does not fire."""
    from proactive import sources
    from proactive.timing import Timing

    agent = make_agent()
    start, slot = utc(2026, 3, 1, 8, 0), utc(2026, 3, 1, 9, 0)
    kept = [
        make_schedule(agent, now=start, name=f"kept{i}", input={"i": i}, jitter_seconds=30 * (i % 2)) for i in range(4)
    ]
    every_hour = make_schedule(agent, now=start, name="hourly", kind="interval", interval_seconds=3600,
                               anchor=utc(2026, 3, 1, 7, 0))  # fmt: skip
    once = make_schedule(agent, now=start, name="once", kind="once", run_at=slot)
    changed = make_schedule(agent, now=start, name="changed", task_description="old task")
    paused = make_schedule(agent, now=start, name="paused")
    moved = make_schedule(agent, now=start, name="moved")
    planned: list[int] = []
    plan = sources.schedule_plan_fire
    monkeypatch.setattr(sources, "schedule_plan_fire", lambda schedule: planned.append(schedule.pk) or plan(schedule))

    source = ScheduleSource()  # one source across ticks, as in the dispatcher
    far = source.tick(utc(2026, 3, 1, 8, 30))
    assert (far.done, far.next_due, planned) == (0, slot, [])  # too far ahead to plan
    ahead = source.tick(utc(2026, 3, 1, 8, 59, 59))
    assert (ahead.done, ahead.next_due) == (0, slot)
    assert sorted(planned) == sorted(s.pk for s in [*kept, every_hour, once, changed, paused, moved])
    assert Run.objects.count() == 0  # planned, not fired
    changed.task_description = "new task"
    schedule_save(changed, now=utc(2026, 3, 1, 8, 59, 59, 500000))
    schedule_pause(paused)
    moved.cron_expression = "0 10 * * *"
    schedule_save(moved, now=utc(2026, 3, 1, 8, 59, 59, 600000))

    planned.clear()
    assert source.tick(utc(2026, 3, 1, 9, 0, 0, 100000)).done == 7
    assert planned == [changed.pk]  # the others' plans were used
    assert runs_of(changed)[0].input["task"] == "new task"
    assert runs_of(paused) == runs_of(moved) == []
    for schedule in [*kept, every_hour, once, changed]:
        (run,) = runs_of(schedule)
        schedule.refresh_from_db()
        assert (run.status, run.scheduled_for, run.slot_key) == ("queued", slot, schedule.slot_key(slot))
        task = {"task": schedule.task_description} if schedule.task_description else {}
        assert run.input == {**schedule.input, **task}
        timing = Timing.from_schedule(schedule)
        assert run.not_before == (timing.jittered(slot, seed=schedule.source_ref) if schedule.jitter_seconds else None)
        assert (schedule.last_fire_at, schedule.last_run) == (slot, run)
    assert kept[1].jitter_seconds and runs_of(kept[1])[0].not_before > slot
    assert {s.next_fire_at for s in kept} == {utc(2026, 3, 2, 9, 0)}
    assert every_hour.next_fire_at == utc(2026, 3, 1, 10, 0)
    assert (once.next_fire_at, once.enabled) == (None, False)
    moved.refresh_from_db()
    assert moved.next_fire_at == utc(2026, 3, 1, 10, 0)
