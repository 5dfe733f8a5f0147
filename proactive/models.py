from __future__ import annotations

import secrets
from datetime import UTC

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, OverlapPolicy, Run
from gradent.lib.crypto import EncryptedTextField
from proactive.payloads import parse_body
from workspaces.models import Workspace


class ScheduleQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace) -> ScheduleQuerySet:
        return self.filter(workspace=workspace)

    def due(self, now) -> ScheduleQuerySet:
        return self.filter(enabled=True, next_fire_at__lte=now)


class Schedule(models.Model):
    class Kind(models.TextChoices):
        CRON = "cron", "Cron expression"
        INTERVAL = "interval", "Every N seconds"
        ONCE = "once", "Once, at an instant"

    class Misfire(models.TextChoices):
        SKIP = "skip", "Skip missed fires"
        RUN_ONCE = "run_once", "Run once for all missed fires"
        RUN_ALL = "run_all", "Run every missed fire (within the grace window)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="schedules")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField("name", max_length=120, blank=True)
    kind = models.CharField("kind", max_length=10, choices=Kind.choices, default=Kind.CRON)
    cron_expression = models.CharField(
        "cron expression", max_length=120, blank=True, help_text="5 fields, or 6 with seconds first."
    )
    interval_seconds = models.PositiveIntegerField(
        "interval (seconds)", null=True, blank=True, validators=[MinValueValidator(1)]
    )
    anchor = models.DateTimeField("interval anchor", null=True, blank=True, help_text="Intervals count from here.")
    run_at = models.DateTimeField("run at", null=True, blank=True, help_text="For kind 'once'.")
    timezone = models.CharField("timezone", max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Riga.")
    start_at = models.DateTimeField("start", null=True, blank=True)
    end_at = models.DateTimeField("end", null=True, blank=True)
    jitter_seconds = models.PositiveIntegerField(
        "jitter (seconds)", default=0, help_text="Each run starts up to this many seconds after its slot."
    )
    misfire_policy = models.CharField(
        "misfire policy", max_length=10, choices=Misfire.choices, default=Misfire.RUN_ONCE
    )
    misfire_grace_seconds = models.PositiveIntegerField(
        "misfire grace (seconds)",
        default=3600,
        help_text="A fire later than this is a misfire; run_all only replays fires within it.",
    )
    max_catchup = models.PositiveSmallIntegerField(
        "max catch-up runs", default=10, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    overlap_policy = models.CharField(
        "overlap policy", max_length=10, choices=OverlapPolicy.choices, blank=True, help_text="Blank: the agent's."
    )
    task_description = models.TextField("task", blank=True, help_text="The run's task; blank uses the agent's.")
    input = models.JSONField("run input", default=dict, blank=True)
    enabled = models.BooleanField("enabled", default=True)
    is_agent_schedule = models.BooleanField(
        default=False, help_text="Managed by the agent's own schedule / run_on_schedule fields."
    )
    next_fire_at = models.DateTimeField("next fire (UTC)", null=True, blank=True)
    last_fire_at = models.DateTimeField("last fire (UTC)", null=True, blank=True)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField("error", blank=True, help_text="Why the dispatcher disabled this schedule.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["next_fire_at", "id"]
        indexes = [
            # The schedule source's due query: enabled rows by next_fire_at, nothing else.
            models.Index(fields=["next_fire_at"], condition=Q(enabled=True), name="schedule_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=Q(is_agent_schedule=True), name="schedule_one_per_agent_flag"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} for {self.agent}"

    @property
    def source_ref(self) -> str:
        return f"schedule:{self.pk}"

    def slot_key(self, slot) -> str:
        return f"schedule:{self.pk}:{slot.astimezone(UTC).isoformat()}"

    def timing_kwargs(self) -> dict:
        return {
            "kind": self.kind,
            "tz": self.timezone,
            "cron": self.cron_expression,
            "interval_seconds": self.interval_seconds,
            "anchor": self.anchor or self.created,
            "run_at": self.run_at,
            "start": self.start_at,
            "end": self.end_at,
        }


class Monitor(models.Model):
    class State(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        CLEAR = "clear", "Clear"
        TRIGGERED = "triggered", "Triggered"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="monitors")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="monitors")
    name = models.CharField("name", max_length=120)
    probe = models.CharField("probe", max_length=20, default="http")
    probe_config = models.JSONField("probe settings", default=dict, blank=True)
    condition = models.CharField(
        "condition",
        max_length=1000,
        help_text="When true the monitor triggers, e.g. value > 150 and status == 200. "
        "For the llm probe: the question in plain words.",
    )
    action = models.TextField("action", blank=True, help_text="The task the agent gets when the monitor flips.")
    check_interval = models.PositiveIntegerField(
        "check interval (seconds)", default=300, validators=[MinValueValidator(10)]
    )
    trigger_after = models.PositiveSmallIntegerField(
        "trigger after", default=1, validators=[MinValueValidator(1)], help_text="Consecutive true checks."
    )
    clear_after = models.PositiveSmallIntegerField(
        "clear after", default=1, validators=[MinValueValidator(1)], help_text="Consecutive false checks."
    )
    cooldown_seconds = models.PositiveIntegerField(
        "cooldown (seconds)", default=0, help_text="No new run within this long of the last one."
    )
    reminder_seconds = models.PositiveIntegerField(
        "reminder (seconds)", default=0, help_text="While triggered, run again this often; 0 never."
    )
    run_on_recovery = models.BooleanField("run on recovery", default=False)
    history_limit = models.PositiveIntegerField("checks kept", default=500)
    enabled = models.BooleanField("enabled", default=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    streak = models.PositiveIntegerField(default=0, help_text="Consecutive checks disagreeing with the state.")
    next_check_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_flip_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The monitor source's due query.
            models.Index(fields=["next_check_at"], condition=Q(enabled=True), name="monitor_due"),
        ]

    def __str__(self) -> str:
        return self.name


class MonitorCheck(models.Model):
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField(default=timezone.now)
    result = models.BooleanField(null=True, help_text="The condition's value; empty when the check failed.")
    values = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    state_after = models.CharField(max_length=10, choices=Monitor.State.choices)
    flipped = models.BooleanField(default=False)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            # The monitor page's timeline and history trimming.
            models.Index(fields=["monitor", "-checked_at"], name="monitorcheck_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor} @ {self.checked_at:%Y-%m-%d %H:%M:%S}"


class Trigger(models.Model):
    class Type(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        GITHUB = "github", "GitHub"
        SCHEDULE = "schedule", "Schedule"
        MONITOR = "monitor", "Monitor"
        MANUAL = "manual", "Manual"
        EVENT = "event", "Event"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="triggers")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="triggers")
    name = models.CharField("name", max_length=120)
    trigger_type = models.CharField("type", max_length=10, choices=Type.choices, default=Type.WEBHOOK)
    config = models.JSONField(
        "config",
        default=dict,
        blank=True,
        help_text='Filters: {"events": ["pull_request"], "match": {"action": "opened"}, "repository": "o/r"}.',
    )
    task_template = models.TextField(
        "task template", blank=True, help_text="e.g. Review PR #{{ pull_request.number }}: {{ pull_request.title }}"
    )
    enabled = models.BooleanField("enabled", default=True)
    fire_count = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


def new_url_path() -> str:
    return secrets.token_urlsafe(24)


class Webhook(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhooks")
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField("name", max_length=120, blank=True)
    url_path = models.CharField("URL path", max_length=64, unique=True, default=new_url_path)
    scheme = models.CharField("signature scheme", max_length=20, default="standard_webhooks")
    secret = EncryptedTextField("secret", blank=True)
    tolerance_seconds = models.PositiveIntegerField("timestamp tolerance (seconds)", default=300)
    max_body_bytes = models.PositiveIntegerField("max body (bytes)", default=1_048_576)
    rate_limit_per_minute = models.PositiveIntegerField("rate limit per minute", default=120)
    enabled = models.BooleanField("enabled", default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name or f"Webhook {self.url_path[:8]}…"


class WebhookDelivery(models.Model):
    class Verdict(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DUPLICATE = "duplicate", "Duplicate"
        FILTERED = "filtered", "Filtered out"
        REJECTED = "rejected", "Rejected"

    # Indexed by delivery_recent (webhook first); each index is written on every delivery.
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    url_path = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=10, default="POST")
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    body_size = models.PositiveIntegerField(default=0)
    delivery_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=200, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    status_code = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending = models.BooleanField(
        default=False, help_text="Accepted and answered; the dispatcher has not started its run yet."
    )
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The webhook page's delivery list (and the webhook foreign key's index).
            models.Index(fields=["webhook", "-received_at"], name="delivery_recent"),
            # The dispatcher's webhook source: accepted deliveries waiting for their run.
            models.Index(fields=["id"], name="delivery_pending", condition=Q(pending=True)),
        ]
        constraints = [
            # A redelivered message (same webhook-id / X-GitHub-Delivery) is accepted once;
            # the second insert fails and is stored as a duplicate.
            models.UniqueConstraint(
                fields=["webhook", "delivery_id"],
                condition=Q(verdict="accepted", replay_of__isnull=True) & ~Q(delivery_id=""),
                name="delivery_accepted_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.url_path[:8]}… {self.verdict} {self.received_at:%Y-%m-%d %H:%M:%S}"

    def payload(self) -> dict | None:
        """The stored body as data (parse_body, with the stored content type)."""
        headers = self.headers if isinstance(self.headers, dict) else {}
        return parse_body(bytes(self.body), str(headers.get("content-type", "")))


class Suggestion(models.Model):
    class Kind(models.TextChoices):
        SCHEDULE = "schedule", "Schedule an agent run by hand"
        MONITOR_THRESHOLD = "monitor_threshold", "Calm a flapping monitor"
        LONGER_INTERVAL = "longer_interval", "Lengthen a schedule that overlaps"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="suggestions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    monitor = models.ForeignKey(Monitor, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    proposal = models.JSONField(default=dict, blank=True, help_text="What accepting creates or changes.")
    evidence = models.JSONField(default=dict, blank=True, help_text="The runs / checks it was mined from.")
    fingerprint = models.CharField(max_length=200, help_text="Same finding, same fingerprint: never re-suggested.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "fingerprint"], name="suggestion_unique_finding"),
        ]

    def __str__(self) -> str:
        return self.title
