"""Goals from the originals' own metric names with no rule written, rules written before a
metric's data arrives, and a rule change that re-evaluates the goals opened under the old one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from autonomy import services
from autonomy.models import Goal, MetricPoint, MetricRule
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


def rising(workspace, name: str, *, start: float, step: float, count: int = 12) -> None:
    for k in range(count):
        at = T0 - timedelta(hours=count - 1 - k)
        MetricPoint.objects.create(workspace=workspace, name=name, value=start + step * k, at=at)


def test_a_rising_cpu_usage_toward_95_opens_a_goal_with_no_rule_written(alice):
    _, workspace = alice
    rising(workspace, "cpu_usage", start=60.0, step=2.0)  # 60 … 82, +2 an hour: 95 in ~7 h
    summary = services.run_cycle(workspace, now=T0, run_executor=False)
    goal = Goal.objects.get()
    assert summary["goals_created"] == [goal.pk]
    assert (goal.metric_name, goal.threshold, goal.goal_type) == ("cpu_usage", 95.0, "bottleneck_prevention")


@pytest.mark.parametrize(
    ("name", "start", "step", "threshold"),
    [("memory_usage", 70, 2, 95), ("disk_usage", 70, 2, 95), ("error_rate", 1, 0.7, 10),
     ("latency", 300, 60, 1000), ("queue_depth", 100, 70, 1000)],
)  # fmt: skip
def test_the_originals_common_metric_names_have_default_rules(alice, name, start, step, threshold):
    _, workspace = alice
    rising(workspace, name, start=start, step=step)
    services.run_cycle(workspace, now=T0, run_executor=False)
    assert Goal.objects.get().threshold == threshold


def test_a_rule_for_a_metric_with_no_data_yet_is_kept_and_used_when_data_arrives(alice):
    client, workspace = alice
    body = {"metric_name": "checkout_p99", "warning": 2.0, "critical": 3.0, "goal_type": "performance_target"}
    response = client.post("/api/autonomous/rules", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert "checkout_p99" in {r["metric_name"] for r in client.get("/api/autonomous/rules").json()["rules"]}
    rising(workspace, "checkout_p99", start=1.0, step=0.15)
    services.run_cycle(workspace, now=T0, run_executor=False)
    assert Goal.objects.get().metric_name == "checkout_p99"


def test_a_rule_change_closes_the_goal_of_the_old_threshold_and_re_evaluates(alice):
    client, workspace = alice
    rising(workspace, "cpu_usage", start=60.0, step=2.0)
    services.run_cycle(workspace, now=T0, run_executor=False)
    old = Goal.objects.get()
    # A higher threshold the forecast still crosses: the old goal is replaced by a new one.
    services.rule_save(workspace=workspace, metric_name="cpu_usage", warning=85.0, critical=98.0, now=T0)
    old.refresh_from_db()
    assert old.status == Goal.Status.CANCELLED
    new = Goal.objects.active().get()
    assert new.threshold == 98.0 and new.pk != old.pk
    # A threshold out of reach: the goal is closed and none is opened.
    body = {"metric_name": "cpu_usage", "warning": 500, "critical": 1000}
    assert client.post("/api/autonomous/rules", body, content_type="application/json").status_code == 200
    assert not Goal.objects.active().exists()
    assert MetricRule.objects.get(workspace=workspace, metric_name="cpu_usage").critical == 1000
