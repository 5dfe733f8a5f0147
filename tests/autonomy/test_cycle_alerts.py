"""Alerts by default: a failing executor or cycle reaches the autonomy channels whatever they
subscribe to (red, as seed 000's error embed); the completion message goes out after the
executor run ended, with its output and the next execution; skipped actions are not counted
as run; the executor's tool calls on request (notify_tool_calls), with a summary of what the
rate cap dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, Run, RunStatus
from agents.services import agent_pause
from autonomy import services
from autonomy.models import AutonomousConfig, AutonomyCycle, Goal
from gradent.demo import create_demo
from notifications.models import Channel, Notification
from tests.helpers import make_user
from tests.notifications import fakes
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RED = 15158332  # seed 000's error embed colour


@pytest.fixture
def demo():
    user = make_user("alice")
    create_demo(owner=user)
    workspace = personal_workspace_for(user)
    executor = Agent.objects.get(workspace=workspace, name="Demo: autonomous executor")
    Run.objects.all().delete()
    discord = {"url": fakes.DISCORD_URL}
    services.config_update(
        workspace=workspace, enabled=True, frequency="1hour", channels={"discord": discord, "ntfy": None}
    )
    # Whatever the autonomy channel subscribes to, it hears the cycle's result.
    Channel.objects.filter(workspace=workspace).update(events=["goal_created"])
    return workspace, executor


def completions():
    return list(Notification.objects.filter(event="autonomy_cycle_completed").order_by("id"))


def two_goals(workspace) -> None:
    for name in ("cpu_usage", "memory_usage"):
        Goal.objects.create(
            workspace=workspace, goal_type="bottleneck_prevention", title=name, cause=name, priority=1, metric_name=name
        )


def test_the_completion_goes_out_after_the_executor_run_with_its_output_and_next_time(demo, run_inline):
    workspace, executor = demo
    summary = services.run_cycle(workspace, now=T0)
    cycle = AutonomyCycle.objects.get()
    assert cycle.status == "running" and cycle.executor_run_id == summary["executor_run"]
    assert completions() == []  # the executor has not run yet
    run = Run.objects.get(pk=summary["executor_run"])
    with run_inline(execute=True):
        from agents.services import enqueue_run

        enqueue_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.output == "Cycle noted."
    (message,) = completions()
    assert message.title == "Autonomous cycle completed"
    assert "Executor: Cycle noted." in message.body
    next_execution = AutonomousConfig.objects.get(workspace=workspace).next_execution
    assert f"Next execution: {next_execution.isoformat()}" in message.body
    embed = message.payload["embeds"][0]
    assert embed["color"] != RED and "Cycle noted." in embed["description"]
    cycle.refresh_from_db()
    assert cycle.status == "succeeded" and cycle.finished is not None


def test_a_failing_executor_reaches_the_channel_as_a_red_error(demo, run_inline):
    workspace, executor = demo
    executor.provider_settings = {"steps": [{"tool": "no_such_tool", "args": {}}]}
    executor.max_attempts = 1
    executor.save()
    with run_inline(execute=True):
        services.run_cycle(workspace, now=T0)
    (message,) = completions()
    assert message.title == "Autonomous cycle failed"
    assert message.payload["embeds"][0]["color"] == RED
    cycle = AutonomyCycle.objects.get()
    assert cycle.status == "failed" and f"executor run #{cycle.executor_run_id} failed" in cycle.error


def test_a_failing_cycle_reaches_the_channel_as_a_red_error(demo, monkeypatch):
    workspace, _ = demo

    def broken(*args, **kwargs):
        raise RuntimeError("the metrics store is unreadable")

    monkeypatch.setattr(services, "analyse", broken)
    services.run_cycle(workspace, now=T0)
    (message,) = completions()
    assert message.title == "Autonomous cycle failed" and "the metrics store is unreadable" in message.body
    assert message.payload["embeds"][0]["color"] == RED
    assert AutonomyCycle.objects.get().status == "failed"


def test_skipped_actions_are_not_counted_as_run(demo):
    workspace, executor = demo
    agent_pause(agent=executor)
    two_goals(workspace)
    services.run_cycle(workspace, now=T0)
    (message,) = completions()
    assert "0 action(s) run, 2 skipped" in message.body
    cycle = AutonomyCycle.objects.get()
    assert (cycle.actions, cycle.actions_skipped, cycle.status) == (0, 2, "succeeded")


def test_tool_calls_are_an_option_and_the_rate_cap_says_how_many_it_dropped(demo, run_inline, settings):
    workspace, _ = demo
    with run_inline(execute=True):
        services.run_cycle(workspace, now=T0)
    assert not Notification.objects.filter(event="autonomy_tool_called").exists()  # off by default

    AutonomousConfig.objects.filter(workspace=workspace).update(notify_tool_calls=True)
    with run_inline(execute=True):
        services.run_cycle(workspace, now=T0.replace(hour=13))
    sent = list(Notification.objects.filter(event="autonomy_tool_called").order_by("id"))
    assert [n.title for n in sent] == ["Demo: autonomous executor called record_event"] + [
        "Demo: autonomous executor called remember"
    ]

    settings.GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE = 2  # two sent in the last minute already
    with run_inline(execute=True):
        services.run_cycle(workspace, now=T0.replace(hour=14))
    rows = list(Notification.objects.filter(event="autonomy_tool_called").order_by("id")[2:])
    assert [n.status for n in rows[:2]] == ["dropped", "dropped"]
    assert rows[2].title == "2 tool calls not sent" and rows[2].status != "dropped"


def test_notify_tool_calls_and_start_now_through_the_config_api(client):
    user = make_user("bob")
    client.force_login(user)
    body = {"enabled": True, "frequency": "1hour", "notify_tool_calls": True, "start_now": True}
    before = datetime.now(UTC)
    assert client.put("/api/autonomous/config", body, content_type="application/json").status_code == 200
    shown = client.get("/api/autonomous/config").json()
    assert shown["notify_tool_calls"] is True
    config = AutonomousConfig.objects.get(workspace=personal_workspace_for(user))
    assert before <= config.next_execution <= datetime.now(UTC)  # due now, not in an hour
    wrong = client.put(
        "/api/autonomous/config", {**body, "notify_tool_calls": "maybe"}, content_type="application/json"
    )
    assert wrong.status_code == 400 and "notify_tool_calls" in wrong.json()


def test_a_cycle_left_waiting_is_settled_by_the_next_one(demo):
    workspace, executor = demo
    summary = services.run_cycle(workspace, now=T0)
    Run.objects.filter(pk=summary["executor_run"]).update(status=RunStatus.CANCELLED)  # no event for that
    lost = AutonomyCycle.objects.create(workspace=workspace, started=timezone.now() - timedelta(hours=2))
    services.run_cycle(workspace, now=T0.replace(hour=13), run_executor=False)
    first = AutonomyCycle.objects.get(pk=summary["cycle"])
    assert first.status == "succeeded" and first.finished is not None
    lost.refresh_from_db()
    assert lost.status == "failed" and "worker" in lost.error
