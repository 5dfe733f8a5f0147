"""The run lifecycle turned into notifications: who is told, who is not, and the
`notify_event` hook other apps call."""

from __future__ import annotations

import pytest

from agents.executor import execute_run
from agents.services import start_run
from notifications.models import Notification
from notifications.services import notify_event
from tests.helpers import make_agent, make_user
from tests.notifications import fakes
from tests.notifications.helpers import make_channel
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

DISCORD = {"url": fakes.DISCORD_URL}


def failing_agent(user, **fields):
    # No API key in the environment: the run fails at once, permanently.
    return make_agent(
        user, provider="openai", model="m", api_key_env="GRADENT_TEST_MISSING_KEY", auto_pause_after=0, **fields
    )


def run_to_end(agent):
    run = start_run(agent)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_a_failed_run_notifies_a_subscribed_channel_and_not_an_unsubscribed_one():
    user = make_user()
    subscribed = make_channel("discord", DISCORD, user=user, name="failures", events=["run_failed"])
    unsubscribed = make_channel("discord", DISCORD, user=user, name="successes", events=["run_succeeded"])
    run = run_to_end(failing_agent(user, name="Reporter"))
    assert run.status == "failed"
    [notification] = Notification.objects.filter(channel=subscribed)
    assert notification.event == "run_failed" and notification.run_id == run.pk
    assert notification.status == "pending"  # written before the attempt; sent after commit
    assert notification.title == f"Run #{run.pk} of Reporter failed"
    assert "GRADENT_TEST_MISSING_KEY" in notification.body
    assert notification.payload["embeds"][0]["color"] == 0xE74C3C
    assert not Notification.objects.filter(channel=unsubscribed).exists()


def test_channels_of_other_workspaces_disabled_channels_and_filtered_agents_hear_nothing():
    alice, bob = make_user("alice"), make_user("bob")
    agent = failing_agent(alice)
    other_agent = make_agent(alice, name="Other")
    make_channel("discord", DISCORD, user=bob, events=["run_failed"])
    make_channel("discord", DISCORD, user=alice, name="off", events=["run_failed"], enabled=False)
    only_other = make_channel("discord", DISCORD, user=alice, name="only other", events=["run_failed"])
    only_other.agents.set([other_agent])
    for_agent = make_channel("discord", DISCORD, user=alice, name="for agent", events=["run_failed"])
    for_agent.agents.set([agent])
    run_to_end(agent)
    assert list(Notification.objects.values_list("channel__name", flat=True)) == ["for agent"]


def test_success_and_start_are_separate_subscriptions():
    user = make_user()
    channel = make_channel("slack", {"url": fakes.SLACK_URL}, user=user, events=["run_started", "run_succeeded"])
    run = run_to_end(make_agent(user, name="Fine"))
    assert run.status == "succeeded"
    assert sorted(channel.notifications.values_list("event", flat=True)) == ["run_started", "run_succeeded"]


def test_a_skipped_run_and_an_auto_pause_are_notified(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("notifications.services.enqueue_notification", lambda pk: True)
    user = make_user()
    channel = make_channel("ntfy", {"topic": "alerts"}, user=user, events=["run_skipped", "agent_auto_paused"])
    agent = failing_agent(user)
    agent.auto_pause_after = 1
    agent.save()
    with django_capture_on_commit_callbacks(execute=True):
        run_to_end(agent)
        skipped = start_run(agent)
    assert skipped.status == "skipped"
    paused, skip = channel.notifications.order_by("id")
    assert paused.event == "agent_auto_paused" and "Auto-paused after 1" in paused.body
    assert skip.event == "run_skipped" and "paused" in skip.body
    assert paused.payload == paused.body  # ntfy sends text


def test_tool_calls_are_opt_in_and_rate_limited_per_channel(settings):
    settings.GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE = 2
    user = make_user()
    tracker = make_channel("discord", DISCORD, user=user, name="tracker", events=["tool_called"])
    quiet = make_channel("discord", DISCORD, user=user, name="quiet", events=["run_failed"])
    steps = [{"tool": "remember", "args": {"key": f"k{i}", "value": i}} for i in range(4)]
    agent = make_agent(user, provider_settings={"steps": steps, "answer": "ok"}, allowed_tools=["remember"])
    assert run_to_end(agent).status == "succeeded"
    rows = list(tracker.notifications.order_by("id").values_list("status", "title"))
    assert [title for status, title in rows if status != "dropped"] == [
        "Agent called remember",
        "Agent called remember",
        "2 tool calls not sent",  # the summary when the run ended, never capped itself
    ]
    assert [status for status, _ in rows].count("dropped") == 2
    assert not quiet.notifications.exists()


def test_notify_event_is_the_hook_for_other_apps():
    user = make_user()
    agent = make_agent(user, name="Watcher")
    channel = make_channel("webhook", {"url": "https://hooks.example.com/in"}, user=user, events=["monitor_flipped"])
    context = {
        "monitor": {"id": 3, "name": "Homepage", "state": "triggered", "previous_state": "clear"},
        "agent": {"id": agent.pk, "name": agent.name},
        "level": "error",
    }
    [notification] = notify_event(personal_workspace_for(user).pk, "monitor_flipped", context)
    assert notification.channel == channel and notification.title == "Monitor Homepage is triggered"
    assert notification.payload["type"] == "monitor_flipped"
    assert notification.payload["data"]["level"] == "error"
    assert notification.payload["data"]["monitor"]["previous_state"] == "clear"
    # The agent filter applies to the agent named in the context.
    channel.agents.set([make_agent(user, name="Someone else")])
    assert notify_event(personal_workspace_for(user).pk, "monitor_flipped", context) == []
    with pytest.raises(ValueError, match="unknown notification event"):
        notify_event(personal_workspace_for(user).pk, "monitor_exploded", {})


def test_a_failed_run_reaches_discord_end_to_end(discord_peer, run_inline):
    user = make_user()
    make_channel("discord", DISCORD, user=user, events=["run_failed"])
    agent = failing_agent(user, name="Nightly")
    with run_inline(execute=True):
        run = start_run(agent)
    run.refresh_from_db()
    assert run.status == "failed"
    notification = Notification.objects.get()
    assert notification.status == "sent", notification.last_error
    embed = discord_peer.last.json["embeds"][0]
    assert embed["title"] == f"Run #{run.pk} of Nightly failed"
    assert {field["name"] for field in embed["fields"]} >= {"Agent", "Attempt", "Started by", "Error"}


def test_a_monitor_flip_notifies_subscribers(django_capture_on_commit_callbacks, settings):
    from datetime import UTC, datetime, timedelta

    settings.GRADENT_CALLABLE_PROBES = ["tests.notifications.test_events.queue_depth"]

    from proactive.models import Monitor
    from proactive.services import monitor_check

    user = make_user("mona")
    channel = make_channel("discord", DISCORD, user=user, name="flips", events=["monitor_flipped"])
    agent = make_agent(user, name="Watcher")
    monitor = Monitor.objects.create(
        workspace=agent.workspace, agent=agent, name="Queue", probe="callable",
        probe_config={"path": "tests.notifications.test_events.queue_depth"}, condition="value > 10",
    )  # fmt: skip
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    QUEUE["depth"] = 3
    with django_capture_on_commit_callbacks(execute=True):
        monitor_check(monitor.pk, now=t0)  # unknown -> clear: learning the state is not news
    assert not Notification.objects.filter(channel=channel).exists()
    QUEUE["depth"] = 50
    with django_capture_on_commit_callbacks(execute=True):
        monitor_check(monitor.pk, now=t0 + timedelta(minutes=1))
    [notification] = Notification.objects.filter(channel=channel)
    assert notification.event == "monitor_flipped"
    assert "Queue" in notification.title


QUEUE = {"depth": 0}


def queue_depth(config, context):
    return QUEUE["depth"]


@pytest.mark.django_db(transaction=True)
def test_a_channel_deleted_meanwhile_fails_alone_and_the_others_are_told():
    """Channels are looked up, then written one by one: one deleted in between (its row
    gone, its foreign key now failing) must not keep the channels after it from hearing."""
    from notifications.services import notify_channels

    user = make_user()
    gone = make_channel(
        "webhook", {"url": "https://hooks.example.com/gone"}, user=user, name="gone", events=["monitor_flipped"]
    )
    kept = make_channel(
        "webhook", {"url": "https://hooks.example.com/kept"}, user=user, name="kept", events=["monitor_flipped"]
    )
    Notification.objects.filter(channel=gone).delete()
    type(gone).objects.filter(pk=gone.pk).delete()  # the instance we hold still says it exists
    context = {
        "monitor": {"id": 3, "name": "Homepage", "state": "triggered", "previous_state": "clear"},
        "level": "error",
    }
    notifications = notify_channels([gone, kept], "monitor_flipped", context)
    assert [n.channel_id for n in notifications] == [kept.pk]
    assert list(Notification.objects.values_list("channel_id", flat=True)) == [kept.pk]
