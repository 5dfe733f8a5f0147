"""The channel form asks one kind at a time: choose the kind first, then only its fields."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Channel
from tests.helpers import make_user
from tests.notifications import fakes
from tests.notifications.helpers import make_channel
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

ALL_KIND_FIELDS = {"url", "discord_username", "ntfy_server", "ntfy_topic", "ntfy_token", "ntfy_priority",
                   "ntfy_tags", "signing_secret", "email_to"}  # fmt: skip


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


def field_names(html: str) -> set[str]:
    return set(re.findall(r'name="([a-z_]+)"', html)) & ALL_KIND_FIELDS


def test_new_channel_first_asks_for_the_kind(browser):
    html = browser.get(reverse("notifications:create")).content.decode()
    for kind, label in [("discord", "Discord webhook"), ("ntfy", "ntfy topic"), ("slack", "Slack incoming webhook"),
                        ("email", "Email"), ("webhook", "Webhook")]:  # fmt: skip
        assert f'href="/notifications/new/?kind={kind}"' in html
        assert label in html
    assert field_names(html) == set()


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("discord", {"url", "discord_username"}),
        ("ntfy", {"ntfy_server", "ntfy_topic", "ntfy_token", "ntfy_priority", "ntfy_tags"}),
        ("slack", {"url"}),
        ("webhook", {"url", "signing_secret"}),
        ("email", {"email_to"}),
    ],
)
def test_the_form_of_a_kind_has_only_its_fields(browser, kind, fields):
    response = browser.get(reverse("notifications:create"), {"kind": kind})
    html = response.content.decode()
    assert field_names(html) == fields
    assert f'<input type="hidden" name="kind" value="{kind}"' in html
    assert html.count('name="kind"') == 1
    assert "ntfy: " not in html and "Discord: " not in html  # labels without the kind prefix


def test_a_ntfy_channel_is_created_from_its_own_form(browser, alice):
    data = {
        "workspace": personal_workspace_for(alice).pk, "name": "Phone", "kind": "ntfy", "enabled": "on",
        "ntfy_topic": "gradent-alerts", "events": ["run_failed"],
    }  # fmt: skip
    response = browser.post(reverse("notifications:create") + "?kind=ntfy", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get()
    assert (channel.kind, channel.config["topic"]) == ("ntfy", "gradent-alerts")


def test_an_unknown_kind_goes_back_to_the_choice(browser):
    html = browser.get(reverse("notifications:create"), {"kind": "pigeon"}).content.decode()
    assert 'href="/notifications/new/?kind=discord"' in html
    assert browser.post(reverse("notifications:create"), {"kind": "pigeon", "name": "x"}).status_code == 400
    assert not Channel.objects.exists()


def test_editing_shows_the_channels_kind_only_and_keeps_it(browser, alice):
    channel = make_channel("discord", {"url": fakes.DISCORD_URL}, user=alice, name="Team")
    html = browser.get(reverse("notifications:edit", args=[channel.pk])).content.decode()
    assert field_names(html) == {"url", "discord_username"}
    data = {"workspace": channel.workspace_id, "name": "Team", "kind": "email", "enabled": "on", "url": ""}
    response = browser.post(reverse("notifications:edit", args=[channel.pk]), data)
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.kind == "discord" and channel.secrets == {"url": fakes.DISCORD_URL}
