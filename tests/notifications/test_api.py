"""/api/notifications/channels: validation by the kind's serializer, write-only secrets,
workspace isolation and the test endpoint."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from notifications.models import Channel
from tests.helpers import auth, make_agent, make_user, token_for
from tests.notifications import fakes
from tests.notifications.helpers import make_channel
from workspaces.models import Membership, personal_workspace_for
from workspaces.services import membership_add

pytestmark = pytest.mark.django_db

URL = "/api/notifications/channels"


class API:
    def __init__(self, user):
        self.client = Client()
        self.headers = auth(token_for(user))

    def get(self, path: str):
        return self.client.get(path, **self.headers)

    def post(self, path: str, data: dict | None = None):
        return self.client.post(path, json.dumps(data or {}), content_type="application/json", **self.headers)

    def patch(self, path: str, data: dict):
        return self.client.patch(path, json.dumps(data), content_type="application/json", **self.headers)

    def delete(self, path: str):
        return self.client.delete(path, **self.headers)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    return API(alice)


def test_it_creates_a_discord_channel_and_never_returns_the_webhook_url(api):
    response = api.post(
        URL, {"name": "alerts", "kind": "discord", "config": {"url": fakes.DISCORD_URL, "username": "Gradent"}}
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["config"] == {"username": "Gradent"}
    assert data["secrets_set"] == ["url"] and data["target"] == f"Discord webhook {fakes.DISCORD_ID}"
    assert data["events"] == ["run_failed", "agent_auto_paused"]
    for body in (response.content, api.get(URL).content, api.get(f"{URL}/{data['id']}").content):
        assert fakes.DISCORD_TOKEN.encode() not in body
    channel = Channel.objects.get()
    assert channel.full_config()["url"] == fakes.DISCORD_URL
    assert fakes.DISCORD_TOKEN not in json.dumps(channel.config)


def test_the_secret_is_stored_encrypted(api):
    api.post(URL, {"name": "n", "kind": "ntfy", "config": {"topic": "alerts", "token": "tk_supersecret"}})
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, config FROM notifications_channel")
        secret, config = cursor.fetchone()
    assert secret.startswith("enc1:") and "tk_supersecret" not in secret + config


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "https://example.com/api/webhooks/1/abc"}, "url"),
        ({"url": "http://discord.com/api/webhooks/1/abc"}, "url"),
        ({"url": "https://discord.com.evil.example/api/webhooks/1/abc"}, "url"),
        ({}, "url"),
    ],
)
def test_a_discord_channel_needs_a_discord_webhook_url(api, config, field):
    response = api.post(URL, {"name": "d", "kind": "discord", "config": config})
    assert response.status_code == 400
    assert field in response.json()["config"]
    assert not Channel.objects.exists()


@pytest.mark.parametrize("topic", ["has space", "a" * 65, "ünïcode", "slash/topic", ""])
def test_an_ntfy_topic_must_match_the_pattern(api, topic):
    response = api.post(URL, {"name": "n", "kind": "ntfy", "config": {"topic": topic}})
    assert response.status_code == 400 and "topic" in response.json()["config"]


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("ntfy", {"topic": "ok", "priority": 6}, "priority"),
        ("slack", {"url": "https://hooks.slack.com.evil.example/services/T1/B1/xxxxxxxx"}, "url"),
        ("webhook", {"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ("webhook", {"url": "ftp://example.com/x"}, "url"),
        ("webhook", {"url": "https://example.com/in", "signing_secret": "not base64!"}, "signing_secret"),
        ("email", {"to": ["not-an-address"]}, "to"),
    ],
)
def test_bad_config_is_a_400_naming_the_field(api, kind, config, field):
    response = api.post(URL, {"name": "x", "kind": kind, "config": config})
    assert response.status_code == 400 and field in response.json()["config"], response.json()


def test_loopback_webhooks_are_refused_unless_allowed(api, settings):
    settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = []
    body = {"name": "w", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/in"}}
    assert api.post(URL, body).status_code == 400
    settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = ["127.0.0.0/8"]
    assert api.post(URL, body).status_code == 201


def test_an_update_without_the_secret_keeps_it(api, ntfy_peer):
    ntfy_peer.state["token"] = "tk_keepme"
    created = api.post(
        URL, {"name": "n", "kind": "ntfy", "config": {"server": ntfy_peer.base_url, "topic": "a", "token": "tk_keepme"}}
    ).json()
    response = api.patch(f"{URL}/{created['id']}", {"config": {"server": ntfy_peer.base_url, "topic": "b"}})
    assert response.status_code == 200 and response.json()["config"]["topic"] == "b"
    assert response.json()["secrets_set"] == ["token"]
    assert api.post(f"{URL}/{created['id']}/test").json()["ok"] is True
    assert ntfy_peer.last.header("Authorization") == "Bearer tk_keepme" and ntfy_peer.last.path == "/b"


def test_the_test_endpoint_returns_the_peers_answer(api, discord_peer):
    channel_id = api.post(URL, {"name": "d", "kind": "discord", "config": {"url": fakes.DISCORD_URL}}).json()["id"]
    response = api.post(f"{URL}/{channel_id}/test")
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and data["status"] == 200 and data["detail"].startswith("Discord posted message 12")
    assert discord_peer.last.json["embeds"][0]["title"] == "Test message from Gradent"
    [logged] = api.get(f"{URL}/{channel_id}/notifications").json()["results"]
    assert (logged["event"], logged["status"], logged["peer_status"]) == ("test", "sent", 200)
    assert logged["id"] == data["notification_id"]


def test_a_failed_test_is_a_400_with_the_reason_and_does_not_disable(api, discord_peer):
    url = "https://discord.com/api/webhooks/404404/nope"
    channel_id = api.post(URL, {"name": "d", "kind": "discord", "config": {"url": url}}).json()["id"]
    response = api.post(f"{URL}/{channel_id}/test")
    assert response.status_code == 400
    data = response.json()
    assert data["ok"] is False and data["status"] == 404 and "Unknown Webhook" in data["detail"]
    assert Channel.objects.get(pk=channel_id).enabled


def test_re_enabling_clears_the_reason(api):
    channel = make_channel(
        "discord", {"url": fakes.DISCORD_URL}, user=api_user(api), enabled=False, disabled_reason="x"
    )
    data = api.patch(f"{URL}/{channel.pk}", {"enabled": True}).json()
    assert data["enabled"] is True and data["disabled_reason"] == ""


def api_user(api: API):
    from workspaces.models import APIToken, hash_token

    raw = api.headers["HTTP_AUTHORIZATION"].split()[1]
    return APIToken.objects.get(key_hash=hash_token(raw)).user


def test_another_users_channel_is_a_404_everywhere(api, discord_peer):
    bob = make_user("bob")
    theirs = make_channel("discord", {"url": fakes.DISCORD_URL}, user=bob)
    path = f"{URL}/{theirs.pk}"
    assert api.get(path).status_code == 404
    assert api.patch(path, {"name": "mine now"}).status_code == 404
    assert api.post(f"{path}/test").status_code == 404
    assert api.get(f"{path}/notifications").status_code == 404
    assert api.delete(path).status_code == 404
    assert api.get(URL).json()["results"] == []
    assert discord_peer.requests == []
    theirs.refresh_from_db()
    assert theirs.name == "discord channel"


def test_agents_and_workspaces_must_be_the_callers(api, alice):
    bob = make_user("bob")
    bobs_agent = make_agent(bob)
    base = {"name": "d", "kind": "discord", "config": {"url": fakes.DISCORD_URL}}
    response = api.post(URL, {**base, "agent_ids": [bobs_agent.pk]})
    assert response.status_code == 400 and "agent_ids" in response.json()
    response = api.post(URL, {**base, "workspace_id": personal_workspace_for(bob).pk})
    assert response.status_code == 400 and "workspace_id" in response.json()
    mine = make_agent(alice)
    response = api.post(URL, {**base, "agent_ids": [mine.pk], "events": ["run_failed", "tool_called"]})
    assert response.status_code == 201 and response.json()["agent_ids"] == [mine.pk]
    assert api.post(URL, base).json() == {"name": ["This workspace already has a channel with this name."]}


def test_a_viewer_reads_but_cannot_test_or_change(api, discord_peer):
    bob = make_user("bob")
    shared = personal_workspace_for(bob)
    membership_add(workspace=shared, user=api_user(api), role=Membership.Role.VIEWER)
    channel = make_channel("discord", {"url": fakes.DISCORD_URL}, workspace=shared)
    assert api.get(f"{URL}/{channel.pk}").status_code == 200
    assert api.post(f"{URL}/{channel.pk}/test").status_code == 403
    assert api.patch(f"{URL}/{channel.pk}", {"enabled": False}).status_code == 403
    assert discord_peer.requests == []
