"""Writes of the notifications app: who hears about an event, a Notification row per
channel written before any attempt, the attempts themselves with retries, and channel
switches. The other apps never call in here: they publish on `agents.events`, and
notifications/subscribers.py turns their events into `notify_event` calls."""

from __future__ import annotations

import json
import logging
import random
import traceback
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from agents import events
from gradent.lib.crypto import SecretUnreadable
from notifications.conf import setting
from notifications.models import (
    CAPPED_EVENTS,
    MESSAGE_EVENT,
    TEST_EVENT,
    WAITING_STATUSES,
    Channel,
    Notification,
    NotificationStatus,
    NotifyEvent,
)
from notifications.rendering import RenderError, level_for, render_message
from notifications.transports import Message, TransportError, TransportResult, get_transport_class

logger = logging.getLogger(__name__)

TASK_PATH = "notifications.tasks.send_notification"
ERROR_LIMIT = 2000


# --- who hears about what --------------------------------------------------------------------
def subscribed_channels(workspace_id: int, event: str, *, agent_id: int | None = None) -> list[Channel]:
    """Enabled channels of the workspace that subscribe to `event` (and to this agent).

    Channels per workspace are few: one indexed query, then the subscription test in Python
    (JSON containment is not portable to SQLite). Their secrets are not read: the
    notification's task loads its channel afresh to send.
    """
    channels = events.remember(
        ("notifications.channels", workspace_id),
        lambda: list(
            Channel.objects.filter(workspace_id=workspace_id, enabled=True).defer("secret").prefetch_related("agents")
        ),
    )
    return [
        channel for channel in channels if channel.wants(event, agent_id, {agent.pk for agent in channel.agents.all()})
    ]


def notify_event(
    workspace_id: int,
    event: str,
    context: dict[str, Any],
    *,
    agent_id: int | None = None,
    run_id: int | None = None,
    also_channels: list[str] | None = None,
) -> list[Notification]:
    """Tell every channel of the workspace that subscribes to `event`, and the enabled
    channels named in `also_channels` (an app's own channels) whatever they subscribe to.

    Called by the subscribers (notifications/subscribers.py) for the events of the other
    apps (proactive's monitor flips, autonomy's goals and cycles). `context`
    is JSON-able data the templates read (`agent`, `run`, `monitor`, `goal`, `cycle`,
    `summary`, `reason`, `url`, and `level` — info, success, warning or error — to override
    the event's default severity). The agent filter of a channel applies when `agent_id`
    (or `context["agent"]["id"]`) is given. Rows are written now; sends start after commit.
    """
    if event not in NotifyEvent.values:
        raise ValueError(f"unknown notification event {event!r}; known: {', '.join(NotifyEvent.values)}")
    if agent_id is None:
        agent = context.get("agent")
        if isinstance(agent, dict) and isinstance(agent.get("id"), int):
            agent_id = agent["id"]
    channels = subscribed_channels(workspace_id, event, agent_id=agent_id)
    if also_channels:
        known = {channel.pk for channel in channels}
        channels += [
            channel
            for channel in Channel.objects.filter(workspace_id=workspace_id, enabled=True, name__in=also_channels)
            if channel.pk not in known
        ]
    if not channels:
        return []
    return notify_channels(channels, event, context, run_id=run_id)


def notify_channels(
    channels: list[Channel], event: str, context: dict[str, Any], *, run_id: int | None = None
) -> list[Notification]:
    context = _jsonable(context)
    notifications = []
    for channel in channels:
        try:
            with transaction.atomic():  # a channel deleted meanwhile fails alone (at commit)
                notification = _notify_channel(channel, event, context, run_id=run_id)
        except IntegrityError:
            logger.info("channel %s was deleted: no %s notification for it", channel.pk, event)
            continue
        notifications.append(notification)
    return notifications


def _notify_channel(channel: Channel, event: str, context: dict[str, Any], *, run_id: int | None) -> Notification:
    if event in CAPPED_EVENTS and _tool_call_limit_reached(channel):
        return Notification.objects.create(
            channel=channel,
            event=event,
            run_id=run_id,
            context=context,
            status=NotificationStatus.DROPPED,
            last_error="Not sent: over the channel's tool-call rate cap.",
        )
    return notification_create(channel=channel, event=event, context=context, run_id=run_id)


def _tool_call_limit_reached(channel: Channel) -> bool:
    limit = int(setting("GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE"))
    since = timezone.now() - timedelta(minutes=1)
    recent = (
        Notification.objects.filter(channel=channel, event__in=CAPPED_EVENTS, created__gte=since)
        .exclude(status=NotificationStatus.DROPPED)
        .count()
    )
    return recent >= limit


def report_dropped(run) -> list[Notification]:
    """When a run ends: one message per channel saying how many of its tool-call messages
    the rate cap dropped ("12 tool calls not sent"). Not capped itself; sent once per run."""
    rows = (
        Notification.objects.filter(run_id=run.pk, status=NotificationStatus.DROPPED)
        .values("channel_id", "event")
        .annotate(count=Count("id"))
        .order_by("channel_id", "event")
    )
    sent = []
    for row in rows:
        channel = Channel.objects.filter(pk=row["channel_id"], enabled=True).first()
        if channel is None:
            continue
        done = Notification.objects.filter(
            channel=channel, run_id=run.pk, event=row["event"], context__has_key="dropped"
        )
        if done.exists():
            continue
        limit = int(setting("GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE"))
        context = {**run_context(run), "dropped": row["count"], "limit": limit, "level": "warning"}
        sent.append(notification_create(channel=channel, event=row["event"], context=_jsonable(context), run_id=run.pk))
    return sent


# --- one notification ------------------------------------------------------------------------
def notification_create(
    *, channel: Channel, event: str, context: dict[str, Any], run_id: int | None = None
) -> Notification:
    """Render the message for the channel's kind and write the row; the send is enqueued
    after commit. A template that fails to render is a failed row that says why."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "channel": channel,
        "event": event,
        "run_id": run_id,
        "context": context,
        "max_attempts": max(1, int(setting("GRADENT_NOTIFY_MAX_ATTEMPTS"))),
    }
    try:
        rendered = render_message(kind=channel.kind, event=event, context=context, now=now)
    except (RenderError, KeyError, ImportError) as exc:
        logger.warning("notification for channel %s (%s) not rendered: %s", channel.pk, event, exc)
        return Notification.objects.create(**fields, status=NotificationStatus.FAILED, last_error=str(exc))
    notification = Notification.objects.create(
        **fields,
        title=rendered.title[:300],
        body=rendered.body,
        payload=rendered.payload,
        status=NotificationStatus.PENDING,
        enqueued_at=now,
    )
    transaction.on_commit(lambda: enqueue_notification(notification.pk))
    return notification


def enqueue_notification(notification_id: int) -> bool:
    """Send the notification's task to the broker. If the broker is down the row waits
    with no task and the dispatcher sends it again: nothing is lost."""
    from agents import queueing

    try:
        queueing.enqueue(TASK_PATH, notification_id, name=f"notification-{notification_id}")
    except Exception:
        logger.exception("could not enqueue notification %s; the dispatcher will retry", notification_id)
        Notification.objects.filter(pk=notification_id, status__in=WAITING_STATUSES).update(enqueued_at=None)
        return False
    return True


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; never sooner than the peer's Retry-After
    (itself capped, so a peer cannot park a notification for ever)."""
    base = float(setting("GRADENT_NOTIFY_RETRY_BASE_SECONDS"))
    ceiling = min(float(setting("GRADENT_NOTIFY_RETRY_MAX_SECONDS")), base * (2 ** max(attempt - 1, 0)))
    delay = random.uniform(0, ceiling)
    if retry_after:
        delay = max(delay, min(float(retry_after), float(setting("GRADENT_NOTIFY_MAX_RETRY_AFTER"))))
    return delay


def message_for(notification: Notification) -> Message:
    return Message(
        event=notification.event,
        title=notification.title,
        body=notification.body,
        payload=notification.payload,
        level=level_for(notification.event, notification.context or {}),
        notification_id=notification.pk,
        timestamp=notification.created or timezone.now(),
        url=str((notification.context or {}).get("url") or ""),
    )


def send_now(channel: Channel, message: Message) -> TransportResult:
    """One attempt through the channel's transport. Raises TransportError."""
    try:
        transport_class = get_transport_class(channel.kind)
    except (KeyError, ImportError) as exc:
        raise TransportError(f"No transport for this channel: {exc}", permanent=True, disable=False) from None
    try:
        config = channel.full_config()
    except SecretUnreadable as exc:
        raise TransportError(str(exc)[:1].upper() + str(exc)[1:], permanent=True) from None
    transport = transport_class(config)
    try:
        return transport.send(message)
    except TransportError as exc:
        raise transport.scrub(exc) from None


def notification_deliver(notification_id: int) -> str:
    """One attempt of one notification: the task's body.

    Claims the row with a conditional update (a task delivered twice sends once), sends,
    and records the outcome: sent; retrying at a backoff time (not before the peer's
    Retry-After); or failed — after the last attempt, or at once for a permanent error,
    which also disables the channel when the channel itself is broken.
    """
    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id, status__in=WAITING_STATUSES)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=NotificationStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    )
    if claimed != 1:
        return "not claimed"
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    channel = notification.channel
    this_attempt = Notification.objects.filter(
        pk=notification.pk, status=NotificationStatus.SENDING, attempts=notification.attempts
    )
    if not channel.enabled:
        this_attempt.update(
            status=NotificationStatus.FAILED,
            last_error=f"Not sent: the channel is disabled. {channel.disabled_reason}".strip()[:ERROR_LIMIT],
            next_attempt_at=None,
            claimed_at=None,
        )
        return NotificationStatus.FAILED
    try:
        result = send_now(channel, message_for(notification))
    except TransportError as exc:
        return _record_failure(notification, exc)
    except Exception as exc:  # a bug in a transport must not lose the notification
        error = TransportError(f"{exc.__class__.__name__}: {exc}")  # redacted
        # The frames without the exception's own text, which may hold the channel's URL.
        logger.error(
            "transport %s crashed on notification %s: %s\n%s",
            channel.kind,
            notification.pk,
            error.message,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return _record_failure(notification, error)
    this_attempt.update(
        status=NotificationStatus.SENT,
        sent_at=timezone.now(),
        peer_status=result.status,
        peer_answer=result.answer[:ERROR_LIMIT],
        last_error="",
        next_attempt_at=None,
        claimed_at=None,
    )
    return NotificationStatus.SENT


def _record_failure(notification: Notification, exc: TransportError) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {
        "last_error": exc.message[:ERROR_LIMIT],
        "peer_status": exc.status,
        "peer_answer": exc.answer[:ERROR_LIMIT],
        "claimed_at": None,
    }
    if exc.permanent or notification.attempts >= notification.max_attempts:
        fields.update(status=NotificationStatus.FAILED, next_attempt_at=None)
    else:
        delay = retry_delay(notification.attempts, exc.retry_after)
        fields.update(
            status=NotificationStatus.RETRYING,
            next_attempt_at=now + timedelta(seconds=delay),
            enqueued_at=None,
        )
    updated = Notification.objects.filter(
        pk=notification.pk, status=NotificationStatus.SENDING, attempts=notification.attempts
    ).update(**fields)
    if exc.disable:
        channel_disable(notification.channel_id, reason=exc.message)
    return fields["status"] if updated else "superseded"


# --- channels ---------------------------------------------------------------------------------
def channel_disable(channel_id: int, *, reason: str) -> bool:
    """Switch a broken channel off, saying why. True when it was on."""
    reason = f"{timezone.now():%Y-%m-%d %H:%M} UTC: {reason}"[:500]
    return bool(Channel.objects.filter(pk=channel_id, enabled=True).update(enabled=False, disabled_reason=reason))


def channel_enable(*, channel: Channel) -> Channel:
    channel.enabled = True
    channel.disabled_reason = ""
    channel.save(update_fields=["enabled", "disabled_reason", "updated"])
    return channel


def channel_send_test(*, channel: Channel, sender: str = "") -> tuple[Notification, TransportResult | None, str]:
    """Send a sample message now, synchronously, once, and report the peer's answer.

    Logged like any notification. A failure does not disable the channel: the person who
    pressed the button sees the reason and fixes the configuration.
    Returns (notification, result or None, error message).
    """
    now = timezone.now()
    context = {"channel": {"id": channel.pk, "name": channel.name}, "sender": sender}
    notification = Notification(
        channel=channel, event=TEST_EVENT, context=context, max_attempts=1, attempts=1, claimed_at=now
    )
    try:
        rendered = render_message(kind=channel.kind, event=TEST_EVENT, context=context, now=now)
    except (RenderError, KeyError, ImportError) as exc:
        notification.status, notification.last_error = NotificationStatus.FAILED, str(exc)
        notification.save()
        return notification, None, str(exc)
    notification.title, notification.body, notification.payload = rendered.title[:300], rendered.body, rendered.payload
    notification.status = NotificationStatus.SENDING
    notification.save()
    try:
        result = send_now(channel, message_for(notification))
    except TransportError as exc:
        notification.status = NotificationStatus.FAILED
        notification.last_error = exc.message[:ERROR_LIMIT]
        notification.peer_status = exc.status
        notification.peer_answer = exc.answer[:ERROR_LIMIT]
        notification.claimed_at = None
        notification.save()
        return notification, None, exc.message
    notification.status = NotificationStatus.SENT
    notification.sent_at = timezone.now()
    notification.peer_status = result.status
    notification.peer_answer = result.answer[:ERROR_LIMIT]
    notification.claimed_at = None
    notification.save()
    return notification, result, ""


def channel_send_message(
    *, channel: Channel, message: str, title: str = "", context: dict | None = None, run_id: int | None = None
) -> Notification:
    """A free-form message (the notify tool), sent like any notification."""
    payload = {**(context or {}), "message": message, "title": title}
    return notification_create(channel=channel, event=MESSAGE_EVENT, context=_jsonable(payload), run_id=run_id)


def notification_resend(*, notification: Notification) -> Notification:
    """A fresh copy of a finished notification, sent again (admin action)."""
    copy = Notification.objects.create(
        channel=notification.channel,
        event=notification.event,
        run_id=notification.run_id,
        title=notification.title,
        body=notification.body,
        payload=notification.payload,
        context=notification.context,
        max_attempts=max(1, int(setting("GRADENT_NOTIFY_MAX_ATTEMPTS"))),
        status=NotificationStatus.PENDING,
        enqueued_at=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue_notification(copy.pk))
    return copy


# --- context builders for the agents' events ----------------------------------------------
def site_url(name: str, pk: int) -> str:
    try:
        path = reverse(name, args=[pk])
    except NoReverseMatch:
        return ""
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def agent_context(agent) -> dict[str, Any]:
    return {"id": agent.pk, "name": agent.name, "url": site_url("agents:detail", agent.pk)}


def run_context(run) -> dict[str, Any]:
    task = (run.input or {}).get("task", "") if isinstance(run.input, dict) else ""
    duration = run.duration_seconds
    return {
        "run": {
            "id": run.pk,
            "status": run.status,
            "status_label": run.get_status_display(),
            "reason": run.reason,
            "error": (run.error or "")[:1500],
            "output": (run.output or "")[:1500],
            "task": str(task)[:500],
            "source": run.source,
            "source_label": run.get_source_display(),
            "source_ref": run.source_ref,
            "attempt": run.attempt,
            "max_attempts": run.max_attempts,
            "duration_seconds": duration,
            "url": site_url("agents:run", run.pk),
        },
        "agent": agent_context(run.agent),
        "url": site_url("agents:run", run.pk),
    }


def _jsonable(value: Any) -> Any:
    """Event data as stored: JSON types only (dates and decimals become strings)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
