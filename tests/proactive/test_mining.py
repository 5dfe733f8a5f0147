from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from agents.models import Run
from proactive.mining import find_patterns, mine_suggestions, suggestion_accept
from proactive.models import Monitor, MonitorCheck, Schedule, Suggestion
from proactive.services import schedule_save
from tests.helpers import auth, make_agent, make_user, token_for

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def manual_run(agent, when):
    run = Run.objects.create(workspace=agent.workspace, agent=agent, source="manual", status="succeeded")
    Run.objects.filter(pk=run.pk).update(created=when)
    return run


def test_it_suggests_a_weekday_schedule_for_an_agent_run_by_hand_at_the_same_time(settings):
    settings.TIME_ZONE = "UTC"
    agent = make_agent()
    # Mon-Wed of one week, around 08:58-09:04.
    for day, minute in ((16, 58), (17, 4), (18, 1)):
        hour = 8 if minute > 30 else 9
        manual_run(agent, datetime(2026, 3, day, hour, minute, tzinfo=UTC))
    manual_run(agent, datetime(2026, 3, 18, 17, 0, tzinfo=UTC))  # an outlier
    (pattern,) = find_patterns(agent.workspace, now=NOW)
    assert pattern["proposal"]["cron_expression"] == "0 9 * * 1-5"
    assert len(pattern["evidence"]["runs"]) == 3
    (suggestion,) = mine_suggestions(agent.workspace, now=NOW)
    assert mine_suggestions(agent.workspace, now=NOW) == []  # never twice
    suggestion_accept(suggestion)
    schedule = Schedule.objects.get(agent=agent)
    assert (schedule.cron_expression, schedule.enabled) == ("0 9 * * 1-5", True)
    assert Suggestion.objects.get().status == "accepted"


def test_two_runs_or_one_day_are_not_a_pattern():
    agent = make_agent()
    manual_run(agent, NOW - timedelta(days=1, hours=5))
    manual_run(agent, NOW - timedelta(days=2, hours=9))
    for minutes in (0, 5, 10):  # three runs, but all on one day
        manual_run(agent, NOW - timedelta(days=3, minutes=minutes))
    assert [p for p in find_patterns(agent.workspace, now=NOW) if p["kind"] == "schedule"] == []


def test_it_suggests_calming_a_flapping_monitor():
    agent = make_agent()
    monitor = Monitor.objects.create(workspace=agent.workspace, agent=agent, name="m", condition="status == 200")
    for i in range(5):
        MonitorCheck.objects.create(monitor=monitor, checked_at=NOW - timedelta(hours=i), result=bool(i % 2),
                                    state_after="clear", flipped=True)  # fmt: skip
    (suggestion,) = mine_suggestions(agent.workspace, now=NOW)
    assert suggestion.kind == "monitor_threshold" and suggestion.proposal["trigger_after"] == 3
    suggestion_accept(suggestion)
    monitor.refresh_from_db()
    assert monitor.trigger_after == 3


def test_it_suggests_a_longer_interval_for_a_schedule_that_keeps_overlapping():
    agent = make_agent()
    schedule = schedule_save(
        Schedule(workspace=agent.workspace, agent=agent, kind="interval", interval_seconds=60, timezone="UTC")
    )
    for i in range(6):
        status, reason = ("skipped", "Overlap policy 'skip': run #1 is still running.") if i % 3 else ("succeeded", "")
        Run.objects.create(workspace=agent.workspace, agent=agent, source="schedule",
                           source_ref=schedule.source_ref, status=status, reason=reason)  # fmt: skip
    (suggestion,) = mine_suggestions(agent.workspace, now=NOW)
    assert suggestion.proposal == {"interval_seconds": 120}
    suggestion_accept(suggestion)
    schedule.refresh_from_db()
    assert schedule.interval_seconds == 120


def test_the_api_lists_accepts_dismisses_and_isolates(settings):
    settings.TIME_ZONE = "UTC"
    user = make_user()
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent = make_agent(user)
    # The API mines up to now: put the runs in the last few days, at 07:30.
    today = datetime.now(UTC).replace(hour=7, minute=30, second=0, microsecond=0)
    for days in (1, 2, 3):
        manual_run(agent, today - timedelta(days=days))
    patterns = client.get("/api/proactive/patterns").json()["patterns"]
    assert len(patterns) == 1 and patterns[0]["evidence"]["runs"]
    (suggestion,) = mine_suggestions(agent.workspace)
    listed = client.get("/api/proactive/suggestions").json()["results"]
    assert [s["id"] for s in listed] == [suggestion.pk]
    dismissed = client.post(f"/api/proactive/suggestions/{suggestion.pk}/dismiss")
    assert dismissed.json()["status"] == "dismissed"
    assert client.post(f"/api/proactive/suggestions/{suggestion.pk}/accept").status_code == 400
    assert client.get("/api/proactive/suggestions").json()["results"] == []
    assert mine_suggestions(agent.workspace) == []
    other = APIClient()
    other.credentials(**auth(token_for(make_user("bob"))))
    assert other.get(f"/api/proactive/suggestions/{suggestion.pk}").status_code == 404
    assert other.post(f"/api/proactive/suggestions/{suggestion.pk}/accept").status_code == 404
    assert other.get("/api/proactive/patterns").json()["patterns"] == []
