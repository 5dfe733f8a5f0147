"""/api/autonomous/…: the shapes of the original designs, 400s naming the field,
all-or-nothing metric batches, the manual execute limit and workspace isolation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from autonomy.models import AutonomousConfig, Event, Goal, GoalType, MetricPoint, MetricRule
from notifications.models import Channel, NotifyEvent
from tests.helpers import auth, make_user, token_for
from tests.notifications import fakes
from tests.notifications.conftest import discord_peer, notify_settings  # noqa: F401  (fixtures)
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

BASE = "/api/autonomous/"


class API:
    def __init__(self, user, scope: str = "write"):
        self.client = Client()
        self.headers = auth(token_for(user, scope))

    def get(self, path: str):
        return self.client.get(BASE + path, **self.headers)

    def post(self, path: str, data=None, *, raw: str | None = None):
        body = raw if raw is not None else json.dumps(data or {})
        return self.client.post(BASE + path, body, content_type="application/json", **self.headers)

    def put(self, path: str, data: dict):
        return self.client.put(BASE + path, json.dumps(data), content_type="application/json", **self.headers)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    return API(alice)


def make_goal(workspace, **fields) -> Goal:
    defaults = {
        "goal_type": GoalType.BOTTLENECK_PREVENTION,
        "title": "Prevent a cpu bottleneck",
        "metric_name": "cpu",
        "cause": "breach:cpu:above:90",
        "threshold": 90.0,
    }
    return Goal.objects.create(workspace=workspace, **{**defaults, **fields})


# --- config ----------------------------------------------------------------------------------
def test_it_returns_the_default_config_in_the_original_shape(api):
    response = api.get("config")
    assert response.status_code == 200
    data = response.json()
    assert {key: data[key] for key in ("enabled", "frequency", "discord_webhook", "ntfy_topic")} == {
        "enabled": False,
        "frequency": "1hour",
        "discord_webhook": None,
        "ntfy_topic": None,
    }
    assert data["last_execution"] is None and data["next_execution"] is None


def test_put_config_answers_ok_and_schedules_the_next_cycle(api, alice):
    before = timezone.now()
    response = api.put("config", {"enabled": True, "frequency": "15min"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "Configuration updated"}
    config = AutonomousConfig.objects.get(workspace=personal_workspace_for(alice))
    assert config.enabled and config.frequency == "15min"
    assert before + timedelta(minutes=14) < config.next_execution < timezone.now() + timedelta(minutes=16)


def test_an_unknown_frequency_is_a_400_naming_it(api):
    response = api.put("config", {"enabled": True, "frequency": "2hours"})
    assert response.status_code == 400
    assert "frequency" in response.json()


def test_a_non_discord_webhook_is_a_400_naming_it(api):
    response = api.put("config", {"enabled": True, "frequency": "1hour", "discord_webhook": "https://evil.example/x"})
    assert response.status_code == 400
    assert "discord_webhook" in response.json()
    assert not Channel.objects.exists()


def test_webhook_and_topic_create_then_update_subscribed_channels(api, alice):
    response = api.put(
        "config",
        {"enabled": True, "frequency": "1hour", "discord_webhook": fakes.DISCORD_URL, "ntfy_topic": "gradent-ai-1"},
    )
    assert response.status_code == 200, response.content
    channels = {channel.kind: channel for channel in Channel.objects.filter(workspace=personal_workspace_for(alice))}
    assert set(channels) == {"discord", "ntfy"}
    assert channels["discord"].full_config()["url"] == fakes.DISCORD_URL
    for event in (NotifyEvent.AUTONOMY_CYCLE_COMPLETED, NotifyEvent.GOAL_CREATED, NotifyEvent.GOAL_ACHIEVED):
        assert event in channels["discord"].events and event in channels["ntfy"].events

    shown = api.get("config").json()
    assert shown["ntfy_topic"] == "gradent-ai-1"
    assert fakes.DISCORD_TOKEN not in json.dumps(shown)  # the token is a secret

    # The GET's masked webhook sent back keeps the stored one; a new topic updates the channel.
    again = api.put(
        "config",
        {"enabled": True, "frequency": "1hour", "discord_webhook": shown["discord_webhook"], "ntfy_topic": "other"},
    )
    assert again.status_code == 200, again.content
    assert Channel.objects.count() == 2
    assert Channel.objects.get(kind="discord").full_config()["url"] == fakes.DISCORD_URL
    assert Channel.objects.get(kind="ntfy").config["topic"] == "other"


def test_a_null_webhook_switches_the_autonomy_channel_off(api):
    api.put("config", {"enabled": True, "frequency": "1hour", "discord_webhook": fakes.DISCORD_URL})
    response = api.put("config", {"enabled": True, "frequency": "1hour", "discord_webhook": None})
    assert response.status_code == 200
    channel = Channel.objects.get(kind="discord")
    assert not channel.enabled and channel.disabled_reason
    assert api.get("config").json()["discord_webhook"] is None
    api.put("config", {"enabled": True, "frequency": "1hour", "discord_webhook": fakes.DISCORD_URL})
    assert Channel.objects.get(kind="discord").enabled


def test_a_read_only_token_cannot_change_the_config(alice):
    response = API(alice, scope="read").put("config", {"enabled": True, "frequency": "1hour"})
    assert response.status_code == 403


# --- execute, mode, test-webhook -------------------------------------------------------------
def test_execute_starts_a_cycle_and_is_limited_to_once_a_minute(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = api.post("execute")
    assert first.status_code == 200
    assert first.json() == {"status": "ok", "message": "Execution started"}
    assert len(callbacks) == 1  # the cycle task is enqueued after commit
    second = api.post("execute")
    assert second.status_code == 429
    assert second["Retry-After"] == "60"


def test_mode_switches_autonomous_mode(api, alice):
    response = api.post("mode", {"autonomous": True})
    assert response.status_code == 200
    assert response.json()["autonomous"] is True
    config = AutonomousConfig.objects.get(workspace=personal_workspace_for(alice))
    assert config.enabled and config.next_execution is not None
    assert api.post("mode", {"autonomous": "perhaps"}).status_code == 400
    assert api.post("mode", {"autonomous": False}).json()["autonomous"] is False


def test_test_webhook_sends_through_the_discord_transport(api, discord_peer):  # noqa: F811
    response = api.post("test-webhook", {"webhook_url": fakes.DISCORD_URL})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert discord_peer.last.json["embeds"][0]["title"] == "Test message from Gradent"


def test_test_webhook_is_a_400_with_the_reason_when_discord_refuses(api, discord_peer):  # noqa: F811
    unknown = fakes.DISCORD_URL.replace(fakes.DISCORD_ID, "999")
    response = api.post("test-webhook", {"webhook_url": unknown})
    assert response.status_code == 400
    assert "Unknown Webhook" in response.json()["detail"]


def test_test_webhook_refuses_a_url_that_is_not_discord(api):
    response = api.post("test-webhook", {"webhook_url": "http://127.0.0.1:8000/hook"})
    assert response.status_code == 400
    assert "webhook_url" in response.json()


# --- metrics and events ----------------------------------------------------------------------
def test_it_records_one_metric_point(api, alice):
    response = api.post("metrics", {"metric_name": "cpu_usage", "value": 75.5})
    assert response.status_code == 201
    point = MetricPoint.objects.get()
    assert (point.name, point.value, point.workspace) == ("cpu_usage", 75.5, personal_workspace_for(alice))


def test_it_records_a_batch_with_timestamps_and_labels(api):
    at = (timezone.now() - timedelta(hours=1)).isoformat()
    batch = [
        {"metric_name": "latency", "value": 150, "timestamp": at, "labels": {"host": "a"}},
        {"metric_name": "latency", "value": 120.5},
    ]
    response = api.post("metrics", {"metrics": batch})
    assert response.status_code == 201
    assert response.json()["recorded"] == 2
    first = MetricPoint.objects.order_by("at").first()
    assert first.labels == {"host": "a"} and first.value == 150.0


def test_a_batch_over_the_limit_is_refused_whole(api):
    batch = [{"metric_name": "m", "value": i} for i in range(10_001)]
    response = api.post("metrics", {"metrics": batch})
    assert response.status_code == 400
    assert "metrics" in response.json()
    assert not MetricPoint.objects.exists()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"metric_name": "m", "value": "abc"}, "value"),
        ({"metric_name": "m", "value": True}, "value"),
        ({"metric_name": "", "value": 1}, "metric_name"),
        ({"metric_name": "m", "value": 1, "timestamp": "2999-01-01T00:00:00Z"}, "timestamp"),
        ({"metric_name": "m", "value": 1, "timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_a_bad_point_is_a_400_naming_its_index_and_field_and_nothing_is_stored(api, item, field):
    response = api.post("metrics", {"metrics": [{"metric_name": "ok", "value": 1}, item]})
    assert response.status_code == 400
    assert field in response.json()["metrics"]["1"]
    assert not MetricPoint.objects.exists()


def test_an_infinite_value_is_refused(api):
    response = api.post("metrics", raw='{"metric_name": "m", "value": 1e400}')
    assert response.status_code == 400
    assert "value" in response.json()
    assert not MetricPoint.objects.exists()


def test_it_records_an_event(api):
    response = api.post("events", {"event_type": "user_login", "metadata": {"user_id": "123"}})
    assert response.status_code == 201
    event = Event.objects.get()
    assert (event.event_type, event.metadata) == ("user_login", {"user_id": "123"})
    assert api.post("events", {"metadata": {}}).status_code == 400


# --- goals, predictions, reports -------------------------------------------------------------
def test_goals_list_and_detail(api, alice):
    goal = make_goal(personal_workspace_for(alice))
    data = api.get("goals").json()
    assert data["total_active_goals"] == 1
    assert data["goals"][0]["id"] == goal.pk and data["goals"][0]["type"] == "bottleneck_prevention"
    detail = api.get(f"goals/{goal.pk}").json()
    assert detail["description"] == goal.title and detail["actions"] == []


def test_another_users_goal_is_a_404_and_their_workspace_a_400(api):
    bob = make_user("bob")
    goal = make_goal(personal_workspace_for(bob))
    assert api.get(f"goals/{goal.pk}").status_code == 404
    assert api.get("goals").json()["goals"] == []
    response = api.get(f"goals?workspace_id={personal_workspace_for(bob).pk}")
    assert response.status_code == 400 and "workspace_id" in response.json()


def _rising_cpu(workspace, now, count: int = 12) -> None:
    for k in range(count):
        at = now - timedelta(hours=count - 1 - k)
        MetricPoint.objects.create(workspace=workspace, name="cpu", value=50.0 + 2 * k, at=at)


def test_predictions_forecast_each_metric_with_the_breach(api, alice):
    workspace = personal_workspace_for(alice)
    _rising_cpu(workspace, timezone.now() - timedelta(minutes=1))
    MetricRule.objects.create(workspace=workspace, metric_name="cpu", warning=80, critical=90)
    data = api.get("predictions?horizon_hours=24").json()
    assert data["horizon_hours"] == 24
    cpu = data["predictions"]["cpu"]
    assert len(cpu["forecast"]["points"]) == 24
    assert cpu["breach"] is not None and cpu["breach"]["value"] >= 90
    assert "horizon_hours" in api.get("predictions?horizon_hours=abc").json()
    assert api.get("predictions?horizon_hours=0").status_code == 400


def test_analysis_trigger_opens_a_goal_for_a_forecast_breach(api, alice):
    workspace = personal_workspace_for(alice)
    _rising_cpu(workspace, timezone.now() - timedelta(minutes=1))
    MetricRule.objects.create(workspace=workspace, metric_name="cpu", warning=80, critical=90)
    first = api.post("analysis/trigger")
    assert first.status_code == 200 and len(first.json()["goals_created"]) == 1
    assert api.post("analysis/trigger").json()["goals_created"] == []
    assert Goal.objects.count() == 1


def test_status_report_statistics_and_insights_answer(api, alice):
    make_goal(personal_workspace_for(alice))
    status = api.get("status").json()
    assert status["active_goals"] == 1 and status["statistics"]["goals_created"] == 1
    report = api.get("report").json()
    assert {"agent_status", "goals", "executor", "insights"} <= set(report)
    assert api.get("executor/statistics").json()["totals"]["actions_executed"] == 0
    assert api.get("executor/insights").status_code == 200


def test_anonymous_callers_are_refused():
    assert Client().get(BASE + "status").status_code in (401, 403)


# --- rules -----------------------------------------------------------------------------------
def test_rules_come_with_the_collectors_defaults_and_are_saved_by_metric_name(api, alice):
    names = {rule["metric_name"] for rule in api.get("rules").json()["rules"]}
    assert {"host_cpu_load_percent", "host_disk_used_percent", "run_failure_rate"} <= names
    rule = {"metric_name": "latency", "warning": 200, "critical": 400, "goal_type": "sla_maintenance"}
    assert api.post("rules", rule).status_code == 200
    assert api.post("rules", {**rule, "critical": 500}).status_code == 200
    stored = MetricRule.objects.get(workspace=personal_workspace_for(alice), metric_name="latency")
    assert (stored.critical, stored.goal_type, stored.direction) == (500.0, "sla_maintenance", "above")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"warning": 600}, "warning"),
        ({"goal_type": "world_domination"}, "goal_type"),
        ({"direction": "sideways"}, "direction"),
        ({"critical": None}, "critical"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field(api, change, field):
    rule = {"metric_name": "latency", "warning": 200, "critical": 400, **change}
    response = api.post("rules", rule)
    assert response.status_code == 400
    assert field in response.json()
