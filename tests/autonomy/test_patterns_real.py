"""Patterns that are real: "recurring" needs several distinct days (weekly: several distinct
weeks), and the executor's own bookkeeping events are not evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.models import Run, RunSource
from autonomy import services
from autonomy.models import AutonomousConfig, Event, Goal
from autonomy.patterns import recurring_events
from tests.helpers import make_agent, make_user
from workspaces.models import personal_workspace_for

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
T0 = MONDAY.replace(hour=12)


def test_a_burst_on_one_day_is_not_a_daily_pattern():
    burst = [("deploy", MONDAY + timedelta(hours=9, minutes=m)) for m in range(0, 50, 5)]
    assert recurring_events(burst) == []


def test_a_weekday_pattern_needs_several_distinct_weeks():
    # Five events on one Monday, at different hours: not a weekly pattern.
    one_monday = [("report", MONDAY + timedelta(hours=h)) for h in (8, 10, 13, 15, 17)]
    assert [f for f in recurring_events(one_monday) if f["weekday"] is not None] == []
    # One a Monday for three weeks, at 08:00: weekly, and daily on three distinct days.
    weekly = [("report", MONDAY + timedelta(weeks=w, hours=8)) for w in range(3)]
    found = {(f["hour"], f["weekday"]): f for f in recurring_events(weekly)}
    assert set(found) == {(8, None), (8, 0), (None, 0)}
    assert found[(None, 0)]["weeks"] == 3 and found[(8, None)]["days"] == 3


def test_the_thresholds_are_parameters():
    two_days = [("sync", MONDAY + timedelta(days=d, hours=3, minutes=m)) for d in range(2) for m in (0, 10)]
    assert recurring_events(two_days, min_days=3) == []
    assert [f["hour"] for f in recurring_events(two_days, min_days=2) if f["weekday"] is None] == [3]


@pytest.mark.django_db
def test_the_executors_own_events_open_no_pattern_goal():
    workspace = personal_workspace_for(make_user("alice"))
    executor = make_agent(workspace=workspace, name="Executor")
    AutonomousConfig.objects.create(workspace=workspace, executor=executor)
    for day in range(5):  # the executor notes each cycle at 09:05
        run = Run.objects.create(workspace=workspace, agent=executor, source=RunSource.AUTONOMY, status="succeeded")
        at = T0.replace(hour=9, minute=5) - timedelta(days=day + 1)
        Event.objects.create(workspace=workspace, event_type="demo.cycle", at=at, run=run)
    services.run_cycle(workspace, now=T0, run_executor=False)
    assert not Goal.objects.filter(goal_type="pattern_adaptation").exists()
    # The same events recorded by someone else are evidence.
    Event.objects.update(run=None)
    services.run_cycle(workspace, now=T0 + timedelta(minutes=1), run_executor=False)
    assert Goal.objects.filter(goal_type="pattern_adaptation").count() == 1


@pytest.mark.django_db
def test_the_record_event_tool_links_the_event_to_its_run(run_inline):
    from gradent.demo import create_demo

    user = make_user("bob")
    create_demo(owner=user)
    workspace = personal_workspace_for(user)
    with run_inline(execute=True):
        summary = services.run_cycle(workspace, now=T0)
    event = Event.objects.get(event_type="demo.cycle")
    assert event.run_id == summary["executor_run"]
