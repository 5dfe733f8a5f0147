"""A history of cycles (page and GET /api/autonomous/cycles), and the autonomy page's seed-000
controls: Discord and ntfy fields, Send test, Run a cycle now, the executor, start now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from autonomy import services
from autonomy.models import AutonomousConfig, AutonomyCycle, Goal, MetricRule
from notifications.models import Channel, Notification
from tests.helpers import make_agent, make_user
from tests.notifications import fakes
from tests.notifications.conftest import discord_peer, notify_settings  # noqa: F401  (fixtures)
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def alice():
    user = make_user("alice")
    client = Client()
    client.force_login(user)
    return client, personal_workspace_for(user)


def test_the_cycles_endpoint_lists_the_workspaces_cycles_newest_first_in_pages(alice):
    client, workspace = alice
    for hour in range(3):
        services.run_cycle(workspace, now=T0 + timedelta(hours=hour), run_executor=False)
    services.run_cycle(personal_workspace_for(make_user("bob")), now=T0, run_executor=False)
    body = client.get("/api/autonomous/cycles?limit=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    first = body["results"][0]
    assert first["started"].startswith("2026-03-02T14:00")
    assert first["status"] == "succeeded" and first["trigger"] == "schedule"
    assert {"goals_created", "goals_achieved", "actions", "actions_skipped", "executor_run", "error"} <= set(first)
    rest = client.get("/api/autonomous/cycles?limit=2&offset=2").json()["results"]
    assert [r["started"][:16] for r in rest] == ["2026-03-02T12:00"]
    other = client.get(f"/api/autonomous/cycles?workspace_id={AutonomyCycle.objects.last().workspace_id + 999}")
    assert other.status_code == 400


def test_the_page_lists_cycles_and_runs_one_now(alice, run_inline):
    client, workspace = alice
    services.run_cycle(workspace, now=T0, run_executor=False)
    page = client.get("/autonomy/").content.decode()
    assert 'id="cycles"' in page and "Succeeded" in page and "Run a cycle now" in page
    with run_inline(execute=True):
        response = client.post("/autonomy/execute/", follow=True)
    assert "A cycle has started" in response.content.decode()
    assert AutonomyCycle.objects.filter(workspace=workspace, trigger="manual").count() == 1
    again = client.post("/autonomy/execute/", follow=True)
    assert "less than a minute ago" in again.content.decode()


def test_the_mode_form_saves_channels_executor_and_can_start_now(alice):
    client, workspace = alice
    executor = make_agent(workspace=workspace, name="Executor")
    page = client.get("/autonomy/").content.decode()
    for label in ("Discord webhook URL", "ntfy topic", "Executor agent", "Start the first cycle now"):
        assert f">{label}</label>" in page or f"> {label}</label>" in page
    before = datetime.now(UTC)
    form = {
        "enabled": "on",
        "frequency": "6hours",
        "executor": executor.pk,
        "discord_webhook": fakes.DISCORD_URL,
        "ntfy_topic": "gradent-ai-7",
        "notify_tool_calls": "on",
        "start_now": "on",
    }
    response = client.post("/autonomy/mode/", form, follow=True)
    assert "the first cycle starts now" in response.content.decode()
    config = AutonomousConfig.objects.get(workspace=workspace)
    assert (config.frequency, config.executor_id, config.notify_tool_calls) == ("6hours", executor.pk, True)
    assert (config.max_active_goals, config.enable_learning) == (10, False)  # empty: kept; unticked: off
    client.post("/autonomy/mode/", {**form, "max_active_goals": "4", "enable_learning": "on", "start_now": ""})
    config.refresh_from_db()
    assert (config.max_active_goals, config.enable_learning) == (4, True)
    bad_knob = client.post("/autonomy/mode/", {**form, "max_concurrent_goals": "0"})
    assert bad_knob.status_code == 400
    assert before <= config.next_execution <= datetime.now(UTC)
    assert {c.kind for c in Channel.objects.filter(workspace=workspace, enabled=True)} == {"discord", "ntfy"}
    page = client.get("/autonomy/").content.decode()
    assert fakes.DISCORD_TOKEN not in page and "Send test to Discord" in page
    # The masked URL sent back keeps the webhook; a bad one is refused on its field.
    masked = client.get("/autonomy/").context["form"].initial["discord_webhook"]
    client.post("/autonomy/mode/", {**form, "discord_webhook": masked, "start_now": ""})
    assert Channel.objects.get(kind="discord").full_config()["url"] == fakes.DISCORD_URL
    bad = client.post("/autonomy/mode/", {**form, "discord_webhook": "https://evil.example/x"})
    assert bad.status_code == 400 and "has-error" in bad.content.decode()
    assert Channel.objects.get(kind="discord").full_config()["url"] == fakes.DISCORD_URL


def test_send_test_posts_to_the_saved_discord_webhook(alice, discord_peer):  # noqa: F811
    client, workspace = alice
    channels = {"discord": {"url": fakes.DISCORD_URL}}
    services.config_update(workspace=workspace, enabled=False, frequency="1hour", channels=channels)
    response = client.post("/autonomy/test-channel/", {"kind": "discord"}, follow=True)
    assert "Test message sent to Autonomy (Discord)" in response.content.decode()
    assert discord_peer.last.json["embeds"][0]["title"] == "Test message from Gradent"
    nothing = client.post("/autonomy/test-channel/", {"kind": "ntfy"}, follow=True)
    assert "Save a Discord webhook or an ntfy topic first" in nothing.content.decode()


def test_a_rule_is_saved_from_the_page_before_its_metric_has_data(alice):
    client, workspace = alice
    form = {"metric_name": "orders_backlog", "warning": "50", "critical": "100", "direction": "above"}
    client.post("/autonomy/rules/", {**form, "goal_type": "capacity_planning"})
    assert MetricRule.objects.get(workspace=workspace, metric_name="orders_backlog").critical == 100
    bad = client.post("/autonomy/rules/", {**form, "warning": "500", "goal_type": "capacity_planning"})
    assert bad.status_code == 400 and "comes before the critical one" in bad.content.decode()


def test_goal_titles_and_dates_are_consistent(alice):
    client, workspace = alice
    assert services.in_hours(0.2) == "in 12 min" and services.in_hours(0.001) == "now"
    assert services.in_hours(7.4) == "in 7 h" and services.in_hours(72) == "in 3 days"
    Goal.objects.create(workspace=workspace, goal_type="cost_reduction", title="Trim", cause="c")
    page = client.get("/autonomy/").content.decode()
    assert "<time datetime=" in page and "a.m." not in page and "p.m." not in page
    assert not Notification.objects.exists()


def test_the_admin_lists_cycles_read_only_and_edits_the_knobs(alice):
    from django.contrib.auth import get_user_model

    _, workspace = alice
    services.run_cycle(workspace, now=T0, run_executor=False)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/autonomy/autonomycycle/")
    assert listing.status_code == 200 and "Succeeded" in listing.content.decode()
    assert client.get("/admin/autonomy/autonomycycle/add/").status_code == 403
    config = AutonomousConfig.objects.get(workspace=workspace)
    page = client.get(f"/admin/autonomy/autonomousconfig/{config.pk}/change/").content.decode()
    assert 'name="max_active_goals"' in page and 'name="pattern_window_hours"' in page
