"""The autonomy pages: overview with the mode switch, a goal, the learning insights, a metric's chart."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Run
from autonomy.learning import Learner
from autonomy.models import AutonomousConfig, Goal, GoalAction, LearningState, MetricPoint, MetricRule
from tests.helpers import make_agent, make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client():
    user = make_user("alice")
    client = Client()
    client.force_login(user)
    return client, personal_workspace_for(user)


def test_the_overview_shows_the_mode_and_saves_it(alice_client):
    client, workspace = alice_client
    goal = Goal.objects.create(workspace=workspace, goal_type="cost_reduction", title="Trim the spend", cause="c")
    GoalAction.objects.create(goal=goal, action="scale_down", status="failed", error="no quota")
    page = client.get("/autonomy/")
    assert page.status_code == 200
    assert b"Autonomous mode" in page.content and b'aria-current="page">Autonomy' in page.content
    assert b"Trim the spend" in page.content and b"scale_down: failed" in page.content
    response = client.post("/autonomy/mode/", {"enabled": "on", "frequency": "3hours"})
    assert response.status_code == 302
    config = AutonomousConfig.objects.get(workspace=workspace)
    assert config.enabled and config.frequency == "3hours" and config.next_execution is not None
    client.post("/autonomy/mode/", {"frequency": "nonsense"})
    assert AutonomousConfig.objects.get(workspace=workspace).frequency == "3hours"


def test_a_metric_page_carries_history_forecast_and_thresholds_for_its_chart(alice_client):
    client, workspace = alice_client
    now = timezone.now() - timedelta(minutes=1)
    for k in range(12):
        MetricPoint.objects.create(workspace=workspace, name="cpu", value=50 + k, at=now - timedelta(hours=11 - k))
    MetricRule.objects.create(workspace=workspace, metric_name="cpu", warning=70, critical=90)
    page = client.get("/autonomy/metrics/cpu/")
    assert page.status_code == 200
    assert b'data-chart="metric"' in page.content and b"<svg" not in page.content
    data = json.loads(
        re.search(rb'<script id="metric-chart-data" type="application/json">(.*?)</script>', page.content)[1]
    )
    assert data["history"][:12] == [50.0 + k for k in range(12)]
    assert data["has_forecast"] and len(data["x"]) > 12 and data["upper"][11] == data["lower"][11] == 61.0
    assert all(lo <= v <= up for lo, v, up in zip(data["lower"][12:], data["forecast"][12:], data["upper"][12:]))
    assert data["thresholds"] == [
        {"level": "warning", "value": 70.0, "label": "warning (above 70)"},
        {"level": "critical", "value": 90.0, "label": "critical (above 90)"},
    ]
    assert client.get("/autonomy/metrics/nothing/").status_code == 404


def test_a_goal_page_shows_its_evidence_and_plan(alice_client):
    client, workspace = alice_client
    MetricPoint.objects.create(workspace=workspace, name="cpu", value=81)
    run = Run.objects.create(workspace=workspace, agent=make_agent(workspace=workspace), status="succeeded")
    goal = Goal.objects.create(
        workspace=workspace,
        goal_type="bottleneck_prevention",
        title="Keep cpu below 90",
        metric_name="cpu",
        priority=1,
        cause="forecast:cpu",
        evidence={
            "latest": 81.0,
            "threshold": 90.0,
            "direction": "above",
            "method": "holt_linear",
            "backtest_error": 1.2345,
            "breach": {"at": "2026-01-01T12:00:00+00:00", "value": 91.5, "probability": 0.83, "hours_ahead": 4.5},
        },
        expires_at=timezone.now() + timedelta(hours=24),
    )
    GoalAction.objects.create(
        goal=goal,
        action="scale_up",
        strategy="adaptive",
        status="succeeded",
        run=run,
        impact_before=81,
        impact_after=60,
    )
    GoalAction.objects.create(goal=goal, action="notify_operator", status="failed", error="no channel configured")
    overview = client.get("/autonomy/")
    assert f'href="/autonomy/goals/{goal.pk}/"'.encode() in overview.content
    assert b'href="/autonomy/insights/"' in overview.content
    page = client.get(f"/autonomy/goals/{goal.pk}/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "Keep cpu below 90" in content and "Bottleneck prevention" in content
    assert 'href="/autonomy/metrics/cpu/"' in content
    assert "holt_linear" in content and "1.234" in content and "91.5" in content and "83 %" in content
    assert "<details><summary>Evidence (JSON)" in content and "&quot;hours_ahead&quot;: 4.5" in content
    assert "scale_up" in content and "Adaptive" in content and f'href="/agents/runs/{run.pk}/"' in content
    assert "-21" in content  # impact after - before
    assert "notify_operator" in content and "no channel configured" in content


def test_another_users_goal_is_not_found(alice_client):
    client, _ = alice_client
    bob = make_user("bob")
    goal = Goal.objects.create(
        workspace=personal_workspace_for(bob), goal_type="cost_reduction", title="Bob's goal", cause="c"
    )
    assert client.get(f"/autonomy/goals/{goal.pk}/").status_code == 404
    assert client.get("/autonomy/goals/999999/").status_code == 404


def test_the_insights_page_shows_what_was_learned(alice_client):
    client, workspace = alice_client
    page = client.get("/autonomy/insights/")
    assert page.status_code == 200 and b"Nothing learned yet" in page.content
    learner = Learner()
    at = timezone.now()
    for success in (True, True, True, False):
        learner.record(
            action="scale_up",
            goal_type="bottleneck_prevention",
            success=success,
            impact=-10.0 if success else None,
            at=at,
            error=None if success else "quota exceeded",
        )
    LearningState.objects.create(workspace=workspace, data=learner.to_dict())
    page = client.get("/autonomy/insights/")
    content = page.content.decode()
    assert page.status_code == 200 and "Nothing learned yet" not in content
    assert "scale_up" in content and "75 %" in content and "Bottleneck prevention" in content
    assert "quota exceeded" in content and f"{at.hour:02d}:00" in content
    # Another user's learning stays theirs.
    other = Client()
    other.force_login(make_user("bob"))
    assert b"Nothing learned yet" in other.get("/autonomy/insights/").content


def test_pages_need_a_login():
    for url in ("/autonomy/", "/autonomy/insights/", "/autonomy/goals/1/"):
        assert Client().get(url).status_code == 302
