"""The autonomy pages: overview with the mode switch, a metric's chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from autonomy.models import AutonomousConfig, Goal, GoalAction, MetricPoint
from tests.helpers import make_user
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


def test_a_metric_page_draws_history_and_forecast(alice_client):
    client, workspace = alice_client
    now = timezone.now() - timedelta(minutes=1)
    for k in range(12):
        MetricPoint.objects.create(workspace=workspace, name="cpu", value=50 + k, at=now - timedelta(hours=11 - k))
    page = client.get("/autonomy/metrics/cpu/")
    assert page.status_code == 200
    assert b"<svg" in page.content and b'class="band"' in page.content and b'class="history"' in page.content
    assert client.get("/autonomy/metrics/nothing/").status_code == 404


def test_pages_need_a_login():
    assert Client().get("/autonomy/").status_code == 302
