"""Seed 004's shapes and knobs: goals[].progress, status.uptime_seconds,
report.forecasting_report / executor_state, predictions' overall predicted_state, the
loop's configuration as validated config fields, goal plans run in order, and rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from autonomy import services
from autonomy.actions import register_action_handler, unregister_action_handler
from autonomy.models import AutonomousConfig, Goal, GoalAction, MetricPoint
from tests.helpers import make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def alice():
    user = make_user("alice")
    client = Client()
    client.force_login(user)
    return client, personal_workspace_for(user)


@pytest.fixture
def handlers():
    names = []

    def register(name, handler, **kwargs):
        register_action_handler(name, handler, **kwargs)
        names.append(name)

    yield register
    for name in names:
        unregister_action_handler(name)


def put_config(client, **fields):
    body = {"enabled": True, "frequency": "1hour", **fields}
    return client.put("/api/autonomous/config", body, content_type="application/json")


def test_goal_progress_is_the_metrics_way_from_its_opening_value_to_target(alice):
    client, workspace = alice
    Goal.objects.create(
        workspace=workspace, goal_type="bottleneck_prevention", title="cpu", cause="c", metric_name="cpu_usage",
        threshold=95.0, target=80.0, evidence={"latest": 90.0},
    )  # fmt: skip
    MetricPoint.objects.create(workspace=workspace, name="cpu_usage", value=85.0)
    (goal,) = client.get("/api/autonomous/goals").json()["goals"]
    assert goal["progress"] == 0.5  # 90 → 85 of the way to 80
    MetricPoint.objects.create(workspace=workspace, name="cpu_usage", value=97.0)
    assert client.get("/api/autonomous/goals").json()["goals"][0]["progress"] == 0.0
    report = client.get("/api/autonomous/report").json()
    assert report["goals"]["goals"][0]["progress"] == 0.0


def test_status_uptime_report_and_predictions_have_the_originals_fields(alice):
    client, workspace = alice
    assert client.get("/api/autonomous/status").json()["uptime_seconds"] == 0.0
    assert put_config(client).status_code == 200
    AutonomousConfig.objects.filter(workspace=workspace).update(enabled_since=timezone.now() - timedelta(minutes=5))
    assert 299 <= client.get("/api/autonomous/status").json()["uptime_seconds"] <= 330

    now = timezone.now()
    for k in range(12):  # cpu_usage rising toward its default critical 95
        at = now - timedelta(hours=11 - k)
        MetricPoint.objects.create(workspace=workspace, name="cpu_usage", value=60.0 + 2 * k, at=at)
        MetricPoint.objects.create(workspace=workspace, name="memory_usage", value=40.0, at=at)
    services.config_for(workspace)
    predictions = client.get("/api/autonomous/predictions?horizon_hours=24").json()
    assert predictions["predictions"]["cpu_usage"]["state"] == "warning"
    assert predictions["predictions"]["memory_usage"]["state"] == "normal"
    assert predictions["predicted_state"] == "warning"

    report = client.get("/api/autonomous/report").json()
    assert report["forecasting_report"]["prediction"]["predicted_state"] == "warning"
    assert report["forecasting_report"]["predicted_state"] == "warning"
    assert report["executor_state"]["statistics"]["success_rate"] is None  # nothing measured yet
    assert report["executor_state"]["learning_enabled"] is True
    assert report["agent_status"]["uptime_seconds"] > 0


def test_the_loops_knobs_are_validated_config_fields(alice):
    client, workspace = alice
    knobs = {
        "max_active_goals": 2,
        "max_concurrent_goals": 1,
        "enable_learning": False,
        "analysis_interval_minutes": 120,
        "pattern_window_hours": 72,
    }
    assert put_config(client, **knobs).status_code == 200
    shown = client.get("/api/autonomous/config").json()
    assert {key: shown[key] for key in knobs} == knobs
    for field, bad in (("max_active_goals", 0), ("max_concurrent_goals", 99), ("pattern_window_hours", 1),
                       ("analysis_interval_minutes", -1), ("enable_learning", "perhaps")):  # fmt: skip
        response = put_config(client, **{field: bad})
        assert response.status_code == 400 and field in response.json(), (field, response.content)
    assert client.get("/api/autonomous/config").json()["max_active_goals"] == 2  # nothing lost


def test_max_active_goals_max_concurrent_goals_and_learning_steer_the_cycle(alice, handlers):
    client, workspace = alice
    register = handlers
    register("tune", lambda params, goal_id: {"success": True})
    put_config(client, max_active_goals=1, max_concurrent_goals=1, enable_learning=False)
    for name in ("cpu_usage", "memory_usage"):
        for k in range(12):
            at = T0 - timedelta(hours=11 - k)
            MetricPoint.objects.create(workspace=workspace, name=name, value=60.0 + 2 * k, at=at)
    summary = services.run_cycle(workspace, now=T0, run_executor=False)
    assert len(summary["goals_created"]) == 1 and len(summary["actions"]) == 1
    services.run_cycle(workspace, now=T0 + timedelta(hours=1), run_executor=False)
    assert GoalAction.objects.exclude(measured_at=None).exists()
    assert services.learner_for(workspace).stats() == []  # learning off: nothing recorded


def test_an_analysis_interval_skips_analysis_in_between(alice):
    client, workspace = alice
    put_config(client, analysis_interval_minutes=120)
    services.run_cycle(workspace, now=T0, run_executor=False)
    second = services.run_cycle(workspace, now=T0 + timedelta(hours=1), run_executor=False)
    assert "analysis_skipped" in second
    third = services.run_cycle(workspace, now=T0 + timedelta(hours=2), run_executor=False)
    assert "analysis_skipped" not in third


def test_a_goal_plan_runs_its_actions_in_order_one_a_cycle(alice, handlers):
    client, workspace = alice
    calls = []
    for name in ("drain", "resize", "restart"):
        handlers(name, lambda params, goal_id, name=name: calls.append(name) or {"success": True})
    rule = {"metric_name": "orders_backlog", "warning": 100, "critical": 1000, "plan": ["drain", "resize", "restart"]}
    assert client.post("/api/autonomous/rules", rule, content_type="application/json").status_code == 200
    bad = client.post("/api/autonomous/rules", {**rule, "plan": ["nope"]}, content_type="application/json")
    assert bad.status_code == 400 and "plan" in bad.json()
    for k in range(12):
        at = T0 - timedelta(hours=11 - k)
        MetricPoint.objects.create(workspace=workspace, name="orders_backlog", value=1200.0 + k, at=at)
    for hour in range(4):
        services.run_cycle(workspace, now=T0 + timedelta(hours=hour), run_executor=False)
    assert calls == ["drain", "resize", "restart"]
    steps = list(GoalAction.objects.order_by("created").values_list("plan_step", "action"))
    assert steps == [(0, "drain"), (1, "resize"), (2, "restart")]
    goal = client.get(f"/api/autonomous/goals/{Goal.objects.get().pk}").json()
    assert goal["plan"] == ["drain", "resize", "restart"] and goal["actions"][0]["plan_step"] == 2


def test_a_handler_with_an_undo_is_rolled_back_when_the_impact_is_negative(alice, handlers):
    client, workspace = alice
    undone = []

    def undo(params, goal_id, result):
        undone.append((goal_id, result["replicas"]))
        return {"replicas": 2}

    handlers("scale_down", lambda params, goal_id: {"success": True, "replicas": 1}, undo=undo)
    for k in range(12):
        at = T0 - timedelta(hours=11 - k)
        MetricPoint.objects.create(workspace=workspace, name="cpu_usage", value=60.0 + 2 * k, at=at)
    services.run_cycle(workspace, now=T0, run_executor=False)
    MetricPoint.objects.create(workspace=workspace, name="cpu_usage", value=90.0, at=T0 + timedelta(minutes=30))
    services.run_cycle(workspace, now=T0 + timedelta(hours=1), run_executor=False)
    action = GoalAction.objects.order_by("created").first()
    assert action.status == "failed" and action.rolled_back
    assert action.rollback["success"] is True and action.rollback["replicas"] == 2
    assert undone == [(action.goal_id, 1)]
    # An action that helped is not rolled back.
    MetricPoint.objects.create(workspace=workspace, name="cpu_usage", value=70.0, at=T0 + timedelta(minutes=90))
    services.run_cycle(workspace, now=T0 + timedelta(hours=2), run_executor=False)
    assert len(undone) == 1


def test_a_goals_plan_is_set_through_the_api_and_shown_on_its_page(alice, handlers):
    client, workspace = alice
    calls = []
    for name in ("flush", "restart"):
        handlers(name, lambda params, goal_id, name=name: calls.append(name) or {"success": True})
    goal = Goal.objects.create(workspace=workspace, goal_type="sla_maintenance", title="errors", cause="e", priority=1)
    url = f"/api/autonomous/goals/{goal.pk}/plan"
    response = client.put(url, {"plan": ["flush", "restart"]}, content_type="application/json")
    assert response.status_code == 200 and response.json()["plan"] == ["flush", "restart"]
    bad = client.put(url, {"plan": ["flush", "format_disk"]}, content_type="application/json")
    assert bad.status_code == 400 and "format_disk" in str(bad.json()["plan"])
    other = personal_workspace_for(make_user("mallory"))
    foreign = Goal.objects.create(workspace=other, goal_type="sla_maintenance", title="x", cause="x")
    assert (
        client.put(
            f"/api/autonomous/goals/{foreign.pk}/plan", {"plan": []}, content_type="application/json"
        ).status_code
        == 404
    )
    services.run_cycle(workspace, now=T0, run_executor=False)
    services.run_cycle(workspace, now=T0 + timedelta(hours=1), run_executor=False)
    assert calls == ["flush", "restart"]
    page = client.get(f"/autonomy/goals/{goal.pk}/").content.decode()
    assert '<ol class="plan">' in page and "2. restart" in page
