"""A person's path through the schedule pages, in a real Chromium: log in, create a schedule
through the form while the live preview follows, then let the dispatcher's schedule source
fire it and see the run succeed on the schedule's page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Agent, Run, RunSource, RunStatus
from proactive.models import Schedule
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.browser

PASSWORD = "pw-Secret-123"
SCRIPT = {
    "steps": [
        {"tool": "remember", "args": {"key": "last", "value": "{{ input.task }}"}},
        {"tool": "finish", "args": {"answer": "report: {{ input.task }}"}},
    ]
}


@pytest.fixture
def run_runs_inline(monkeypatch):
    """django-q2 executes enqueued tasks in-process when the transaction that started the
    run commits. Conf is read once at import, so it is patched."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_a_user_creates_a_schedule_with_a_live_preview_and_sees_it_fire(page, live_server, run_runs_inline, screenshot):
    from playwright.sync_api import expect

    from proactive.sources import ScheduleSource

    user = get_user_model().objects.create_user(username="ada", password=PASSWORD)
    agent = Agent.objects.create(
        workspace=personal_workspace_for(user),
        name="Reporter",
        provider="scripted",
        provider_settings=SCRIPT,
        allowed_tools=["remember", "finish"],
        overlap_policy="allow",
    )
    log_in(page, live_server, "ada")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    page.get_by_role("link", name="New schedule").click()
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("Fill in the timing")

    page.get_by_label("Agent", exact=True).select_option(str(agent.pk))
    page.get_by_label("Name", exact=True).fill("Minute report")
    page.get_by_label("Task", exact=True).fill("the minute report")
    page.get_by_label("Timezone").fill("Europe/Riga")

    # A cron expression first: a bad one gets the exact error, a good one its next fires.
    page.get_by_label("Cron expression").fill("0 0 31 4 *")
    expect(preview).to_contain_text("day-of-month 31 never occurs in April")
    page.get_by_label("Cron expression").fill("30 3 * * *")
    expect(preview).to_contain_text("At 03:30")
    expect(preview.locator("ol.fires li")).to_have_count(10)
    expect(preview).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d 03:30 EE(S)?T"))

    # Then an interval of 60 s: the form shows only the interval field, the preview follows.
    page.get_by_label("Kind", exact=True).select_option("interval")
    expect(page.get_by_label("Cron expression")).to_be_hidden()
    page.get_by_label("Interval (seconds)").fill("60")
    expect(preview).to_contain_text("Every minute")
    expect(preview.locator("ol.fires li")).to_have_count(10)
    screenshot(page, "screenshot-schedule-form.png")
    page.get_by_role("button", name="Create schedule").click()

    schedule = Schedule.objects.get()
    page.wait_for_url(re.compile(rf"/proactive/schedules/{schedule.pk}/$"))
    expect(page.get_by_text("Schedule “Minute report” created.")).to_be_visible()
    assert schedule.agent == agent
    assert schedule.kind == Schedule.Kind.INTERVAL
    assert schedule.interval_seconds == 60
    assert schedule.timezone == "Europe/Riga"
    assert schedule.next_fire_at is not None
    expect(page.locator("section", has=page.get_by_role("heading", name="Runs"))).to_contain_text("No runs yet")

    # Make it due (a slot one second ago, on its 60 s grid) and let the dispatcher's
    # schedule source do what it does every tick.
    due = timezone.now() - timedelta(seconds=1)
    Schedule.objects.filter(pk=schedule.pk).update(anchor=due - timedelta(seconds=60), next_fire_at=due)
    ScheduleSource().tick(timezone.now())
    schedule.refresh_from_db()
    assert schedule.last_fire_at == due
    assert schedule.next_fire_at == due + timedelta(seconds=60)

    run = Run.objects.get(agent=agent)
    assert run.source == RunSource.SCHEDULE
    assert run.source_ref == schedule.source_ref
    assert run.status == RunStatus.SUCCEEDED, run.reason or run.error
    assert run.output == "report: the minute report"

    page.reload()
    row = page.locator("table.runs tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_role("link", name=f"#{run.pk}")).to_be_visible()
    expect(row.locator(".badge[data-status]")).to_have_text("Succeeded")
    expect(row).to_contain_text(re.compile(r"EE(S)?T"))  # the slot, in the schedule's zone
    screenshot(page, "screenshot-schedule.png")

    row.get_by_role("link", name=f"#{run.pk}").click()
    expect(page.locator("pre.output")).to_have_text("report: the minute report")
