"""The cycle's executor work is one run per cycle, with the goals as its input, so the
agent's overlap policy never skips the second goal; a refused start is recorded as
skipped, not failed, and teaches the learner nothing. Run with the demo executor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.models import Agent, Run, RunSource, RunStatus
from agents.services import agent_pause
from autonomy import services
from autonomy.models import AutonomousConfig, Goal, GoalAction
from gradent.demo import create_demo
from tests.helpers import make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo():
    user = make_user("alice")
    with_demo = create_demo(owner=user)
    workspace = personal_workspace_for(user)
    executor = Agent.objects.get(workspace=workspace, name="Demo: autonomous executor")
    assert executor in with_demo and executor.overlap_policy == "skip"
    Run.objects.all().delete()  # the demo's first runs are not the cycle's business
    return workspace, executor


def two_goals(workspace) -> list[Goal]:
    return [
        Goal.objects.create(
            workspace=workspace,
            goal_type="bottleneck_prevention",
            title=f"{name} high",
            cause=name,
            priority=1,
            metric_name=name,
            threshold=90.0,
        )  # fmt: skip
        for name in ("cpu_usage", "memory_usage")
    ]


def test_a_cycle_with_two_goals_runs_every_planned_action_with_the_demo_executor(demo, run_inline):
    workspace, executor = demo
    goals = two_goals(workspace)
    with run_inline(execute=True):
        summary = services.run_cycle(workspace, now=T0)
    assert summary["error"] == ""
    actions = list(GoalAction.objects.order_by("goal_id"))
    assert [a.goal_id for a in actions] == [g.pk for g in goals]
    assert all(a.action == "run_executor_agent" and a.status == "running" for a in actions)
    (run,) = Run.objects.filter(source=RunSource.AUTONOMY)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert {a.run_id for a in actions} == {run.pk} and summary["executor_run"] == run.pk
    assert [g["id"] for g in run.input["goals"]] == [g.pk for g in goals]
    assert not Run.objects.filter(status=RunStatus.SKIPPED).exists()
    assert not GoalAction.objects.filter(status__in=["skipped", "failed"]).exists()


def test_the_cycle_queues_behind_a_running_executor_run_whatever_its_policy(demo):
    workspace, executor = demo
    Run.objects.create(workspace=workspace, agent=executor, status=RunStatus.RUNNING)
    two_goals(workspace)
    summary = services.run_cycle(workspace, now=T0)
    run = Run.objects.get(pk=summary["executor_run"])
    assert run.status == RunStatus.QUEUED and run.overlap_policy == "queue_one"
    assert not GoalAction.objects.exclude(status="running").exists()


def test_a_refused_executor_start_is_skipped_not_failed_and_teaches_nothing(demo):
    workspace, executor = demo
    agent_pause(agent=executor, reason="maintenance")
    two_goals(workspace)
    summary = services.run_cycle(workspace, now=T0)
    assert summary["error"] == "" and summary["executor_run_status"] == "skipped"
    actions = list(GoalAction.objects.all())
    assert len(actions) == 2 and {a.status for a in actions} == {"skipped"}
    assert all("paused" in a.error and "handler reported failure" not in a.error for a in actions)
    assert services.learner_for(workspace).stats() == []
    # A skipped action is not measured at the next cycle either.
    services.run_cycle(workspace, now=T0.replace(hour=13))
    assert services.learner_for(workspace).stats() == []
    assert AutonomousConfig.objects.get(workspace=workspace).last_error == ""


def test_skipped_actions_are_not_counted_as_executed(demo, client):
    workspace, executor = demo
    agent_pause(agent=executor)
    two_goals(workspace)
    services.run_cycle(workspace, now=T0)
    client.force_login(workspace.memberships.get().user)
    totals = client.get("/api/autonomous/executor/statistics").json()["totals"]
    assert (totals["actions_executed"], totals["actions_skipped"], totals["actions_failed"]) == (0, 2, 0)
