from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents.models import Agent
from gradent.lib import crypto
from gradent.lib.crypto import EncryptedTextField
from notifications.transports import kind_choices
from workspaces.models import Workspace


class ChannelKind(models.TextChoices):
    DISCORD = "discord", "Discord webhook"
    NTFY = "ntfy", "ntfy topic"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "Webhook (JSON POST, Standard Webhooks signature)"
    EMAIL = "email", "Email"


class NotifyEvent(models.TextChoices):
    """What a channel may subscribe to."""

    RUN_STARTED = "run_started", "Run started"
    RUN_SUCCEEDED = "run_succeeded", "Run succeeded"
    RUN_FAILED = "run_failed", "Run failed"
    RUN_SKIPPED = "run_skipped", "Run skipped"
    AGENT_AUTO_PAUSED = "agent_auto_paused", "Agent auto-paused"
    MONITOR_FLIPPED = "monitor_flipped", "Monitor flipped"
    GOAL_CREATED = "goal_created", "Goal created"
    GOAL_ACHIEVED = "goal_achieved", "Goal achieved"
    GOAL_FAILED = "goal_failed", "Goal failed"
    AUTONOMY_CYCLE_STARTED = "autonomy_cycle_started", "Autonomous cycle started"
    AUTONOMY_CYCLE_COMPLETED = "autonomy_cycle_completed", "Autonomous cycle completed"
    TOOL_CALLED = "tool_called", "Tool called (every tool call; rate-limited)"
    AUTONOMY_TOOL_CALLED = "autonomy_tool_called", "Autonomous executor called a tool (rate-limited)"


# Notifications that are not subscriptions: the "Send test" button and the notify tool.
TEST_EVENT = "test"
MESSAGE_EVENT = "message"
EVENT_LABELS = {**dict(NotifyEvent.choices), TEST_EVENT: "Test message", MESSAGE_EVENT: "Message from an agent"}
DEFAULT_EVENTS = [NotifyEvent.RUN_FAILED.value, NotifyEvent.AGENT_AUTO_PAUSED.value]


def default_events() -> list[str]:
    return list(DEFAULT_EVENTS)


class ChannelQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace) -> ChannelQuerySet:
        return self.filter(workspace=workspace)

    def enabled(self) -> ChannelQuerySet:
        return self.filter(enabled=True)


class Channel(models.Model):
    """Somewhere messages go: a Discord webhook, an ntfy topic, a Slack webhook, a generic
    webhook or email addresses, with the events it hears about.

    `config` holds the kind's public settings; the kind's secret ones (webhook URLs carry
    their token, ntfy access tokens, signing secrets) live encrypted in `secret`, as a JSON
    object, and are never returned by the API.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField("name", max_length=100, help_text="Agents address the channel by this name.")
    # No model choices and no check constraint: the kinds are the transport registry's (the
    # built-ins, ChannelKind, and users' own from GRADENT_NOTIFY_TRANSPORTS), which the form
    # and the serializer validate against (notifications.transports.kind_choices).
    kind = models.CharField(
        "kind",
        max_length=50,
        help_text="A transport kind: discord, ntfy, slack, webhook, email, or one from GRADENT_NOTIFY_TRANSPORTS.",
    )
    config = models.JSONField(
        "configuration", default=dict, blank=True, help_text="The kind's settings, without its secrets."
    )
    secret = EncryptedTextField(
        "secrets", blank=True, help_text="The kind's secret settings as a JSON object, stored encrypted."
    )
    events = models.JSONField(
        "events",
        default=default_events,
        blank=True,
        help_text="What this channel hears about. tool_called (every tool call) is opt-in and rate-limited.",
    )
    agents = models.ManyToManyField(
        Agent,
        blank=True,
        related_name="notification_channels",
        verbose_name="only these agents",
        help_text="Agent events only for these agents; none selected means every agent.",
    )
    enabled = models.BooleanField("enabled", default=True)
    disabled_reason = models.CharField(
        "disabled because",
        max_length=500,
        blank=True,
        help_text="Set when a permanent error (unknown webhook, revoked token…) switched the channel off.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # The notify tool finds a channel by name in the agent's workspace.
            models.UniqueConstraint(fields=["workspace", "name"], name="channel_unique_name"),
        ]
        indexes = [
            # notify_event: the enabled channels of one workspace, on every published event.
            models.Index(fields=["workspace", "enabled"], name="channel_workspace_enabled"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def secrets_unreadable(self) -> bool:
        """The stored secrets cannot be decrypted with the configured keys (gradent.lib.crypto)."""
        return crypto.is_unreadable(self.secret)

    @property
    def secrets(self) -> dict:
        """The stored secrets; {} when there are none or they cannot be decrypted."""
        if not self.secret or self.secrets_unreadable:
            return {}
        try:
            value = json.loads(self.secret)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_kind_display(self) -> str:
        """The kind's label from the transport registry (the field has no model choices)."""
        return dict(kind_choices()).get(self.kind, self.kind)

    def full_config(self) -> dict:
        """Config and secrets together: what the transport needs. Raises SecretUnreadable."""
        crypto.reveal(self.secret, what=f"secrets of channel {self.name!r}")
        return {**(self.config or {}), **self.secrets}

    def set_full_config(self, full: dict, *, secret_fields: tuple[str, ...]) -> None:
        """Split a validated config into the public part and the encrypted secrets."""
        public = {key: value for key, value in full.items() if key not in secret_fields}
        hidden = {key: value for key, value in full.items() if key in secret_fields and value not in (None, "")}
        self.config = public
        if not hidden and self.secrets_unreadable:
            return  # nothing entered again: what cannot be read is kept, never blanked
        self.secret = json.dumps(hidden, sort_keys=True) if hidden else ""

    @property
    def agent_ids(self) -> list[int]:
        return sorted(agent.pk for agent in self.agents.all())

    def wants(self, event: str, agent_id: int | None, agent_ids: set[int] | None = None) -> bool:
        """Whether this channel hears about `event` (of `agent_id`, when the event has one)."""
        if event not in (self.events or []):
            return False
        if agent_id is None:
            return True
        if agent_ids is None:
            agent_ids = {agent.pk for agent in self.agents.all()}
        return not agent_ids or agent_id in agent_ids


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    DROPPED = "dropped", "Not sent (over the rate cap)"


# Events capped per channel and minute (GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE); what the cap
# drops is kept as `dropped` rows and counted in one message when the run ends.
CAPPED_EVENTS = ("tool_called", "autonomy_tool_called")

WAITING_STATUSES = (NotificationStatus.PENDING, NotificationStatus.RETRYING)
OPEN_STATUSES = (*WAITING_STATUSES, NotificationStatus.SENDING)


class NotificationQuerySet(models.QuerySet):
    def due(self, now: datetime, *, stale_after: float | None = None) -> NotificationQuerySet:
        """Waiting notifications whose time has come and whose task was never sent, or
        was sent so long ago that the broker must have lost it."""
        stale_after = settings.GRADENT_QUEUED_STALE_SECONDS if stale_after is None else stale_after
        return (
            self.filter(status__in=WAITING_STATUSES)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=now - timedelta(seconds=stale_after)))
        )

    def stuck_sending(self, now: datetime, *, older_than: float) -> NotificationQuerySet:
        return self.filter(status=NotificationStatus.SENDING, claimed_at__lt=now - timedelta(seconds=older_than))


class Notification(models.Model):
    """One message to one channel. Written before the first attempt, updated by each one:
    the log answers "did they hear about it, and what did the peer say?"."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField("event", max_length=40)
    run = models.ForeignKey(
        "agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    title = models.CharField("title", max_length=300, blank=True)
    body = models.TextField("text", blank=True)
    payload = models.JSONField(
        "payload", default=dict, blank=True, help_text="What the transport sends, rendered from the templates."
    )
    context = models.JSONField("event data", default=dict, blank=True)
    status = models.CharField(
        "status", max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField("attempts", default=0)
    max_attempts = models.PositiveSmallIntegerField("max attempts", default=5)
    last_error = models.TextField("last error", blank=True)
    peer_status = models.PositiveSmallIntegerField("peer status", null=True, blank=True)
    peer_answer = models.TextField("peer answer", blank=True, help_text="The peer's response body, truncated.")
    next_attempt_at = models.DateTimeField("next attempt", null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent.")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When the current attempt started.")
    sent_at = models.DateTimeField("sent", null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=NotificationStatus.values), name="notification_status_valid"),
        ]
        indexes = [
            # Dispatcher: NotificationQuerySet.due() and stuck_sending() scan only open rows.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="notification_open_due",
                condition=Q(status__in=["pending", "retrying", "sending"]),
            ),
            # The channel's log, newest first.
            models.Index(fields=["channel", "-id"], name="notification_channel_recent"),
            # The tool-call tracker's rate limit: one channel's recent rows of one event.
            models.Index(fields=["channel", "event", "created"], name="notification_channel_event"),
        ]

    def __str__(self) -> str:
        return f"Notification #{self.pk} {self.event} → {self.channel_id} ({self.status})"

    @property
    def event_label(self) -> str:
        return EVENT_LABELS.get(self.event, self.event)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
