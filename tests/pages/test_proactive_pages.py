"""The proactive pages: schedules (with the live preview), monitors, triggers, webhooks and
suggestions. Each renders for its owner, another workspace's objects are 404 on every page
and action, viewers get 403 on writes, and forms report bad input on the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agents.models import Agent, Run, RunSource, RunStatus
from proactive.models import Monitor, MonitorCheck, Schedule, Suggestion, Trigger, Webhook, WebhookDelivery
from proactive.services import schedule_save
from proactive.sources import WebhookDeliverySource
from tests.helpers import make_agent, make_user
from workspaces.models import Membership, personal_workspace_for
from workspaces.services import membership_add

pytestmark = pytest.mark.django_db

READING = {"value": 100}


def reading(config, context):
    """The callable probe of these tests' monitors."""
    return dict(READING)


@pytest.fixture(autouse=True)
def _registered_callable(settings):
    settings.GRADENT_CALLABLE_PROBES = [f"{__name__}.reading"]


# --- makers -------------------------------------------------------------------------------


def make_schedule(agent: Agent, **fields) -> Schedule:
    defaults = {"workspace_id": agent.workspace_id, "agent": agent, "cron_expression": "0 9 * * *"}
    return schedule_save(Schedule(**{**defaults, **fields}))


def make_monitor(agent: Agent, **fields) -> Monitor:
    defaults = {
        "workspace_id": agent.workspace_id,
        "agent": agent,
        "name": f"{agent.name} monitor",
        "probe": "callable",
        "probe_config": {"path": "tests.pages.test_proactive_pages.reading", "options": {}},
        "condition": "value > 150",
    }
    return Monitor.objects.create(**{**defaults, **fields})


def make_trigger(agent: Agent, **fields) -> Trigger:
    defaults = {
        "workspace_id": agent.workspace_id,
        "agent": agent,
        "name": f"{agent.name} trigger",
        "task_template": "Review PR #{{ pull_request.number }}",
    }
    return Trigger.objects.create(**{**defaults, **fields})


def make_webhook(trigger: Trigger, **fields) -> Webhook:
    defaults = {"workspace_id": trigger.workspace_id, "trigger": trigger, "scheme": "none", "secret": "s3cret"}
    return Webhook.objects.create(**{**defaults, **fields})


def make_delivery(webhook: Webhook, payload: dict | None = None, **fields) -> WebhookDelivery:
    body = json.dumps(payload if payload is not None else {"pull_request": {"number": 7}}).encode()
    defaults = {
        "webhook": webhook,
        "workspace_id": webhook.workspace_id,
        "url_path": webhook.url_path,
        "headers": {"content-type": "application/json", "x-github-event": "pull_request"},
        "body": body,
        "body_size": len(body),
        "event_type": "pull_request",
        "verdict": WebhookDelivery.Verdict.ACCEPTED,
        "status_code": 202,
    }
    return WebhookDelivery.objects.create(**{**defaults, **fields})


def make_suggestion(agent: Agent, **fields) -> Suggestion:
    defaults = {
        "workspace_id": agent.workspace_id,
        "agent": agent,
        "kind": Suggestion.Kind.SCHEDULE,
        "title": f"Schedule '{agent.name}' at 09:00 daily",
        "detail": "It was run by hand 3 times on 3 days at about this time (UTC).",
        "proposal": {"kind": "cron", "cron_expression": "0 9 * * *", "timezone": "Europe/Riga"},
        "evidence": {"runs": []},
        "fingerprint": f"schedule:agent:{agent.pk}:0 9 * * *",
    }
    return Suggestion.objects.create(**{**defaults, **fields})


def schedule_data(agent: Agent, **overrides) -> dict:
    data = {
        "agent": agent.pk,
        "name": "Morning report",
        "kind": "cron",
        "cron_expression": "0 9 * * MON-FRI",
        "interval_seconds": "",
        "run_at": "",
        "timezone": "Europe/Riga",
        "start_at": "",
        "end_at": "",
        "jitter_seconds": "0",
        "misfire_policy": "run_once",
        "misfire_grace_seconds": "3600",
        "max_catchup": "10",
        "overlap_policy": "",
        "task_description": "Write the morning report.",
        "enabled": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def monitor_data(agent: Agent, **overrides) -> dict:
    data = {
        "agent": agent.pk,
        "name": "Price watch",
        "probe": "http",
        "probe_config": '{"url": "https://example.com/price", "json_path": "data.price"}',
        "condition": "value > 150 and status == 200",
        "action": "Tell me about the price.",
        "check_interval": "300",
        "trigger_after": "1",
        "clear_after": "1",
        "cooldown_seconds": "0",
        "reminder_seconds": "0",
        "history_limit": "500",
        "enabled": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def trigger_data(agent: Agent, **overrides) -> dict:
    data = {
        "agent": agent.pk,
        "name": "PR review",
        "trigger_type": "github",
        "config": '{"events": ["pull_request"]}',
        "task_template": "Review PR #{{ pull_request.number }}",
        "enabled": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def world(alice):
    """One of everything, owned by alice."""
    agent = make_agent(alice, name="Alpha")
    trigger = make_trigger(agent)
    webhook = make_webhook(trigger)
    return {
        "agent": agent,
        "schedule": make_schedule(agent),
        "monitor": make_monitor(agent),
        "trigger": trigger,
        "webhook": webhook,
        "delivery": make_delivery(webhook),
        "suggestion": make_suggestion(agent),
    }


def page_urls(w: dict) -> list[str]:
    s, m, t, h, d = w["schedule"].pk, w["monitor"].pk, w["trigger"].pk, w["webhook"].pk, w["delivery"].pk
    return [
        reverse("proactive:schedules"),
        reverse("proactive:schedule_create"),
        reverse("proactive:schedule", args=[s]),
        reverse("proactive:schedule_edit", args=[s]),
        reverse("proactive:schedule_delete", args=[s]),
        reverse("proactive:monitors"),
        reverse("proactive:monitor_create"),
        reverse("proactive:monitor", args=[m]),
        reverse("proactive:monitor_edit", args=[m]),
        reverse("proactive:monitor_delete", args=[m]),
        reverse("proactive:triggers"),
        reverse("proactive:trigger_create"),
        reverse("proactive:trigger", args=[t]),
        reverse("proactive:trigger_edit", args=[t]),
        reverse("proactive:trigger_delete", args=[t]),
        reverse("proactive:webhooks"),
        reverse("proactive:webhook_create"),
        reverse("proactive:webhook", args=[h]),
        reverse("proactive:webhook_edit", args=[h]),
        reverse("proactive:webhook_delete", args=[h]),
        reverse("proactive:delivery", args=[h, d]),
        reverse("proactive:suggestions"),
    ]


def action_urls(w: dict) -> list[tuple[str, dict]]:
    """Every POST, with data that would succeed for the owner."""
    s, m, t, h, d = w["schedule"].pk, w["monitor"].pk, w["trigger"].pk, w["webhook"].pk, w["delivery"].pk
    agent = w["agent"]
    return [
        (reverse("proactive:schedule_edit", args=[s]), schedule_data(agent, name="Hijacked")),
        (reverse("proactive:schedule_run", args=[s]), {}),
        (reverse("proactive:schedule_pause", args=[s]), {}),
        (reverse("proactive:schedule_resume", args=[s]), {}),
        (reverse("proactive:schedule_preview") + f"?schedule={s}", schedule_data(agent)),
        (reverse("proactive:monitor_edit", args=[m]), monitor_data(agent, name="Hijacked")),
        (reverse("proactive:monitor_check", args=[m]), {}),
        (reverse("proactive:monitor_pause", args=[m]), {}),
        (reverse("proactive:monitor_resume", args=[m]), {}),
        (reverse("proactive:trigger_edit", args=[t]), trigger_data(agent, name="Hijacked")),
        (reverse("proactive:trigger_fire", args=[t]), {"payload": "{}", "event_type": ""}),
        (
            reverse("proactive:webhook_edit", args=[h]),
            {"name": "Hijacked", "tolerance_seconds": "300", "max_body_bytes": "1000", "rate_limit_per_minute": "10"},
        ),
        (reverse("proactive:webhook_regenerate", args=[h]), {}),
        (reverse("proactive:delivery_replay", args=[h, d]), {"mode": "replay"}),
        (reverse("proactive:delivery_replay", args=[h, d]), {"mode": "dry_run"}),
        (reverse("proactive:suggestion_accept", args=[w["suggestion"].pk]), {}),
        (reverse("proactive:suggestion_dismiss", args=[w["suggestion"].pk]), {}),
        (reverse("proactive:schedule_delete", args=[s]), {}),
        (reverse("proactive:monitor_delete", args=[m]), {}),
        (reverse("proactive:webhook_delete", args=[h]), {}),
        (reverse("proactive:trigger_delete", args=[t]), {}),
    ]


def snapshot() -> dict:
    return {
        "schedules": list(Schedule.objects.values_list("id", "name", "enabled", "next_fire_at")),
        "monitors": list(Monitor.objects.values_list("id", "name", "enabled", "next_check_at")),
        "checks": MonitorCheck.objects.count(),
        "triggers": list(Trigger.objects.values_list("id", "name", "fire_count")),
        "webhooks": list(Webhook.objects.values_list("id", "name", "secret")),
        "deliveries": WebhookDelivery.objects.count(),
        "suggestions": list(Suggestion.objects.values_list("id", "status")),
        "runs": Run.objects.count(),
    }


# --- pages render for their owner -----------------------------------------------------


def test_every_page_renders_for_its_owner(page, world):
    for url in page_urls(world):
        response = page.get(url)
        assert response.status_code == 200, url


def test_the_main_navigation_links_the_proactive_sections(page, world):
    html = page.get(reverse("proactive:monitors")).content.decode()
    for name in ("schedules", "monitors", "triggers", "webhooks", "suggestions"):
        assert f'href="{reverse(f"proactive:{name}")}"' in html
    assert f'<a href="{reverse("proactive:monitors")}" aria-current="page">Monitors</a>' in html


def test_anonymous_visitors_go_to_the_login_page(client, world):
    for url in page_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    before = snapshot()
    for url, data in action_urls(world):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert snapshot() == before


def test_the_preview_asks_htmx_to_reload_when_the_session_has_ended(client, world):
    response = client.post(reverse("proactive:schedule_preview"), schedule_data(world["agent"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


# --- tenancy --------------------------------------------------------------------------------


def test_another_users_objects_are_404_on_every_page(client, world, bob):
    client.force_login(bob)
    for url in page_urls(world):
        if url.endswith(("/schedules/", "/new/", "/monitors/", "/triggers/", "/webhooks/", "/suggestions/")):
            continue  # lists and empty forms: bob's own view
        assert client.get(url).status_code == 404, url


def test_another_users_objects_are_404_on_every_post(client, world, bob):
    client.force_login(bob)
    before = snapshot()
    for url, data in action_urls(world):
        assert client.post(url, data).status_code == 404, url
    assert snapshot() == before


def test_a_delivery_is_found_only_under_its_own_webhook(page, world, alice):
    other = make_webhook(world["trigger"])
    url = reverse("proactive:delivery", args=[other.pk, world["delivery"].pk])
    assert page.get(url).status_code == 404


def test_lists_show_only_the_users_own_objects(page, world, bob):
    theirs = make_agent(bob, name="Bravo")
    make_schedule(theirs, name="Bravo schedule")
    make_monitor(theirs, name="Bravo monitor")
    trigger = make_trigger(theirs, name="Bravo trigger")
    make_webhook(trigger, name="Bravo webhook")
    make_suggestion(theirs, title="Bravo suggestion")
    for name in ("schedules", "monitors", "triggers", "webhooks", "suggestions"):
        html = page.get(reverse(f"proactive:{name}")).content.decode()
        assert "Alpha" in html, name
        assert "Bravo" not in html, name
    html = page.get(reverse("dashboard:overview")).content.decode()
    assert "Bravo" not in html


def test_forms_offer_only_agents_and_triggers_of_writable_workspaces(page, alice, bob):
    mine = make_agent(alice, name="Mine")
    theirs = make_agent(bob, name="Theirs")
    shared = make_agent(bob, name="Shared", workspace=personal_workspace_for(bob))
    membership_add(workspace=shared.workspace, user=alice, role=Membership.Role.VIEWER)
    for name in ("schedule_create", "monitor_create", "trigger_create"):
        agents = page.get(reverse(f"proactive:{name}")).context["form"].fields["agent"].queryset
        assert list(agents) == [mine], name
    make_trigger(theirs)
    form = page.get(reverse("proactive:webhook_create")).context["form"]
    assert not form.fields["trigger"].queryset.exists()

    response = page.post(reverse("proactive:schedule_create"), schedule_data(theirs))
    assert "agent" in response.context["form"].errors
    response = page.post(reverse("proactive:trigger_create"), trigger_data(shared))
    assert "agent" in response.context["form"].errors
    assert not Schedule.objects.exists()
    assert not Trigger.objects.filter(agent=shared).exists()


# --- viewers read but do not write ----------------------------------------------------


@pytest.fixture
def shared_world(alice, bob):
    """Bob's objects in a workspace where alice is a viewer."""
    agent = make_agent(bob, name="Shared")
    membership_add(workspace=agent.workspace, user=alice, role=Membership.Role.VIEWER)
    trigger = make_trigger(agent)
    webhook = make_webhook(trigger)
    return {
        "agent": agent,
        "schedule": make_schedule(agent),
        "monitor": make_monitor(agent),
        "trigger": trigger,
        "webhook": webhook,
        "delivery": make_delivery(webhook),
        "suggestion": make_suggestion(agent),
    }


def test_a_viewer_reads_every_page_without_write_buttons(page, shared_world):
    w = shared_world
    for name, pk, hidden in [
        ("schedule", w["schedule"].pk, "proactive:schedule_run"),
        ("monitor", w["monitor"].pk, "proactive:monitor_check"),
        ("trigger", w["trigger"].pk, "proactive:trigger_fire"),
        ("webhook", w["webhook"].pk, "proactive:webhook_regenerate"),
    ]:
        response = page.get(reverse(f"proactive:{name}", args=[pk]))
        assert response.status_code == 200, name
        assert reverse(hidden, args=[pk]) not in response.content.decode(), name
    html = page.get(reverse("proactive:delivery", args=[w["webhook"].pk, w["delivery"].pk])).content.decode()
    assert "Replay" not in html
    html = page.get(reverse("proactive:suggestions")).content.decode()
    assert escape(w["suggestion"].title) in html
    assert reverse("proactive:suggestion_accept", args=[w["suggestion"].pk]) not in html


def test_a_viewer_gets_403_on_every_write(page, shared_world):
    w = shared_world
    for name, pk in [
        ("schedule", w["schedule"].pk),
        ("monitor", w["monitor"].pk),
        ("trigger", w["trigger"].pk),
        ("webhook", w["webhook"].pk),
    ]:
        assert page.get(reverse(f"proactive:{name}_edit", args=[pk])).status_code == 403, name
        assert page.get(reverse(f"proactive:{name}_delete", args=[pk])).status_code == 403, name
    before = snapshot()
    for url, data in action_urls(w):
        if "/preview/" in url:
            continue  # reading: a viewer may preview
        assert page.post(url, data).status_code == 403, url
    assert snapshot() == before


# --- schedules ------------------------------------------------------------------------------


def test_creating_a_schedule_through_the_form(page, alice):
    agent = make_agent(alice)
    response = page.post(reverse("proactive:schedule_create"), schedule_data(agent))
    schedule = Schedule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("proactive:schedule", args=[schedule.pk])
    assert schedule.workspace_id == agent.workspace_id
    assert schedule.cron_expression == "0 9 * * MON-FRI"
    assert schedule.timezone == "Europe/Riga"
    assert schedule.next_fire_at is not None
    assert schedule.next_fire_at.astimezone(timezone.get_fixed_timezone(0)).minute == 0
    html = page.get(response["Location"]).content.decode()
    assert "created" in html
    assert "At 09:00 on Monday through Friday" in html
    assert "Europe/Riga" in html


def test_a_schedule_saved_with_no_fire_ahead_says_so_after_saying_it_was_saved(page, alice):
    agent = make_agent(alice)
    data = schedule_data(agent, kind="once", cron_expression="", run_at="2020-01-01T09:00", name="Too late")
    response = page.post(reverse("proactive:schedule_create"), data, follow=True)
    schedule = Schedule.objects.get()
    assert schedule.next_fire_at is None
    assert response.redirect_chain == [(reverse("proactive:schedule", args=[schedule.pk]), 302)]
    shown = [(message.level_tag, str(message)) for message in response.context["messages"]]
    assert shown == [
        ("success", "Schedule “Too late” created."),
        ("warning", "It has no fire time ahead, so it will not run: check the run-at time and the end."),
    ]


def test_the_form_normalises_cron_and_reads_times_in_the_schedules_zone(page, alice):
    agent = make_agent(alice)
    page.post(reverse("proactive:schedule_create"), schedule_data(agent, cron_expression="  @daily "))
    assert Schedule.objects.get().cron_expression == "0 0 * * *"
    Schedule.objects.all().delete()

    response = page.post(
        reverse("proactive:schedule_create"),
        schedule_data(agent, kind="once", cron_expression="", run_at="2030-06-01T09:00", timezone="Europe/Riga"),
    )
    assert response.status_code == 302, response.context["form"].errors
    schedule = Schedule.objects.get()
    assert schedule.run_at == datetime(2030, 6, 1, 6, 0, tzinfo=UTC)  # 09:00 EEST
    assert schedule.next_fire_at == schedule.run_at
    edit = page.get(reverse("proactive:schedule_edit", args=[schedule.pk])).content.decode()
    assert 'value="2030-06-01T09:00"' in edit


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"cron_expression": "0 0 31 4 *"}, "cron_expression", "day-of-month 31 never occurs in April"),
        ({"cron_expression": "61 * * * *"}, "cron_expression", "minute value 61 is out of range 0-59"),
        ({"cron_expression": ""}, "cron_expression", "cron expression is empty"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", 'unknown timezone "Mars/Olympus_Mons"'),
        ({"timezone": "europe/riga"}, "timezone", 'did you mean "Europe/Riga"?'),
        ({"kind": "interval", "interval_seconds": ""}, "interval_seconds", "needs interval_seconds"),
        ({"kind": "interval", "interval_seconds": "0"}, "interval_seconds", "greater than or equal to 1"),
        ({"kind": "once", "run_at": ""}, "run_at", "needs run_at"),
        ({"kind": "once", "run_at": "tomorrow-ish"}, "run_at", "Enter a date and time"),
        ({"kind": "once", "run_at": "2030-03-31T03:30"}, "run_at", "does not exist in Europe/Riga"),
        ({"start_at": "2030-01-02T00:00", "end_at": "2030-01-01T00:00"}, "end_at", "after the start"),
        ({"max_catchup": "0"}, "max_catchup", "greater than or equal to 1"),
        ({"misfire_policy": "sometimes"}, "misfire_policy", "sometimes"),
    ],
)
def test_schedule_form_errors_are_on_the_field(page, alice, overrides, field, text):
    agent = make_agent(alice)
    response = page.post(reverse("proactive:schedule_create"), schedule_data(agent, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert text in " ".join(errors[field])
    html = response.content.decode()
    assert "Please correct the fields marked below" in html
    assert not Schedule.objects.exists()


def test_a_bad_edit_keeps_the_stored_schedule(page, alice):
    schedule = make_schedule(make_agent(alice), cron_expression="0 9 * * *")
    response = page.post(
        reverse("proactive:schedule_edit", args=[schedule.pk]),
        schedule_data(schedule.agent, cron_expression="0 0 31 4 *"),
    )
    assert "never occurs in April" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.cron_expression == "0 9 * * *"


def test_the_form_page_wires_the_live_preview(page, alice):
    schedule = make_schedule(make_agent(alice))
    html = page.get(reverse("proactive:schedule_create")).content.decode()
    assert f'hx-post="{reverse("proactive:schedule_preview")}"' in html
    assert 'hx-trigger="input changed delay:400ms from:#schedule-form"' in html
    html = page.get(reverse("proactive:schedule_edit", args=[schedule.pk])).content.decode()
    assert f'hx-post="{reverse("proactive:schedule_preview")}?schedule={schedule.pk}"' in html
    assert "At 09:00" in html  # the stored schedule's preview, before any change


def test_the_preview_fragment_lists_fires_in_the_zone_with_the_dst_change(page, alice):
    # DST starts in Riga on the last Sunday of March: 2030-03-31, 03:00 → 04:00.
    agent = make_agent(alice)
    data = schedule_data(agent, cron_expression="30 3 * * *", start_at="2030-03-28T00:00", timezone="Europe/Riga")
    response = page.post(reverse("proactive:schedule_preview"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "no-cache" in response["Cache-Control"]
    assert "At 03:30" in html
    assert "2030-03-28 03:30 EET" in html
    assert "2030-03-30 03:30 EET" in html
    # 03:30 does not exist that night: the fixed-time job runs right after the jump (Debian's rule).
    assert "2030-03-31 04:00 EEST" in html
    assert "2030-04-01 03:30 EEST" in html
    assert "DST starts: clocks go forward 1h (03:00→04:00)" in html
    assert html.count('class="dst-change"') == 1
    assert html.count("<li") == 10


def test_the_preview_shows_the_exact_validation_error(page, alice):
    agent = make_agent(alice)
    url = reverse("proactive:schedule_preview")
    html = page.post(url, schedule_data(agent, cron_expression="0 0 31 4 *")).content.decode()
    assert "day-of-month 31 never occurs in April" in html
    assert "<li" not in html
    html = page.post(url, schedule_data(agent, timezone="Europe/Atlantis")).content.decode()
    assert "unknown timezone &quot;Europe/Atlantis&quot;" in html
    # Fields that do not affect timing do not stop the preview.
    html = page.post(url, {**schedule_data(agent), "agent": "", "name": "x" * 500}).content.decode()
    assert "At 09:00 on Monday through Friday" in html


def test_the_preview_of_interval_and_once_schedules(page, alice):
    agent = make_agent(alice)
    url = reverse("proactive:schedule_preview")
    html = page.post(
        url, schedule_data(agent, kind="interval", interval_seconds="5400", start_at="2030-01-01T00:00")
    ).content.decode()
    assert "Every 90 minutes" in html
    assert "2030-01-01 00:00 EET" in html
    assert "2030-01-01 01:30 EET" in html
    html = page.post(url, schedule_data(agent, kind="once", run_at="2020-01-01T00:00")).content.decode()
    assert "No fires ahead" in html


def test_the_preview_is_post_only(page):
    assert page.get(reverse("proactive:schedule_preview")).status_code == 405


def test_the_schedule_page_shows_config_preview_and_its_runs_with_reasons(page, alice):
    agent = make_agent(alice)
    schedule = make_schedule(agent, cron_expression="0 9 * * *", timezone="Asia/Tokyo")
    other = make_schedule(agent, cron_expression="0 10 * * *")
    slot = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    common = {"workspace_id": agent.workspace_id, "agent": agent, "source": RunSource.SCHEDULE}
    Run.objects.create(**common, source_ref=schedule.source_ref, status=RunStatus.SUCCEEDED, scheduled_for=slot)
    Run.objects.create(
        **common, source_ref=schedule.source_ref, status=RunStatus.SKIPPED, reason="Overlap policy 'skip': busy"
    )
    Run.objects.create(
        **common,
        source_ref=schedule.source_ref,
        status=RunStatus.MISSED,
        reason="3 fire(s) were missed while the dispatcher was not running",
    )
    Run.objects.create(**common, source_ref=other.source_ref, status=RunStatus.FAILED, reason="other schedule's run")
    response = page.get(reverse("proactive:schedule", args=[schedule.pk]))
    html = response.content.decode()
    assert len(response.context["runs"]) == 3
    assert "2030-01-01 09:00 JST" in html  # the slot, in the schedule's zone
    assert "Overlap policy &#x27;skip&#x27;: busy" in html
    assert "were missed while the dispatcher was not running" in html
    assert 'data-status="missed"' in html
    assert "other schedule&#x27;s run" not in html
    assert "At 09:00" in html
    assert html.count("JST") >= 10  # the next fires, in Tokyo time


def test_run_now_pause_resume_and_delete(page, alice, run_inline):
    schedule = make_schedule(make_agent(alice), task_description="Say hi.")
    with run_inline(execute=True):
        response = page.post(reverse("proactive:schedule_run", args=[schedule.pk]))
    run = Run.objects.get()
    assert response["Location"] == reverse("agents:run", args=[run.pk])
    assert run.source == RunSource.SCHEDULE
    assert run.source_ref == schedule.source_ref
    assert run.input["task"] == "Say hi."

    page.post(reverse("proactive:schedule_pause", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert not schedule.enabled
    assert schedule.next_fire_at is None
    assert "Resume" in page.get(reverse("proactive:schedule", args=[schedule.pk])).content.decode()
    page.post(reverse("proactive:schedule_resume", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.enabled
    assert schedule.next_fire_at is not None

    assert Schedule.objects.exists()
    response = page.post(reverse("proactive:schedule_delete", args=[schedule.pk]))
    assert response["Location"] == reverse("proactive:schedules")
    assert not Schedule.objects.exists()
    assert Run.objects.count() == 1  # runs stay in the agent's history


def test_the_schedule_list_shows_next_fire_in_each_zone(page, alice):
    agent = make_agent(alice)
    make_schedule(agent, name="Tokyo", cron_expression="0 9 * * *", timezone="Asia/Tokyo")
    make_schedule(agent, name="Paused", kind="interval", interval_seconds=120, enabled=False)
    broken = make_schedule(agent, name="Broken")
    Schedule.objects.filter(pk=broken.pk).update(enabled=False, error="ValueError: boom")
    html = page.get(reverse("proactive:schedules")).content.decode()
    assert "09:00 JST" in html
    assert "At 09:00" in html
    assert "Every 2 minutes" in html
    assert "paused" in html
    assert "ValueError: boom" in html


# --- monitors -------------------------------------------------------------------------------


def test_creating_a_monitor_through_the_form(page, alice):
    agent = make_agent(alice)
    response = page.post(reverse("proactive:monitor_create"), monitor_data(agent))
    monitor = Monitor.objects.get()
    assert response["Location"] == reverse("proactive:monitor", args=[monitor.pk])
    assert monitor.workspace_id == agent.workspace_id
    assert monitor.probe_config["url"] == "https://example.com/price"
    assert monitor.probe_config["method"] == "GET"  # the probe's defaults filled in
    assert monitor.next_check_at is not None


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"condition": "value >"}, "condition", "condition"),
        ({"condition": "price > 150"}, "condition", "price"),
        ({"condition": "__import__('os')"}, "condition", ""),
        ({"probe_config": '{"url": "ftp://example.com"}'}, "probe_config", "http and https"),
        ({"probe_config": '{"url": "https://x.example", "json_pth": "a"}'}, "probe_config", "unknown setting"),
        ({"probe_config": "[1]"}, "probe_config", "JSON object"),
        ({"probe_config": '{"url": '}, "probe_config", "Enter a valid JSON"),
        ({"probe": "telepathy"}, "probe", "telepathy"),
        ({"check_interval": "5"}, "check_interval", "greater than or equal to 10"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_monitor_form_errors_are_on_the_field(page, alice, overrides, field, text):
    response = page.post(reverse("proactive:monitor_create"), monitor_data(make_agent(alice), **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert not Monitor.objects.exists()


def test_an_llm_monitor_asks_its_condition(page, alice):
    agent = make_agent(alice)
    data = monitor_data(agent, probe="llm", probe_config="{}", condition="Is the AAPL price above 150?")
    response = page.post(reverse("proactive:monitor_create"), data)
    assert response.status_code == 302, response.context["form"].errors
    assert Monitor.objects.get().probe_config == {"question": "Is the AAPL price above 150?", "agent_id": agent.pk}


def test_an_llm_monitor_naming_another_workspace_s_agent_is_refused_on_the_page(page, alice):
    agent = make_agent(alice)
    stranger = make_agent(make_user("mallory"), name="Theirs")
    config = json.dumps({"agent_id": stranger.pk})
    data = monitor_data(agent, probe="llm", probe_config=config, condition="Is it raining?")
    response = page.post(reverse("proactive:monitor_create"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "agent_id: No such agent in this workspace." in " ".join(errors["probe_config"])
    assert not Monitor.objects.exists()


def test_an_llm_monitor_whose_agent_has_too_small_a_budget_is_refused_on_the_page(page, alice):
    agent = make_agent(alice, max_tokens=100)
    data = monitor_data(agent, probe="llm", probe_config="{}", condition="Is it raining?")
    response = page.post(reverse("proactive:monitor_create"), data)
    assert response.status_code == 200
    assert "token budget (100)" in " ".join(response.context["form"].errors["probe_config"])
    assert not Monitor.objects.exists()


def test_check_now_and_the_timeline(page, alice, run_inline):
    monitor = make_monitor(make_agent(alice))
    url = reverse("proactive:monitor_check", args=[monitor.pk])
    READING["value"] = 100
    page.post(url)
    READING["value"] = 200
    with run_inline():
        response = page.post(url, follow=True)
    html = response.content.decode()
    assert "the condition is true" in html
    monitor.refresh_from_db()
    assert monitor.state == Monitor.State.TRIGGERED
    flip = MonitorCheck.objects.get(flipped=True, state_after="triggered")
    assert flip.run_id is not None
    checks = response.context["checks"]
    assert [c.pk for c in checks] == sorted((c.pk for c in checks), reverse=True)  # newest first
    assert f'id="check-{flip.pk}"' in html
    assert reverse("agents:run", args=[flip.run_id]) in html
    assert "flipped" in html
    assert "value=200" in html
    assert 'data-state="triggered"' in html

    READING["value"] = "boom"
    page.post(url)  # a comparison of text and number: the check fails, the state stays
    monitor.refresh_from_db()
    assert monitor.state == Monitor.State.TRIGGERED
    html = page.get(reverse("proactive:monitor", args=[monitor.pk])).content.decode()
    assert "check failed" in html
    READING["value"] = 100


def test_monitor_pause_resume_and_list_states(page, alice):
    agent = make_agent(alice)
    monitor = make_monitor(agent, name="Quiet")
    make_monitor(agent, name="Loud", state=Monitor.State.TRIGGERED)
    page.post(reverse("proactive:monitor_pause", args=[monitor.pk]))
    monitor.refresh_from_db()
    assert not monitor.enabled
    page.post(reverse("proactive:monitor_resume", args=[monitor.pk]))
    monitor.refresh_from_db()
    assert monitor.enabled
    html = page.get(reverse("proactive:monitors")).content.decode()
    assert 'data-state="triggered"' in html
    assert 'data-state="unknown"' in html


# --- triggers -------------------------------------------------------------------------------


def test_creating_a_trigger_and_firing_it(page, alice, run_inline):
    agent = make_agent(alice)
    response = page.post(reverse("proactive:trigger_create"), trigger_data(agent))
    trigger = Trigger.objects.get()
    assert response["Location"] == reverse("proactive:trigger", args=[trigger.pk])
    assert trigger.config == {"events": ["pull_request"]}
    fire = reverse("proactive:trigger_fire", args=[trigger.pk])
    with run_inline(execute=True):
        response = page.post(fire, {"payload": '{"pull_request": {"number": 42}}', "event_type": "push"})
    run = Run.objects.get()
    assert response["Location"] == reverse("agents:run", args=[run.pk])
    assert run.input["task"] == "Review PR #42"
    assert run.payload == {"pull_request": {"number": 42}}
    html = page.get(reverse("proactive:trigger", args=[trigger.pk])).content.decode()
    assert reverse("agents:run", args=[run.pk]) in html


@pytest.mark.parametrize(
    ("payload", "text"),
    [('{"a": ', "Enter a valid JSON"), ("[1, 2]", "JSON object")],
)
def test_a_bad_fire_payload_is_shown_on_the_field(page, alice, payload, text):
    trigger = make_trigger(make_agent(alice))
    response = page.post(reverse("proactive:trigger_fire", args=[trigger.pk]), {"payload": payload})
    assert response.status_code == 200
    assert text in " ".join(response.context["fire_form"].errors["payload"])
    assert not Run.objects.exists()


def test_firing_a_disabled_trigger_says_why(page, alice):
    trigger = make_trigger(make_agent(alice), enabled=False)
    response = page.post(reverse("proactive:trigger_fire", args=[trigger.pk]), {"payload": "{}"}, follow=True)
    assert "trigger is disabled" in response.content.decode()
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"config": '{"events": "push"}'}, "config", "events must be a list"),
        ({"config": '{"match": []}'}, "config", "match must be an object"),
        ({"config": "[]"}, "config", "JSON object"),
        ({"task_template": "Review {{ pull_request.number"}, "task_template", ""),
        ({"trigger_type": "carrier_pigeon"}, "trigger_type", "carrier_pigeon"),
    ],
)
def test_trigger_form_errors_are_on_the_field(page, alice, overrides, field, text):
    response = page.post(reverse("proactive:trigger_create"), trigger_data(make_agent(alice), **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert not Trigger.objects.exists()


# --- webhooks -------------------------------------------------------------------------------


def test_a_new_webhook_shows_its_url_and_its_secret_once(page, alice, settings):
    settings.SITE_URL, settings.SITE_URL_SET = "https://gradent.example.org/", True
    trigger = make_trigger(make_agent(alice))
    response = page.post(
        reverse("proactive:webhook_create"),
        {"trigger": trigger.pk, "name": "GitHub", "scheme": "standard_webhooks", "tolerance_seconds": "300",
         "max_body_bytes": "1048576", "rate_limit_per_minute": "120", "enabled": "on"},
    )  # fmt: skip
    webhook = Webhook.objects.get()
    assert response["Location"] == reverse("proactive:webhook", args=[webhook.pk])
    assert webhook.workspace_id == trigger.workspace_id
    assert webhook.secret.startswith("whsec_")
    first = page.get(response["Location"])
    html = first.content.decode()
    assert f"https://gradent.example.org/api/hooks/{webhook.url_path}" in html
    assert webhook.secret in html
    assert "will not be shown again" in html
    assert "no-store" in first["Cache-Control"]
    again = page.get(response["Location"]).content.decode()
    assert webhook.secret not in again
    assert webhook.url_path in again

    old = webhook.secret
    response = page.post(reverse("proactive:webhook_regenerate", args=[webhook.pk]))
    webhook.refresh_from_db()
    assert webhook.secret != old
    html = page.get(response["Location"]).content.decode()
    assert webhook.secret in html
    assert old not in html
    assert webhook.secret not in page.get(response["Location"]).content.decode()


def test_a_webhook_needs_a_known_scheme_and_a_writable_trigger(page, alice, bob):
    trigger = make_trigger(make_agent(alice))
    foreign = make_trigger(make_agent(bob))
    base = {"tolerance_seconds": "300", "max_body_bytes": "1000", "rate_limit_per_minute": "10"}
    response = page.post(reverse("proactive:webhook_create"), {**base, "trigger": trigger.pk, "scheme": "carrier"})
    assert "scheme" in response.context["form"].errors
    response = page.post(reverse("proactive:webhook_create"), {**base, "trigger": foreign.pk, "scheme": "github"})
    assert "trigger" in response.context["form"].errors
    assert not Webhook.objects.exists()


def test_deliveries_are_listed_with_verdicts_and_open_with_headers_and_body(page, alice, client, settings):
    settings.GRADENT_WEBHOOK_ALLOW_UNSIGNED = True  # make_webhook's scheme is "none"
    webhook = make_webhook(make_trigger(make_agent(alice)))
    hook = reverse("hook", args=[webhook.url_path])
    client.post(hook, data=json.dumps({"pull_request": {"number": 9}}), content_type="application/json")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.verdict, delivery.pending, delivery.run_id) == ("accepted", True, None)
    html = page.get(reverse("proactive:webhook", args=[webhook.pk])).content.decode()
    assert "starting…" in html  # answered; the dispatcher has not started the run yet
    WebhookDeliverySource().tick(timezone.now())
    delivery.refresh_from_db()
    assert delivery.run_id and not delivery.pending
    make_delivery(webhook, verdict="rejected", status_code=401, reason="signature: bad_signature: nope")
    html = page.get(reverse("proactive:webhook", args=[webhook.pk])).content.decode()
    assert 'data-verdict="accepted"' in html
    assert 'data-verdict="rejected"' in html
    assert "bad_signature" in html
    assert reverse("agents:run", args=[delivery.run_id]) in html
    html = page.get(reverse("proactive:delivery", args=[webhook.pk, delivery.pk])).content.decode()
    assert "content-type" in html
    assert "&quot;number&quot;: 9" in html


def test_replay_creates_a_run_and_a_dry_run_starts_nothing(page, alice, run_inline):
    webhook = make_webhook(make_trigger(make_agent(alice), config={"events": ["pull_request"]}))
    delivery = make_delivery(webhook, {"pull_request": {"number": 7}})
    url = reverse("proactive:delivery_replay", args=[webhook.pk, delivery.pk])

    response = page.post(url, {"mode": "dry_run"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "it would fire" in html
    assert "Review PR #7" in html
    assert not Run.objects.exists()
    assert WebhookDelivery.objects.count() == 1

    with run_inline(execute=True):
        response = page.post(url, {"mode": "replay"})
    run = Run.objects.get()
    assert response["Location"] == reverse("agents:run", args=[run.pk])
    assert run.source == RunSource.WEBHOOK
    assert run.input["task"] == "Review PR #7"
    replay = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert replay.replay_of == delivery
    assert replay.run == run
    html = page.get(reverse("proactive:delivery", args=[webhook.pk, delivery.pk])).content.decode()
    assert reverse("proactive:delivery", args=[webhook.pk, replay.pk]) in html


def test_a_dry_run_says_why_a_delivery_would_not_fire(page, alice):
    webhook = make_webhook(make_trigger(make_agent(alice), config={"events": ["issues"]}))
    delivery = make_delivery(webhook)
    html = page.post(reverse("proactive:delivery_replay", args=[webhook.pk, delivery.pk]), {"mode": "dry_run"})
    html = html.content.decode()
    assert "it would not fire" in html
    assert "event pull_request is not one of issues" in html


def test_a_rejected_delivery_is_not_replayed(page, alice):
    webhook = make_webhook(make_trigger(make_agent(alice)))
    delivery = make_delivery(webhook, verdict="rejected", status_code=401, reason="signature: bad_signature")
    response = page.post(reverse("proactive:delivery_replay", args=[webhook.pk, delivery.pk]), {"mode": "replay"},
                         follow=True)  # fmt: skip
    assert "only verified deliveries can be replayed" in response.content.decode()
    assert not Run.objects.exists()
    assert WebhookDelivery.objects.count() == 1


# --- suggestions ------------------------------------------------------------------------------


def test_accepting_a_suggestion_creates_the_schedule(page, alice):
    agent = make_agent(alice)
    run = Run.objects.create(workspace_id=agent.workspace_id, agent=agent, status=RunStatus.SUCCEEDED)
    suggestion = make_suggestion(agent, evidence={"runs": [run.pk]})
    html = page.get(reverse("proactive:suggestions")).content.decode()
    assert escape(suggestion.title) in html
    assert reverse("agents:run", args=[run.pk]) in html  # the evidence, as links
    response = page.post(reverse("proactive:suggestion_accept", args=[suggestion.pk]))
    schedule = Schedule.objects.get()
    assert response["Location"] == reverse("proactive:schedule", args=[schedule.pk])
    assert schedule.agent == agent
    assert schedule.cron_expression == "0 9 * * *"
    assert schedule.timezone == "Europe/Riga"
    assert schedule.next_fire_at is not None
    suggestion.refresh_from_db()
    assert suggestion.status == Suggestion.Status.ACCEPTED
    assert suggestion.schedule == schedule
    # Accepting twice changes nothing.
    response = page.post(reverse("proactive:suggestion_accept", args=[suggestion.pk]), follow=True)
    assert "already accepted" in response.content.decode()
    assert Schedule.objects.count() == 1


def test_dismissing_a_suggestion(page, alice):
    suggestion = make_suggestion(make_agent(alice))
    page.post(reverse("proactive:suggestion_dismiss", args=[suggestion.pk]))
    suggestion.refresh_from_db()
    assert suggestion.status == Suggestion.Status.DISMISSED
    response = page.get(reverse("proactive:suggestions"))
    assert list(response.context["suggestions"]) == []
    assert "Dismissed" in response.content.decode()


def test_look_for_patterns_now_mines_the_users_workspaces(page, alice, bob):
    agent = make_agent(alice, name="Reporter")
    theirs = make_agent(bob, name="Bravo")
    now = timezone.now()
    for days in (1, 2, 3):
        for owner in (agent, theirs):
            run = Run.objects.create(
                workspace_id=owner.workspace_id, agent=owner, source=RunSource.MANUAL, status=RunStatus.SUCCEEDED
            )
            Run.objects.filter(pk=run.pk).update(created=now - timedelta(days=days))
    response = page.post(reverse("proactive:suggestion_mine"), follow=True)
    assert "Found 1 new suggestion" in response.content.decode()
    suggestion = Suggestion.objects.get()
    assert suggestion.agent == agent
    assert "Reporter" in suggestion.title
    response = page.post(reverse("proactive:suggestion_mine"), follow=True)
    assert "Nothing new" in response.content.decode()


# --- overview ---------------------------------------------------------------------------------


def test_the_overview_lists_the_next_24_hours_of_fires_in_each_zone(page, alice, bob):
    agent = make_agent(alice, name="Alpha")
    make_schedule(agent, name="Every four hours", kind="interval", interval_seconds=4 * 3600, timezone="Asia/Tokyo")
    make_schedule(agent, name="Hourly", cron_expression="0 * * * *", timezone="America/New_York")
    make_schedule(agent, name="Sleeping", cron_expression="0 * * * *", enabled=False)
    make_schedule(make_agent(bob), name="Bravo hourly", cron_expression="0 * * * *")
    response = page.get(reverse("dashboard:overview"))
    fires = response.context["upcoming_fires"]
    assert len(fires) == 20  # capped
    assert [f["at"] for f in fires] == sorted(f["at"] for f in fires)
    assert all(timezone.now() < f["at"] <= timezone.now() + timedelta(hours=24) for f in fires)
    names = {f["schedule"].name for f in fires}
    assert names == {"Every four hours", "Hourly"}
    html = response.content.decode()
    assert "Next 24 hours of fires" in html
    assert " JST" in html
    assert " EST" in html or " EDT" in html
    assert "Sleeping" not in html
    assert "Bravo" not in html
