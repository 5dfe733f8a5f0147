"""Lists: search and a date range on runs, skip streaks on one line, schedules with their
last run and next fire, threads titled by agent and start, duplicate names warned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Run, RunSource, RunStatus, Thread
from agents.templatetags.runs import collapse_skips
from proactive.models import Schedule
from proactive.services import schedule_save
from tests.helpers import make_agent, make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

OVERLAP = "Overlap policy 'skip': run #{} is still running."


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    return client


def make_run(agent, **fields) -> Run:
    return Run.objects.create(workspace=agent.workspace, agent=agent, **fields)


def listed(response) -> list[int]:
    return [run.pk for run in response.context["runs"]]


def test_runs_are_searched_by_agent_reason_output_task_and_id(page, alice):
    weather = make_agent(alice, name="Weather")
    other = make_agent(alice, name="Mailer")
    by_name = make_run(weather, status=RunStatus.SUCCEEDED)
    by_output = make_run(other, status=RunStatus.SUCCEEDED, output="The tide is high")
    by_task = make_run(other, input={"task": "Sort the TIDE tables"})
    by_reason = make_run(other, status=RunStatus.FAILED, reason="Provider answered 503")
    url = reverse("agents:runs")
    assert listed(page.get(url, {"q": "weath"})) == [by_name.pk]
    assert sorted(listed(page.get(url, {"q": "tide"}))) == sorted([by_output.pk, by_task.pk])
    assert listed(page.get(url, {"q": "503"})) == [by_reason.pk]
    assert listed(page.get(url, {"q": f"#{by_task.pk}"})) == [by_task.pk]


def test_runs_are_filtered_by_a_date_range_both_days_included(page, alice):
    agent = make_agent(alice)
    now = timezone.now()
    old, mid, new = (make_run(agent) for _ in range(3))
    Run.objects.filter(pk=old.pk).update(created=now - timedelta(days=10))
    Run.objects.filter(pk=mid.pk).update(created=now - timedelta(days=5))
    day = timezone.localdate(now - timedelta(days=5))
    url = reverse("agents:runs")
    assert listed(page.get(url, {"since": day.isoformat(), "until": day.isoformat()})) == [mid.pk]
    assert listed(page.get(url, {"since": day.isoformat()})) == [new.pk, mid.pk]
    assert listed(page.get(url, {"until": day.isoformat()})) == [mid.pk, old.pk]
    backwards = page.get(url, {"since": day.isoformat(), "until": (day - timedelta(days=1)).isoformat()})
    assert "Must be on or after the From date." in backwards.content.decode()
    assert "Search" in page.get(url).content.decode()


def test_a_streak_of_overlap_skips_is_one_line(page, alice):
    agent = make_agent(alice, name="Busy")
    running = make_run(agent, status=RunStatus.RUNNING)
    for _ in range(37):
        make_run(agent, status=RunStatus.SKIPPED, reason=OVERLAP.format(running.pk), source=RunSource.SCHEDULE)
    lone = make_run(agent, status=RunStatus.SUCCEEDED)
    make_run(agent, status=RunStatus.SKIPPED, reason=OVERLAP.format(running.pk))
    html = page.get(reverse("agents:runs")).content.decode()
    assert html.count("skipped ×37, overlap") == 1
    assert f"#{lone.pk}" in html
    # a single skip stays a plain row
    assert "skipped ×1" not in html
    rows = collapse_skips(Run.objects.filter(agent=agent).order_by("-id"))
    assert [row.count for row in rows] == [0, 0, 37, 0]


def test_skips_for_different_reasons_or_agents_are_not_merged(alice):
    first, second = make_agent(alice, name="A"), make_agent(alice, name="B")
    runs = [
        make_run(first, status=RunStatus.SKIPPED, reason=OVERLAP.format(1)),
        make_run(second, status=RunStatus.SKIPPED, reason=OVERLAP.format(2)),
        make_run(second, status=RunStatus.SKIPPED, reason="Agent is paused: by me"),
        make_run(second, status=RunStatus.SKIPPED, reason="Agent is paused: by me"),
    ]
    rows = collapse_skips(runs)
    assert [row.count for row in rows] == [0, 0, 2]
    assert rows[2].label == "agent paused"


def test_the_schedule_list_shows_the_last_run_and_the_next_fire(page, alice):
    agent = make_agent(alice)
    schedule = schedule_save(Schedule(workspace_id=agent.workspace_id, agent=agent, cron_expression="0 9 * * *"))
    run = make_run(agent, status=RunStatus.FAILED, source=RunSource.SCHEDULE, source_ref=schedule.source_ref)
    Schedule.objects.filter(pk=schedule.pk).update(last_run=run)
    html = page.get(reverse("proactive:schedules")).content.decode()
    assert "<th>Last run</th>" in html and "<th>Next fire</th>" in html
    assert f'href="{reverse("agents:run", args=[run.pk])}"><span class="badge status-failed"' in html
    schedule.refresh_from_db()
    assert f'datetime="{schedule.next_fire_at.isoformat()}"' in html or schedule.next_fire_at.strftime("%Y") in html


def test_threads_are_titled_by_agent_and_start(page, alice):
    agent = make_agent(alice, name="Greeter")
    thread = agent.primary_thread()
    started = timezone.localtime(thread.created).strftime("%Y-%m-%d %H:%M")
    html = page.get(reverse("agents:threads")).content.decode()
    assert "Greeter · started <time" in html and started in html
    Thread.objects.create(workspace=agent.workspace, agent=agent, title="Support chat")
    html = page.get(reverse("agents:threads")).content.decode()
    assert "Support chat" in html
    detail = page.get(reverse("agents:thread", args=[thread.pk])).content.decode()
    assert "Greeter · started" in detail


def test_a_duplicate_agent_name_is_warned_not_refused(page, alice):
    make_agent(alice, name="Greeter")
    workspace = personal_workspace_for(alice)
    check = page.get(reverse("agents:name_check"), {"name": "greeter", "workspace": workspace.pk})
    assert "1 other agent in this workspace is already named “greeter”" in check.content.decode()
    assert (
        "already named"
        not in page.get(reverse("agents:name_check"), {"name": "Other", "workspace": workspace.pk}).content.decode()
    )
    from tests.pages.test_pages import form_data

    response = page.post(reverse("agents:create"), form_data(name="Greeter", workspace=str(workspace.pk)), follow=True)
    assert response.status_code == 200
    assert "already named “Greeter”" in response.content.decode()
    assert workspace.agents.filter(name="Greeter").count() == 2
    edit = page.get(reverse("agents:edit", args=[workspace.agents.last().pk])).content.decode()
    assert "already named “Greeter”" in edit and 'hx-get="/agents/name-check/"' in edit


def test_the_name_check_does_not_look_into_other_workspaces(page, alice):
    agent = make_agent(make_user("bob"), name="Secret project")
    check = page.get(reverse("agents:name_check"), {"name": "Secret project", "workspace": agent.workspace_id})
    assert "already named" not in check.content.decode()


def test_a_duplicate_schedule_name_is_warned_not_refused(page, alice):
    agent = make_agent(alice)
    schedule_save(Schedule(workspace_id=agent.workspace_id, agent=agent, cron_expression="0 9 * * *", name="Daily"))
    check = page.get(reverse("proactive:schedule_name_check"), {"name": "Daily", "agent": agent.pk})
    assert "1 other schedule in this workspace is already named “Daily”" in check.content.decode()
    data = {
        "agent": agent.pk, "name": "Daily", "kind": "cron", "cron_expression": "0 10 * * *", "timezone": "UTC",
        "misfire_policy": "run_once", "misfire_grace_seconds": 3600, "max_catchup": 10, "jitter_seconds": 0,
        "enabled": "on",
    }  # fmt: skip
    response = page.post(reverse("proactive:schedule_create"), data, follow=True)
    assert Schedule.objects.filter(name="Daily").count() == 2, response.content.decode()[:3000]
    assert "already named “Daily”" in response.content.decode()
