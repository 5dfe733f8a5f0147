"""A transport of the user's own (GRADENT_NOTIFY_TRANSPORTS) is a channel kind like the
built-ins: the kind is checked against the registry by the API and the form, not by model
choices or a database constraint, and messages go through it."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework import serializers

from notifications.models import Channel, NotificationStatus
from notifications.transports import Message, Transport, TransportResult
from tests.helpers import auth, make_user, token_for
from tests.notifications.helpers import send
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

SENT: list[tuple[dict, Message]] = []
PAGER = "tests.notifications.test_user_transport.PagerTransport"


class PagerTransport(Transport):
    kind = "pager"
    label = "Office pager"
    secret_fields = ("pin",)

    class ConfigSerializer(serializers.Serializer):
        room = serializers.CharField(max_length=20, required=False)
        pin = serializers.CharField(max_length=20, required=False)

    def send(self, message: Message) -> TransportResult:
        SENT.append((self.config, message))
        return TransportResult(status=200, answer="beeped")


@pytest.fixture(autouse=True)
def _fresh():
    SENT.clear()


def post_channel(user, body: dict):
    return Client().post(
        "/api/notifications/channels", json.dumps(body), content_type="application/json", **auth(token_for(user))
    )


@override_settings(GRADENT_NOTIFY_TRANSPORTS=[PAGER])
def test_a_user_transport_can_be_saved_through_the_api_and_used():
    alice = make_user("alice")
    response = post_channel(alice, {"name": "pager", "kind": "pager", "config": {"room": "ops", "pin": "1234"}})
    assert response.status_code == 201, response.json()
    channel = Channel.objects.get(pk=response.json()["id"])
    assert channel.kind == "pager" and channel.secrets == {"pin": "1234"}
    assert channel.get_kind_display() == "Office pager"
    notification = send(channel)
    assert notification.status == NotificationStatus.SENT, notification.last_error
    [(config, message)] = SENT
    assert config == {"room": "ops", "pin": "1234"}
    assert message.title == notification.title and message.title  # the generic template rendered it


@override_settings(GRADENT_NOTIFY_TRANSPORTS=[PAGER])
def test_a_user_transport_can_be_chosen_in_the_channel_form():
    alice = make_user("alice")
    browser = Client()
    browser.force_login(alice)
    data = {"workspace": personal_workspace_for(alice).pk, "name": "Pager", "kind": "pager", "enabled": "on"}
    data["events"] = ["run_failed"]
    response = browser.post(reverse("notifications:create"), data)
    assert response.status_code == 302, response.context["form"].errors
    channel = Channel.objects.get(kind="pager")
    assert "Office pager" in browser.get(reverse("notifications:detail", args=[channel.pk])).content.decode()


def test_a_kind_no_transport_provides_is_refused_with_the_field_named():
    response = post_channel(make_user("alice"), {"name": "pager", "kind": "pager", "config": {}})
    assert response.status_code == 400
    assert "kind" in response.json()
    assert not Channel.objects.exists()
