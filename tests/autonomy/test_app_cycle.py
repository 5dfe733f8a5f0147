"""The autonomous cycle with a controlled clock: a metric rising toward its critical
threshold opens one goal, an action is chosen and run, its impact is measured at the next
cycle and the goal is achieved when the metric returns to range; plus the dispatcher source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.models import Run, RunSource
from autonomy import services
from autonomy.actions import register_action_handler, unregister_action_handler
from autonomy.models import AutonomousConfig, Event, Goal, GoalAction, LearningState, MetricPoint, MetricRule
from autonomy.sources import AutonomySource
from notifications.models import Notification
from tests.helpers import make_agent, make_user
from tests.notifications.helpers import make_channel
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def workspace():
    return personal_workspace_for(make_user("alice"))


@pytest.fixture
def handlers():
    calls = []
    names = []

    def register(name, handler=None):
        def default(params, goal_id):
            calls.append((name, goal_id, params))
            return {"success": True, "impact": {"cpu": -0.2}}

        register_action_handler(name, handler or default)
        names.append(name)

    yield register, calls
    for name in names:
        unregister_action_handler(name)


def point(workspace, value: float, at: datetime) -> None:
    MetricPoint.objects.create(workspace=workspace, name="cpu", value=value, at=at)


def rising(workspace, *, until: datetime, count: int = 12) -> None:
    for k in range(count):
        point(workspace, 50.0 + 2 * k, until - timedelta(hours=count - 1 - k))


@pytest.fixture
def rule(workspace):
    return MetricRule.objects.create(workspace=workspace, metric_name="cpu", warning=80, critical=90)


def test_a_rising_metric_opens_one_goal_acts_measures_and_is_achieved(workspace, rule, handlers):
    register, calls = handlers
    register("scale_up")
    make_channel("ntfy", {"topic": "gradent-test"}, workspace=workspace, events=["goal_created", "goal_achieved"])
    rising(workspace, until=T0)  # 50 … 72, +2 an hour: 90 forecast within 24 h

    first = services.run_cycle(workspace, now=T0)
    assert first["error"] == ""
    goal = Goal.objects.get()
    assert goal.status == Goal.Status.ACTIVE and goal.goal_type == "bottleneck_prevention"
    assert goal.evidence["breach"]["value"] >= 90 and goal.evidence["latest"] == 72.0
    assert first["goals_created"] == [goal.pk]
    action = GoalAction.objects.get()
    assert (action.action, action.status, action.impact_before) == ("scale_up", "running", 72.0)
    assert calls[0][1] == goal.pk and calls[0][2]["goal"]["metric"] == "cpu"

    # Still rising an hour later: no second goal for the same cause; the action did not help.
    point(workspace, 74.0, T0 + timedelta(hours=1))
    second = services.run_cycle(workspace, now=T0 + timedelta(hours=1))
    assert second["goals_created"] == [] and Goal.objects.count() == 1
    action.refresh_from_db()
    assert action.status == "failed" and action.impact_after == 74.0

    # Back in range: the latest action improved the metric and the goal is achieved.
    for h, value in enumerate([60.0, 45.0, 40.0, 40.0, 40.0, 40.0], start=2):
        point(workspace, value, T0 + timedelta(hours=h))
    third = services.run_cycle(workspace, now=T0 + timedelta(hours=7))
    goal.refresh_from_db()
    assert goal.status == Goal.Status.ACHIEVED and third["goals_achieved"] == [goal.pk]
    latest = GoalAction.objects.order_by("-created").first()
    assert latest.status == "succeeded" and latest.impact == 40.0 - 74.0

    learner = services.learner_for(workspace)
    stats = {(s.action, s.goal_type): s for s in learner.stats()}[("scale_up", "bottleneck_prevention")]
    assert (stats.successes, stats.failures) == (1, 1)
    assert LearningState.objects.filter(workspace=workspace).exists()
    assert set(Notification.objects.values_list("event", flat=True)) == {"goal_created", "goal_achieved"}
    config = AutonomousConfig.objects.get(workspace=workspace)
    assert config.last_execution == T0 + timedelta(hours=7)


def test_a_failing_handler_fails_its_action_not_the_cycle(workspace, rule, handlers):
    register, _ = handlers

    def broken(params, goal_id):
        raise RuntimeError("the cluster API is down")

    register("broken", broken)
    rising(workspace, until=T0)
    summary = services.run_cycle(workspace, now=T0)
    assert summary["error"] == ""
    action = GoalAction.objects.get()
    assert action.status == "failed" and "the cluster API is down" in action.error
    assert Goal.objects.get().status == Goal.Status.ACTIVE
    stats = services.learner_for(workspace).stats()[0]
    assert stats.failures == 1 and "RuntimeError: the cluster API is down" in stats.errors


def test_a_handler_reporting_failure_fails_its_action(workspace, rule, handlers):
    register, _ = handlers
    register("refuses", lambda params, goal_id: {"success": False, "error": "not allowed"})
    rising(workspace, until=T0)
    services.run_cycle(workspace, now=T0)
    action = GoalAction.objects.get()
    assert (action.status, action.error) == ("failed", "not allowed")


def test_the_executor_agent_runs_once_a_cycle_with_the_goals_as_its_input(workspace, rule):
    agent = make_agent(workspace=workspace, name="Executor")
    AutonomousConfig.objects.create(workspace=workspace, enabled=True, executor=agent)
    rising(workspace, until=T0)
    summary = services.run_cycle(workspace, now=T0)
    (run,) = Run.objects.filter(source=RunSource.AUTONOMY)
    action = GoalAction.objects.get()
    assert action.action == "run_executor_agent" and action.run == run
    assert "cpu" in run.input["task"] and run.input["goals"][0]["id"] == action.goal_id
    assert summary["executor_run"] == run.pk


def test_goals_expire_and_too_many_are_not_opened(workspace, rule):
    goal = Goal.objects.create(
        workspace=workspace,
        goal_type="capacity_planning",
        title="old",
        cause="old",
        created=T0 - timedelta(days=3),
        expires_at=T0 - timedelta(days=1),
    )
    services.run_cycle(workspace, now=T0)
    goal.refresh_from_db()
    assert goal.status == Goal.Status.EXPIRED
    for i in range(services.MAX_ACTIVE_GOALS):
        Goal.objects.create(workspace=workspace, goal_type="cost_reduction", title=f"g{i}", cause=f"c{i}")
    rising(workspace, until=T0)
    assert services.run_cycle(workspace, now=T0)["goals_created"] == []


def test_the_cycle_reschedules_and_notifies(workspace):
    make_channel(
        "ntfy",
        {"topic": "gradent-test"},
        workspace=workspace,
        events=["autonomy_cycle_started", "autonomy_cycle_completed"],
    )
    AutonomousConfig.objects.create(workspace=workspace, enabled=True, frequency="30min")
    services.run_cycle(workspace, now=T0)
    config = AutonomousConfig.objects.get(workspace=workspace)
    assert (config.last_execution, config.next_execution) == (T0, T0 + timedelta(minutes=30))
    events = list(Notification.objects.order_by("id").values_list("event", flat=True))
    assert events == ["autonomy_cycle_started", "autonomy_cycle_completed"]


def test_the_source_starts_a_due_cycle_once(workspace, run_inline):
    now = datetime.now(UTC)
    AutonomousConfig.objects.create(workspace=workspace, enabled=True, next_execution=now - timedelta(seconds=5))
    AutonomousConfig.objects.create(
        workspace=personal_workspace_for(make_user("bob")), enabled=False, next_execution=now - timedelta(seconds=5)
    )
    with run_inline():
        assert AutonomySource().tick(now).done == 1
    assert AutonomySource().tick(now + timedelta(seconds=1)).done == 0
    config = AutonomousConfig.objects.get(workspace=workspace)
    assert config.last_execution is not None
    assert config.next_execution > now + timedelta(minutes=59)


def test_a_recurring_event_opens_one_pattern_adaptation_goal(workspace):
    for day in range(4):
        at = T0.replace(hour=9, minute=5) - timedelta(days=day + 1)
        services.event_record(workspace=workspace, event_type="backup", metadata={})
        Event.objects.filter(pk=Event.objects.latest("id").pk).update(at=at)
    agent = make_agent(workspace=workspace, name="Executor")
    AutonomousConfig.objects.create(workspace=workspace, executor=agent)
    summary = services.run_cycle(workspace, now=T0, run_executor=False)
    goal = Goal.objects.get(goal_type="pattern_adaptation")
    assert summary["goals_created"] == [goal.pk]
    assert "backup" in goal.title and goal.evidence["pattern"]["hour"] == 9
    action = GoalAction.objects.get(goal=goal)
    assert action.strategy == "scheduled"  # an unurgent goal, acted on in a quiet hour (12:00 here)
    assert "backup" in action.run.input["task"]
    # Expired or not, the same pattern does not open a new goal within a week.
    services.run_cycle(workspace, now=T0 + timedelta(days=3), run_executor=False)
    assert Goal.objects.filter(goal_type="pattern_adaptation").count() == 1


def test_an_unurgent_goal_waits_for_a_quiet_hour(workspace, handlers):
    register, calls = handlers
    register("tidy")
    for day in range(5):  # busy at noon every day
        for minute in (1, 20, 40):
            at = T0 - timedelta(days=day + 1) + timedelta(minutes=minute)
            Event.objects.create(workspace=workspace, event_type="traffic", at=at)
    Goal.objects.create(workspace=workspace, goal_type="cost_reduction", title="trim", cause="trim", priority=5)
    services.run_cycle(workspace, now=T0 + timedelta(minutes=30), run_executor=False)
    assert not GoalAction.objects.filter(goal__cause="trim").exists()
    services.run_cycle(workspace, now=T0 + timedelta(hours=3), run_executor=False)
    assert GoalAction.objects.get(goal__cause="trim").strategy == "scheduled"


def test_goals_sharing_a_metric_act_one_at_a_time(workspace, handlers):
    register, calls = handlers
    register("scale_up")
    point(workspace, 70.0, T0 - timedelta(hours=1))
    for cause, priority in (("a", 2), ("b", 3)):
        Goal.objects.create(
            workspace=workspace, goal_type="performance_target", title=cause, cause=cause, priority=priority,
            metric_name="cpu", threshold=90.0,
        )  # fmt: skip
    services.run_cycle(workspace, now=T0, run_executor=False)
    (action,) = GoalAction.objects.all()
    assert (action.goal.cause, action.strategy) == ("a", "collaborative")


def test_a_cycle_publishes_its_start_and_end_on_the_agents_bus(workspace):
    from agents import events

    heard = []

    def listener(*, event, workspace_id, context, **kwargs):
        heard.append((event, workspace_id, sorted(context)))

    events.subscribe("autonomy_cycle_started", listener)
    events.subscribe("autonomy_cycle_completed", listener)
    try:
        services.run_cycle(workspace, now=T0, run_executor=False)
    finally:
        events.unsubscribe("autonomy_cycle_started", listener)
        events.unsubscribe("autonomy_cycle_completed", listener)
    assert heard == [
        ("autonomy_cycle_started", workspace.pk, ["cycle"]),
        ("autonomy_cycle_completed", workspace.pk, ["cycle", "executor", "summary"]),
    ]
