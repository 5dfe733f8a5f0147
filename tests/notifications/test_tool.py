"""The `notify` tool through a scripted agent on the real run path."""

from __future__ import annotations

import pytest

from agents.services import start_run
from agents.tools import get_tool
from notifications.models import Notification
from tests.helpers import make_agent, make_user
from tests.notifications import fakes
from tests.notifications.helpers import make_channel

pytestmark = pytest.mark.django_db


def notify_agent(user, *, channel: str, **fields):
    steps = [
        {
            "id": "told",
            "tool": "notify",
            "args": {"channel": channel, "title": "Report ready", "message": "{{ input.task }} is done."},
        }
    ]
    return make_agent(
        user,
        name="Reporter",
        provider_settings={"steps": steps, "answer": "{{ steps.told }}"},
        allowed_tools=["notify"],
        **fields,
    )


def test_the_tool_is_registered_with_its_schema():
    spec = get_tool("notify").spec()
    assert spec["parameters"]["required"] == ["channel", "message"]
    assert set(spec["parameters"]["properties"]) == {"channel", "message", "title"}


def test_an_agent_sends_a_message_to_its_workspaces_channel(discord_peer, run_inline):
    user = make_user()
    channel = make_channel("discord", {"url": fakes.DISCORD_URL}, user=user, name="team", events=[])
    agent = notify_agent(user, channel="team")
    with run_inline(execute=True):
        run = start_run(agent, input={"task": "The weekly report"})
    run.refresh_from_db()
    assert run.status == "succeeded", run.reason
    step = run.steps.get()
    assert step.status == "ok" and step.output["status"] == "queued" and step.output["channel"] == "team"
    notification = Notification.objects.get(pk=step.output["notification_id"])
    assert (notification.channel, notification.event, notification.run_id) == (channel, "message", run.pk)
    assert notification.status == "sent", notification.last_error
    embed = discord_peer.last.json["embeds"][0]
    assert embed["title"] == "Report ready" and embed["description"] == "The weekly report is done."


def test_another_workspaces_channel_is_not_found(notify_settings):
    alice, bob = make_user("alice"), make_user("bob")
    make_channel("discord", {"url": fakes.DISCORD_URL}, user=bob, name="bobs")
    make_channel("discord", {"url": fakes.DISCORD_URL}, user=alice, name="alices")
    agent = notify_agent(alice, channel="bobs")
    from agents.executor import execute_run

    run = start_run(agent, input={"task": "x"})
    execute_run(run.pk)
    step = run.steps.get()
    assert step.status == "error"
    assert "no channel named 'bobs'" in step.error and "alices" in step.error
    # Nothing reached Bob's channel; the failed step fails the run, which Alice's channel hears of.
    assert not Notification.objects.filter(channel__name="bobs").exists()
    run.refresh_from_db()
    assert run.status == "failed" and "steps[0] 'told' (notify) failed" in run.reason
    assert [n.event for n in Notification.objects.all()] == ["run_failed"]


def test_a_disabled_channel_is_an_error_the_agent_sees(notify_settings):
    user = make_user()
    make_channel(
        "discord", {"url": fakes.DISCORD_URL}, user=user, name="team", enabled=False, disabled_reason="Unknown Webhook"
    )
    from agents.executor import execute_run

    run = start_run(notify_agent(user, channel="team"), input={"task": "x"})
    execute_run(run.pk)
    step = run.steps.get()
    assert step.status == "error" and "disabled: Unknown Webhook" in step.error
