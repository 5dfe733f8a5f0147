"""The channel pages: list, form, detail with the log and the Send test button."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Channel
from tests.helpers import make_user
from tests.notifications import fakes
from tests.notifications.helpers import make_channel
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


def form_data(alice, **overrides) -> dict:
    data = {
        "workspace": personal_workspace_for(alice).pk,
        "name": "Team alerts",
        "kind": "discord",
        "enabled": "on",
        "url": fakes.DISCORD_URL,
        "events": ["run_failed", "monitor_flipped"],
    }
    return {**data, **overrides}


def test_it_creates_a_channel_from_the_form_and_never_shows_the_secret(browser, alice):
    response = browser.post(reverse("notifications:create"), form_data(alice))
    channel = Channel.objects.get()
    assert response.status_code == 302 and response.url == reverse("notifications:detail", args=[channel.pk])
    assert channel.events == ["run_failed", "monitor_flipped"] and channel.secrets == {"url": fakes.DISCORD_URL}
    for page in ("notifications:detail", "notifications:edit"):
        body = browser.get(reverse(page, args=[channel.pk])).content.decode()
        assert "Team alerts" in body and fakes.DISCORD_TOKEN not in body
    assert "Discord webhook" in browser.get(reverse("notifications:list")).content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "https://example.com/hook"}, "Enter a Discord webhook URL"),
        ({"kind": "ntfy", "url": "", "ntfy_topic": "no spaces allowed"}, "A topic is 1–64 letters"),
        ({"kind": "email", "url": "", "email_to": "nobody"}, "Enter a valid email address"),
    ],
)
def test_bad_settings_are_reported_on_the_field(browser, alice, overrides, message):
    response = browser.post(reverse("notifications:create"), form_data(alice, **overrides))
    assert response.status_code == 200 and message in response.content.decode()
    assert not Channel.objects.exists()


def test_editing_without_retyping_the_url_keeps_it(browser, alice):
    channel = make_channel("discord", {"url": fakes.DISCORD_URL}, user=alice, name="Team alerts")
    data = form_data(alice, url="", name="Renamed", events=["run_succeeded"])
    response = browser.post(reverse("notifications:edit", args=[channel.pk]), data)
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Renamed" and channel.events == ["run_succeeded"]
    assert channel.secrets == {"url": fakes.DISCORD_URL}


def test_the_send_test_button_reports_the_peers_answer_and_logs_it(browser, alice, discord_peer):
    channel = make_channel("discord", {"url": fakes.DISCORD_URL}, user=alice)
    response = browser.post(reverse("notifications:test", args=[channel.pk]), follow=True)
    body = response.content.decode()
    assert "Test message sent. HTTP 200: Discord posted message" in body
    assert "Test message from Gradent" in body  # the log row
    assert discord_peer.last.json["embeds"][0]["title"] == "Test message from Gradent"


def test_a_disabled_channel_shows_why_and_can_be_enabled(browser, alice):
    channel = make_channel(
        "slack", {"url": fakes.SLACK_URL}, user=alice, enabled=False, disabled_reason="HTTP 410 (channel_is_archived)"
    )
    assert "channel_is_archived" in browser.get(reverse("notifications:detail", args=[channel.pk])).content.decode()
    browser.post(reverse("notifications:enable", args=[channel.pk]))
    channel.refresh_from_db()
    assert channel.enabled and channel.disabled_reason == ""


def test_another_users_channel_is_a_404(browser, discord_peer):
    theirs = make_channel("discord", {"url": fakes.DISCORD_URL}, user=make_user("bob"), name="Bob's")
    for name in ("detail", "edit", "delete"):
        assert browser.get(reverse(f"notifications:{name}", args=[theirs.pk])).status_code == 404
    for name in ("test", "enable", "delete"):
        assert browser.post(reverse(f"notifications:{name}", args=[theirs.pk])).status_code == 404
    assert "Bob's" not in browser.get(reverse("notifications:list")).content.decode()
    assert Channel.objects.filter(pk=theirs.pk).exists() and discord_peer.requests == []


def test_delete_asks_then_deletes(browser, alice):
    channel = make_channel("email", {"to": ["ops@example.com"]}, user=alice)
    assert "Delete channel" in browser.get(reverse("notifications:delete", args=[channel.pk])).content.decode()
    assert browser.post(reverse("notifications:delete", args=[channel.pk])).status_code == 302
    assert not Channel.objects.exists()
