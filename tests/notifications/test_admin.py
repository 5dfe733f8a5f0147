"""The admin: channels with their actions, the notification log read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from notifications.models import Channel, Notification
from tests.notifications import fakes
from tests.notifications.helpers import make_channel, send
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_it_creates_a_channel_with_its_secret_and_validates_the_config(admin_client):
    workspace = personal_workspace_for(admin_client.user)
    data = {
        "workspace": workspace.pk,
        "name": "ops",
        "kind": "ntfy",
        "config": '{"topic": "bad topic"}',
        "secret_config": '{"token": "tk_admin"}',
        "events": '["run_failed"]',
        "enabled": "on",
    }
    response = admin_client.post("/admin/notifications/channel/add/", data)
    assert response.status_code == 200 and "topic" in response.content.decode()
    response = admin_client.post("/admin/notifications/channel/add/", {**data, "config": '{"topic": "ops"}'})
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.config["topic"] == "ops" and channel.secrets == {"token": "tk_admin"}
    page = admin_client.get(f"/admin/notifications/channel/{channel.pk}/change/").content.decode()
    assert "tk_admin" not in page


def test_actions_send_a_test_and_re_enable(admin_client, discord_peer):
    channel = make_channel(
        "discord", {"url": fakes.DISCORD_URL}, user=admin_client.user, enabled=False, disabled_reason="gone"
    )
    admin_client.post("/admin/notifications/channel/", {"action": "send_test", "_selected_action": [channel.pk]})
    assert discord_peer.last.json["embeds"][0]["title"] == "Test message from Gradent"
    admin_client.post("/admin/notifications/channel/", {"action": "re_enable", "_selected_action": [channel.pk]})
    channel.refresh_from_db()
    assert channel.enabled and channel.disabled_reason == ""


def test_the_log_is_read_only(admin_client, discord_peer):
    notification = send(make_channel("discord", {"url": fakes.DISCORD_URL}, user=admin_client.user))
    assert admin_client.get("/admin/notifications/notification/").status_code == 200
    assert admin_client.get("/admin/notifications/notification/add/").status_code == 403
    page = admin_client.get(f"/admin/notifications/notification/{notification.pk}/change/")
    assert page.status_code == 200 and b"Save" not in page.content
    admin_client.post("/admin/notifications/notification/", {"action": "resend", "_selected_action": [notification.pk]})
    assert Notification.objects.count() == 2
