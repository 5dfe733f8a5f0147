"""Each transport against a local server that answers like the real service: success,
429 with a retry-after, permanent errors that disable the channel, 5xx retried up to the
last attempt, a peer that hangs, and the outbound address policy."""

from __future__ import annotations

import email.header
import time
from datetime import timedelta

import pytest
import standardwebhooks
from django.core import mail
from django.utils import timezone

from notifications.models import Notification
from notifications.services import notification_deliver, retry_delay
from notifications.sources import DueNotificationsSource, LostNotificationsSource
from tests.notifications import fakes
from tests.notifications.fakes import Reply
from tests.notifications.helpers import make_channel, make_due, send

pytestmark = pytest.mark.django_db


def seconds_from(start, when) -> float:
    return (when - start).total_seconds()


# --- Discord ------------------------------------------------------------------------------
class TestDiscord:
    def test_it_posts_an_embed_and_records_discords_answer(self, discord_peer):
        channel = make_channel("discord", {"url": fakes.DISCORD_URL, "username": "Gradent"})
        notification = send(channel)
        assert notification.status == "sent" and notification.attempts == 1
        assert notification.peer_status == 200 and '"webhook_id"' in notification.peer_answer
        request = discord_peer.last
        assert request.path == f"/api/webhooks/{fakes.DISCORD_ID}/{fakes.DISCORD_TOKEN}?wait=true"
        body = request.json
        embed = body["embeds"][0]
        assert embed["title"] == "Run #41 of Nightly report failed"
        assert embed["color"] == 0xE74C3C
        assert embed["timestamp"].endswith("Z") and embed["footer"]["text"].startswith("Gradent")
        assert embed["url"] == "http://localhost:8000/agents/runs/41/"
        assert body["allowed_mentions"] == {"parse": []} and body["username"] == "Gradent"

    def test_it_accepts_the_legacy_discordapp_host_and_sends_to_the_api(self, discord_peer):
        legacy = fakes.DISCORD_URL.replace("discord.com", "discordapp.com")
        notification = send(make_channel("discord", {"url": legacy}))
        assert notification.status == "sent"
        assert discord_peer.last.path.startswith(f"/api/webhooks/{fakes.DISCORD_ID}/")

    def test_it_waits_the_retry_after_of_discords_json_body(self, discord_peer):
        discord_peer.enqueue(fakes.discord_rate_limited(7.5, header=False))
        channel = make_channel("discord", {"url": fakes.DISCORD_URL})
        before = timezone.now()
        notification = send(channel)
        assert notification.status == "retrying" and notification.peer_status == 429
        assert seconds_from(before, notification.next_attempt_at) >= 7.5
        assert "rate limited" in notification.last_error

    def test_it_waits_the_retry_after_header(self, discord_peer):
        discord_peer.enqueue(Reply.json(429, {"message": "You are being rate limited."}, **{"Retry-After": "9"}))
        before = timezone.now()
        notification = send(make_channel("discord", {"url": fakes.DISCORD_URL}))
        assert notification.status == "retrying"
        assert seconds_from(before, notification.next_attempt_at) >= 9

    def test_a_deleted_webhook_disables_the_channel_and_says_why(self, discord_peer):
        channel = make_channel("discord", {"url": "https://discord.com/api/webhooks/999/gone-token"})
        notification = send(channel)
        assert (notification.status, notification.attempts, notification.peer_status) == ("failed", 1, 404)
        channel.refresh_from_db()
        assert not channel.enabled and "Unknown Webhook" in channel.disabled_reason
        # Later notifications are not sent to a disabled channel, and say so.
        later = send(channel)
        assert later.status == "failed" and "disabled" in later.last_error
        assert len(discord_peer.requests) == 1

    def test_a_wrong_token_disables_the_channel(self, discord_peer):
        url = f"https://discord.com/api/webhooks/{fakes.DISCORD_ID}/wrong-token"
        channel = make_channel("discord", {"url": url})
        assert send(channel).peer_status == 401
        channel.refresh_from_db()
        assert not channel.enabled and "Invalid Webhook Token" in channel.disabled_reason

    def test_5xx_is_retried_then_fails_after_the_last_attempt(self, discord_peer, run_inline):
        outage = Reply.json(502, {"message": "Bad Gateway"})
        discord_peer.enqueue(outage, outage, outage)
        channel = make_channel("discord", {"url": fakes.DISCORD_URL})
        notification = send(channel)
        assert (notification.status, notification.attempts) == ("retrying", 1)
        for expected in ("retrying", "failed"):
            make_due(notification)
            # The dispatcher sends due retries; django-q2 in sync mode runs the task here.
            assert DueNotificationsSource().tick(timezone.now()).done == 1
            notification.refresh_from_db()
            assert notification.status == expected
        assert notification.attempts == 3 and notification.peer_status == 502
        assert len(discord_peer.requests) == 3
        channel.refresh_from_db()
        assert channel.enabled  # an outage is not the channel's fault

    def test_a_retry_that_succeeds_is_sent(self, discord_peer, run_inline):
        discord_peer.enqueue(Reply.json(503, {"message": "Service Unavailable"}))
        notification = send(make_channel("discord", {"url": fakes.DISCORD_URL}))
        make_due(notification)
        DueNotificationsSource().tick(timezone.now())
        notification.refresh_from_db()
        assert (notification.status, notification.attempts, notification.last_error) == ("sent", 2, "")

    def test_a_hanging_peer_times_out_within_the_total_timeout(self, discord_peer, notify_settings):
        discord_peer.enqueue(Reply(hang=True))
        started = time.monotonic()
        notification = send(make_channel("discord", {"url": fakes.DISCORD_URL}))
        elapsed = time.monotonic() - started
        assert elapsed < notify_settings.GRADENT_NOTIFY_TIMEOUT + 1.5
        assert notification.status == "retrying" and "did not answer in time" in notification.last_error


# --- Slack --------------------------------------------------------------------------------
class TestSlack:
    def test_it_posts_text_and_blocks(self, slack_peer):
        notification = send(make_channel("slack", {"url": fakes.SLACK_URL}))
        assert (notification.status, notification.peer_status, notification.peer_answer) == ("sent", 200, "ok")
        body = slack_peer.last.json
        assert body["text"].startswith("Run #41 of Nightly report failed")
        assert [block["type"] for block in body["blocks"]] == ["header", "section", "context"]
        assert "&lt;" not in body["blocks"][0]["text"]["text"]

    @pytest.mark.parametrize(
        ("status", "code"), [(404, "no_service"), (410, "channel_is_archived"), (403, "invalid_token")]
    )
    def test_a_gone_webhook_disables_the_channel(self, slack_peer, status, code):
        slack_peer.enqueue(Reply.text(status, code))
        channel = make_channel("slack", {"url": fakes.SLACK_URL})
        notification = send(channel)
        assert (notification.status, notification.peer_status, notification.peer_answer) == ("failed", status, code)
        channel.refresh_from_db()
        assert not channel.enabled and code in channel.disabled_reason

    def test_a_bad_payload_fails_the_message_but_keeps_the_channel(self, slack_peer):
        slack_peer.enqueue(Reply.text(400, "invalid_payload"))
        channel = make_channel("slack", {"url": fakes.SLACK_URL})
        assert send(channel).status == "failed"
        channel.refresh_from_db()
        assert channel.enabled

    def test_it_honours_retry_after_on_429(self, slack_peer):
        slack_peer.enqueue(Reply.text(429, "rate_limited", **{"Retry-After": "30"}))
        before = timezone.now()
        notification = send(make_channel("slack", {"url": fakes.SLACK_URL}))
        assert notification.status == "retrying" and seconds_from(before, notification.next_attempt_at) >= 30


# --- ntfy ---------------------------------------------------------------------------------
class TestNtfy:
    def test_it_publishes_with_title_priority_tags_and_token(self, ntfy_peer):
        ntfy_peer.state["token"] = "tk_abcdefghijklmnopqrstuvwxyz123"
        channel = make_channel(
            "ntfy",
            {
                "server": ntfy_peer.base_url,
                "topic": "gradent-alerts_1",
                "token": "tk_abcdefghijklmnopqrstuvwxyz123",
                "priority": 5,
                "tags": ["robot"],
            },
        )
        notification = send(channel, context={**RUN_CONTEXT_WITH_UNICODE})
        assert notification.status == "sent", notification.last_error
        assert notification.peer_status == 200
        assert '"topic":"gradent-alerts_1"' in notification.peer_answer.replace(" ", "")
        request = ntfy_peer.last
        assert request.path == "/gradent-alerts_1"
        title = str(email.header.make_header(email.header.decode_header(request.header("Title"))))
        assert title == "Run #41 of Café bot ☕ failed"
        assert request.header("Priority") == "5"
        assert request.header("Tags") == "robot,rotating_light"
        assert request.header("Authorization") == "Bearer tk_abcdefghijklmnopqrstuvwxyz123"
        assert request.header("Click") == "http://localhost:8000/agents/runs/41/"
        assert "may not use" in request.body.decode()

    def test_a_long_unicode_title_stays_one_header_line(self, ntfy_peer):
        channel = make_channel("ntfy", {"server": ntfy_peer.base_url, "topic": "alerts"})
        long_name = "Überwachung der Produktionsdatenbank — nächtlicher Bericht ☕ " * 3
        context = {**RUN_CONTEXT_WITH_UNICODE, "agent": {"id": 7, "name": long_name.strip()}}
        assert send(channel, context=context).status == "sent"
        header = ntfy_peer.last.header("Title")
        assert "\n" not in header
        assert str(email.header.make_header(email.header.decode_header(header))).startswith("Run #41 of Überwachung")

    def test_a_refused_token_disables_the_channel(self, ntfy_peer):
        ntfy_peer.state["token"] = "tk_right"
        channel = make_channel("ntfy", {"server": ntfy_peer.base_url, "topic": "alerts", "token": "tk_wrong"})
        notification = send(channel)
        assert (notification.status, notification.peer_status) == ("failed", 403)
        channel.refresh_from_db()
        assert not channel.enabled and "forbidden" in channel.disabled_reason

    def test_a_429_without_retry_after_backs_off(self, ntfy_peer):
        ntfy_peer.enqueue(fakes.ntfy_rate_limited())
        notification = send(make_channel("ntfy", {"server": ntfy_peer.base_url, "topic": "alerts"}))
        assert notification.status == "retrying" and notification.next_attempt_at is not None
        assert "limit reached" in notification.last_error


RUN_CONTEXT_WITH_UNICODE = {
    "run": {"id": 41, "status": "failed", "reason": "The model called tool 'rm', which it may not use."},
    "agent": {"id": 7, "name": "Café bot ☕"},
    "url": "http://localhost:8000/agents/runs/41/",
}


# --- generic webhook ----------------------------------------------------------------------
class TestWebhook:
    SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    def test_it_signs_with_standard_webhooks_and_keeps_the_id_across_retries(self, receiver_peer, run_inline):
        receiver_peer.enqueue(Reply.json(503, {"error": "busy"}))
        channel = make_channel(
            "webhook", {"url": receiver_peer.base_url + "/hooks/gradent", "signing_secret": self.SECRET}
        )
        notification = send(channel)
        assert notification.status == "retrying"
        make_due(notification)
        DueNotificationsSource().tick(timezone.now())
        notification.refresh_from_db()
        assert notification.status == "sent"
        first, second = receiver_peer.requests
        assert first.header("webhook-id") == second.header("webhook-id") == f"msg_gradent_{notification.pk}"
        # A receiver verifies us with the official Standard Webhooks library.
        verified = standardwebhooks.Webhook(self.SECRET).verify(
            second.body, {k.lower(): v for k, v in second.headers.items()}
        )
        assert verified["type"] == "run_failed"
        assert verified["data"]["title"] == "Run #41 of Nightly report failed"
        assert verified["data"]["run"]["id"] == 41 and verified["data"]["level"] == "error"

    def test_it_sends_unsigned_without_a_secret(self, receiver_peer):
        notification = send(make_channel("webhook", {"url": receiver_peer.base_url + "/in"}))
        assert notification.status == "sent"
        assert receiver_peer.last.header("webhook-signature") is None
        assert receiver_peer.last.json["type"] == "run_failed"

    def test_a_410_gone_disables_the_channel(self, receiver_peer):
        receiver_peer.enqueue(Reply.json(410, {"error": "endpoint removed"}))
        channel = make_channel("webhook", {"url": receiver_peer.base_url + "/in"})
        assert send(channel).status == "failed"
        channel.refresh_from_db()
        assert not channel.enabled and "410" in channel.disabled_reason

    def test_a_redirect_is_not_followed(self, receiver_peer):
        receiver_peer.enqueue(Reply(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}))
        channel = make_channel("webhook", {"url": receiver_peer.base_url + "/in"})
        notification = send(channel)
        assert notification.status == "failed" and "redirects to" in notification.last_error
        assert len(receiver_peer.requests) == 1


# --- the outbound address policy ----------------------------------------------------------
class TestAddressPolicy:
    def test_loopback_is_refused_unless_allowed(self, receiver_peer, settings):
        settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = []
        channel = make_channel("webhook", {"url": receiver_peer.base_url + "/in"}, validate=False)
        notification = send(channel)
        assert notification.status == "failed" and notification.attempts == 1
        assert "not a public address" in notification.last_error
        assert receiver_peer.requests == []
        channel.refresh_from_db()
        assert not channel.enabled and "GRADENT_ALLOW_PRIVATE_URLS" in channel.disabled_reason

    def test_the_metadata_address_is_refused_even_with_loopback_allowed(self, notify_settings):
        channel = make_channel("webhook", {"url": "http://169.254.169.254/latest/meta-data/"}, validate=False)
        started = time.monotonic()
        notification = send(channel)
        assert time.monotonic() - started < 0.5  # refused before any connection attempt
        assert notification.status == "failed" and "169.254.169.254" in notification.last_error

    def test_a_private_ntfy_server_is_refused_unless_allowed(self, ntfy_peer, settings):
        settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = []
        channel = make_channel("ntfy", {"server": ntfy_peer.base_url, "topic": "alerts"}, validate=False)
        assert "not a public address" in send(channel).last_error
        assert ntfy_peer.requests == []


# --- email --------------------------------------------------------------------------------
def test_email_goes_through_djangos_mail_settings(notify_settings):
    channel = make_channel("email", {"to": ["ops@example.com", "lead@example.com"]})
    notification = send(channel)
    assert notification.status == "sent"
    [message] = mail.outbox
    assert message.subject == "Run #41 of Nightly report failed"
    assert message.to == ["ops@example.com", "lead@example.com"]
    assert "not allowed to use" in message.body and "http://localhost:8000/agents/runs/41/" in message.body


# --- retries and the dispatcher -----------------------------------------------------------
def test_retry_delay_is_jittered_below_the_ceiling_and_never_before_retry_after(notify_settings):
    delays = [retry_delay(3) for _ in range(200)]
    assert all(0 <= delay <= 4.0 for delay in delays) and len(set(delays)) > 100
    assert all(retry_delay(1, retry_after=12.5) >= 12.5 for _ in range(50))


def test_a_task_delivered_twice_sends_once(discord_peer):
    notification = send(make_channel("discord", {"url": fakes.DISCORD_URL}))
    assert notification_deliver(notification.pk) == "not claimed"
    assert len(discord_peer.requests) == 1


def test_an_early_retry_is_not_claimed(discord_peer):
    discord_peer.enqueue(Reply.json(500, {"message": "oops"}))
    notification = send(make_channel("discord", {"url": fakes.DISCORD_URL}))
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert notification_deliver(notification.pk) == "not claimed"
    assert DueNotificationsSource().tick(timezone.now()).done == 0
    assert len(discord_peer.requests) == 1


def test_an_attempt_whose_worker_was_lost_is_retried_then_failed(notify_settings):
    channel = make_channel("discord", {"url": fakes.DISCORD_URL})
    long_ago = timezone.now() - timedelta(minutes=10)
    retried = Notification.objects.create(
        channel=channel, event="run_failed", status="sending", attempts=1, max_attempts=3, claimed_at=long_ago
    )
    lost = Notification.objects.create(
        channel=channel, event="run_failed", status="sending", attempts=3, max_attempts=3, claimed_at=long_ago
    )
    busy = Notification.objects.create(
        channel=channel, event="run_failed", status="sending", attempts=1, max_attempts=3, claimed_at=timezone.now()
    )
    assert LostNotificationsSource().tick(timezone.now()).done == 2
    for row in (retried, lost, busy):
        row.refresh_from_db()
    assert (retried.status, lost.status, busy.status) == ("retrying", "failed", "sending")
    assert "worker was lost" in lost.last_error


def test_a_send_the_broker_never_ran_is_sent_again_by_the_dispatcher(discord_peer, run_inline, settings):
    settings.GRADENT_QUEUED_STALE_SECONDS = 60
    channel = make_channel("discord", {"url": fakes.DISCORD_URL})
    notification = Notification.objects.create(
        channel=channel,
        event="test",
        title="t",
        payload={"content": "hello"},
        status="pending",
        enqueued_at=timezone.now() - timedelta(minutes=5),
    )
    assert DueNotificationsSource().tick(timezone.now()).done == 1
    notification.refresh_from_db()
    assert notification.status == "sent" and discord_peer.last.json["content"] == "hello"


# --- the same faults, for every HTTP transport ----------------------------------------------
@pytest.fixture(params=["discord", "slack", "ntfy", "webhook"])
def http_channel(request, notify_settings):
    """(channel, peer) for each HTTP kind, the peer answering like its service."""
    kind = request.param
    behaviour = {"discord": fakes.discord, "slack": fakes.slack, "ntfy": fakes.ntfy, "webhook": fakes.receiver}[kind]
    peer = fakes.FakePeer(behaviour).start()
    notify_settings.GRADENT_NOTIFY_DISCORD_BASE = notify_settings.GRADENT_NOTIFY_SLACK_BASE = peer.base_url
    config = {
        "discord": {"url": fakes.DISCORD_URL},
        "slack": {"url": fakes.SLACK_URL},
        "ntfy": {"server": peer.base_url, "topic": "alerts"},
        "webhook": {"url": peer.base_url + "/in"},
    }[kind]
    yield make_channel(kind, config), peer
    peer.stop()


class TestEveryHTTPTransport:
    def test_it_succeeds(self, http_channel):
        channel, peer = http_channel
        notification = send(channel)
        assert (notification.status, notification.peer_status) == ("sent", 200)
        assert len(peer.requests) == 1

    def test_429_with_retry_after_is_retried_not_before_that_time(self, http_channel):
        channel, peer = http_channel
        peer.enqueue(Reply.json(429, {"message": "slow down"}, **{"Retry-After": "20"}))
        before = timezone.now()
        notification = send(channel)
        assert notification.status == "retrying" and seconds_from(before, notification.next_attempt_at) >= 20

    def test_404_disables_the_channel(self, http_channel):
        channel, peer = http_channel
        peer.enqueue(Reply.text(404, "not found"))
        assert send(channel).status == "failed"
        channel.refresh_from_db()
        assert not channel.enabled and "404" in channel.disabled_reason

    def test_5xx_is_retried_until_the_last_attempt(self, http_channel, run_inline):
        channel, peer = http_channel
        peer.enqueue(*[Reply.json(500, {"error": "internal"})] * 3)
        notification = send(channel)
        while notification.status == "retrying":
            make_due(notification)
            DueNotificationsSource().tick(timezone.now())
            notification.refresh_from_db()
        assert (notification.status, notification.attempts, notification.peer_status) == ("failed", 3, 500)
        assert len(peer.requests) == 3

    def test_a_hanging_peer_times_out(self, http_channel, notify_settings):
        channel, peer = http_channel
        peer.enqueue(Reply(hang=True))
        started = time.monotonic()
        notification = send(channel)
        assert time.monotonic() - started < notify_settings.GRADENT_NOTIFY_TIMEOUT + 1.5
        assert notification.status == "retrying" and "did not answer in time" in notification.last_error


def test_a_hanging_mail_server_times_out(notify_settings):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    notify_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    notify_settings.EMAIL_HOST, notify_settings.EMAIL_PORT = "127.0.0.1", listener.getsockname()[1]
    try:
        started = time.monotonic()
        notification = send(make_channel("email", {"to": ["ops@example.com"]}))
        assert time.monotonic() - started < notify_settings.GRADENT_NOTIFY_TIMEOUT + 1.5
        assert notification.status == "retrying" and "Could not send the email" in notification.last_error
    finally:
        for connection, _ in accepted:
            connection.close()
        listener.close()
