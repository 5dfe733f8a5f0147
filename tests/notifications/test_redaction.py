"""Secrets in error text (issue 9, item 5): a failed send's reason names where it went,
never the token in the URL, in the API's test answer, the notification log, the channel's
disabled reason and the logs. Real sends to a closed loopback port and a local server."""

from __future__ import annotations

import logging
import socket

import pytest
from django.test import Client

from notifications.models import Channel, Notification
from tests.helpers import auth, make_user, token_for
from tests.notifications import fakes
from tests.notifications.helpers import make_channel, send

pytestmark = pytest.mark.django_db

NTFY_TOPIC = "private-topic-Zq81"
NTFY_TOKEN = "tk_ntfySecretToken42"
HOOK_PATH = "receiver-Path-Secret77"
HOOK_QUERY = "QuerySecret55"
SIGNING = "whsec_c2lnbmluZ3NlY3JldHNpZ25pbmdzZWNyZXQ="
SMTP_PASSWORD = "smtp-Password-99"
SECRETS = (
    fakes.DISCORD_TOKEN,
    "XXXXXXXXXXXXXXXXXXXXXXXX",
    NTFY_TOPIC,
    NTFY_TOKEN,
    HOOK_PATH,
    HOOK_QUERY,
    SMTP_PASSWORD,
)


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused
    return port


def channel_config(kind: str, base: str, settings) -> dict:
    settings.GRADENT_NOTIFY_DISCORD_BASE = base
    settings.GRADENT_NOTIFY_SLACK_BASE = base
    if kind == "discord":
        return {"url": fakes.DISCORD_URL}
    if kind == "slack":
        return {"url": fakes.SLACK_URL}
    if kind == "ntfy":
        return {"server": base, "topic": NTFY_TOPIC, "token": NTFY_TOKEN}
    if kind == "webhook":
        return {"url": f"{base}/hooks/{HOOK_PATH}?token={HOOK_QUERY}", "signing_secret": SIGNING}
    return {"to": ["ops@example.com"]}


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in (text or ""), f"{secret!r} in {text!r}"


def all_stored_text() -> list[str]:
    texts = []
    for row in Notification.objects.all():
        texts += [row.last_error, row.peer_answer]
    for channel in Channel.objects.all():
        texts.append(channel.disabled_reason)
    return texts


@pytest.mark.parametrize("kind", ["discord", "slack", "ntfy", "webhook", "email"])
def test_a_refused_connection_leaves_no_token_in_answers_rows_or_logs(
    kind, notify_settings, closed_port, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "gradent", SMTP_PASSWORD
    user = make_user()
    channel = make_channel(kind, channel_config(kind, f"http://127.0.0.1:{closed_port}", settings), user=user)

    response = Client().post(f"/api/notifications/channels/{channel.pk}/test/", **auth(token_for(user)))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail  # the reason is there…
    if kind != "email":
        assert f"127.0.0.1', port={closed_port}" in detail or f"127.0.0.1:{closed_port}" in detail  # …where it went
    notification = send(channel)
    assert notification.status in ("retrying", "failed") and notification.last_error

    assert_clean(response.content.decode(), *all_stored_text(), caplog.text)


def test_a_redirect_to_a_tokened_url_is_reported_without_the_token(discord_peer, caplog):
    caplog.set_level(logging.DEBUG)
    location = f"https://elsewhere.example/api/webhooks/1/{fakes.DISCORD_TOKEN}?token={HOOK_QUERY}"
    discord_peer.enqueue(fakes.Reply(302, b"", {"Location": location}))
    channel = make_channel("discord", {"url": fakes.DISCORD_URL})
    notification = send(channel)
    channel.refresh_from_db()
    assert notification.status == "failed" and "redirects to https://elsewhere.example/" in notification.last_error
    assert not channel.enabled and "elsewhere.example" in channel.disabled_reason
    assert_clean(*all_stored_text(), caplog.text)


def test_the_autonomous_test_webhook_answer_has_no_token(notify_settings, closed_port, caplog):
    caplog.set_level(logging.DEBUG)
    notify_settings.GRADENT_NOTIFY_DISCORD_BASE = f"http://127.0.0.1:{closed_port}"
    user = make_user()
    response = Client().post(
        "/api/autonomous/test-webhook",
        {"webhook_url": fakes.DISCORD_URL},
        content_type="application/json",
        **auth(token_for(user)),
    )
    assert response.status_code == 400
    assert "Could not reach Discord" in response.json()["detail"]
    assert_clean(response.content.decode(), caplog.text)
