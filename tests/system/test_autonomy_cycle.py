"""System test: an autonomous cycle end to end with a real cluster.

The real `dispatch` process finds the workspace's cycle due (its autonomy source), sends it
to the workers as the django-q2 task `autonomy.tasks.run_cycle`, and a real `qcluster`
worker runs the cycle: a metric rising toward its critical threshold opens a goal, the
executor agent is started for it (the only action there is), and once more for the cycle;
the worker then runs those agent runs too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Task

from agents.models import FINAL_STATUSES, Run, RunSource, RunStatus
from autonomy.actions import RUN_EXECUTOR_AGENT
from autonomy.models import AutonomousConfig, Event, Goal, GoalAction, MetricPoint, MetricRule
from tests.helpers import make_user
from tests.system import conftest as system
from tests.system.conftest import wait_for
from tests.system.test_cluster import make_system_agent
from workspaces.models import personal_workspace_for

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

POINTS = 12  # hourly, 50 … 72: +2 an hour reaches the critical 90 in about 9 h
CRITICAL = 90.0


@pytest.fixture(autouse=True)
def no_mining(monkeypatch):
    """The dispatcher does not mine suggestions while this test watches it (the `cluster`
    fixture builds the processes' environment from FAST_ENV when it starts them).

    The built-in host-metric collector runs in the worker and cannot be switched off from
    the environment (GRADENT_AUTONOMY_HOST_METRICS is a setting with no environment
    variable); it records a few points in well under a second, for metrics without a rule."""
    monkeypatch.setitem(system.FAST_ENV, "GRADENT_MINING_INTERVAL", "0")
    # The test reads the cycle task's result, which django-q2 keeps only with a save limit.
    monkeypatch.setitem(system.FAST_ENV, "GRADENT_Q_SAVE_LIMIT", "50")


def test_the_dispatcher_starts_a_due_cycle_and_a_worker_runs_it(cluster):
    workspace = personal_workspace_for(make_user("autonomous"))
    executor = make_system_agent(
        workspace=workspace,
        steps=[
            {"tool": "record_event", "args": {"event_type": "executor_acted", "metadata": {"by": "executor"}}},
            {"tool": "remember", "args": {"key": "last_task", "value": "{{ input.task }}"}},
        ],
        tools=["record_event", "remember"],
    )
    MetricRule.objects.create(workspace=workspace, metric_name="cpu", warning=80.0, critical=CRITICAL)
    now = timezone.now()
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(workspace=workspace, name="cpu", value=50.0 + 2 * k, at=now - timedelta(hours=POINTS - 1 - k))
            for k in range(POINTS)
        ]
    )
    due = timezone.now()
    config = AutonomousConfig.objects.create(
        workspace=workspace, enabled=True, frequency="30min", executor=executor, next_execution=due
    )

    def cycle_done():
        cluster.check_alive()
        config.refresh_from_db()
        return config.last_execution is not None

    def runs_final():
        cluster.check_alive()
        runs = list(Run.objects.filter(agent=executor))
        return runs if len(runs) == 1 and all(run.status in FINAL_STATUSES for run in runs) else None

    wait_for(cycle_done, timeout=60, interval=0.2, what="the dispatcher to start the cycle and a worker to run it")
    runs = wait_for(runs_final, timeout=60, interval=0.2, what="the executor agent's run to finish")

    # The cycle ran after it was due and rescheduled itself one frequency later.
    config.refresh_from_db()
    assert config.last_error == ""
    assert due <= config.last_execution <= timezone.now()
    assert config.next_execution == config.last_execution + timedelta(minutes=30)

    # A goal for the forecast breach, with its evidence.
    goal = Goal.objects.get(workspace=workspace)
    assert (goal.status, goal.goal_type, goal.metric_name) == (Goal.Status.ACTIVE, "bottleneck_prevention", "cpu")
    assert goal.cause == f"breach:cpu:above:{CRITICAL:g}"
    assert goal.threshold == CRITICAL and goal.target == 80.0
    evidence = goal.evidence
    assert evidence["latest"] == 72.0 and evidence["threshold"] == CRITICAL and evidence["direction"] == "above"
    assert evidence["method"]
    assert evidence["breach"]["value"] >= CRITICAL and 0 < evidence["breach"]["hours_ahead"] <= 24
    assert goal.priority == 2  # the breach is 6–12 h ahead

    # One action for it: the executor agent, the only action without registered handlers.
    action = GoalAction.objects.get(goal=goal)
    assert (action.action, action.status, action.error) == (RUN_EXECUTOR_AGENT, GoalAction.Status.RUNNING, "")
    assert action.strategy == GoalAction.Strategy.ADAPTIVE
    assert action.impact_before == 72.0
    assert action.run is not None and action.result["run"] == action.run.pk

    # The executor ran once, on a worker: the cycle's run, with the goal as its input.
    (run,) = runs
    assert run.status == RunStatus.SUCCEEDED, (run.pk, run.status, run.reason)
    assert (run.source, run.source_ref) == (RunSource.AUTONOMY, f"autonomy:{workspace.pk}")
    assert run.pk == action.run_id
    assert "cpu" in run.input["task"] and [g["id"] for g in run.input["goals"]] == [goal.pk]
    assert run.worker and run.output == "done"
    assert Event.objects.filter(workspace=workspace, event_type="executor_acted").count() == 1

    # The dispatcher sent the cycle once, as the django-q2 task, and a worker ran it (the
    # built-in collector with it).
    (task,) = Task.objects.filter(func="autonomy.tasks.run_cycle")
    assert task.success and task.args == (workspace.pk,) and task.name == f"autonomy-{workspace.pk}"
    assert task.result == "1 goal(s) created, 1 action(s)"
    assert MetricPoint.objects.filter(workspace=workspace, labels__source="collector").exists()
