from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from gradent.lib import crypto
from gradent.lib.crypto import EncryptedTextField
from workspaces.models import Workspace

# What reads show instead of an extra header's value; sending it back keeps the stored value.
HEADER_VALUE_MASK = "********"


class OverlapPolicy(models.TextChoices):
    ALLOW = "allow", "Allow: run alongside"
    SKIP = "skip", "Skip: record a skipped run"
    QUEUE_ONE = "queue_one", "Queue one: wait for the running one"
    REPLACE = "replace", "Replace: cancel the running one"


class AgentQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace) -> AgentQuerySet:
        return self.filter(workspace=workspace)


class Agent(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField("name", max_length=120)
    description = models.TextField("description", blank=True)
    system_instructions = models.TextField(
        "system instructions", blank=True, help_text="Who the agent is and how it behaves."
    )
    task_instructions = models.TextField(
        "task instructions", blank=True, help_text="What a run does when it is given no other task."
    )
    provider = models.CharField(
        "provider", max_length=20, default="scripted", help_text="openai, anthropic or scripted."
    )
    model = models.CharField("model", max_length=120, blank=True, help_text="e.g. gpt-4o-mini, claude-haiku-4-5.")
    provider_settings = models.JSONField(
        "provider settings",
        default=dict,
        blank=True,
        help_text="base_url, temperature, timeout…; for scripted: {steps: […], answer}.",
    )
    api_key_env = models.CharField(
        "API key variable",
        max_length=100,
        blank=True,
        help_text="Name of the environment variable that holds the API key.",
    )
    api_key = EncryptedTextField("API key", blank=True, help_text="Stored encrypted; used when no variable is named.")
    # provider_settings.extra_headers lives here: header values are credentials as often as not
    # (api-key, X-Auth…). Written through provider_settings; see absorb_extra_headers().
    header_secrets = EncryptedTextField(
        "extra headers",
        blank=True,
        help_text="provider_settings.extra_headers as a JSON object, stored encrypted; values are never shown.",
    )
    allowed_tools = models.JSONField(
        "allowed tools", default=list, blank=True, help_text="Names of the tools this agent may call."
    )
    max_steps = models.PositiveIntegerField(
        "max steps", default=20, validators=[MinValueValidator(1)], help_text="LLM and tool calls per attempt."
    )
    max_tokens = models.PositiveIntegerField("max tokens", default=200_000, validators=[MinValueValidator(1)])
    max_cost_usd = models.DecimalField(
        "max cost (USD)", max_digits=10, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    max_seconds = models.PositiveIntegerField(
        "max seconds", default=300, validators=[MinValueValidator(1)], help_text="Wall time per attempt."
    )
    overlap_policy = models.CharField(
        "overlap policy", max_length=10, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    max_attempts = models.PositiveSmallIntegerField(
        "max attempts",
        default=3,
        validators=[MinValueValidator(1)],
        help_text="Attempts per run, first included; retries only for retryable errors.",
    )
    auto_pause_after = models.PositiveSmallIntegerField(
        "auto-pause after", default=5, help_text="Consecutive failed runs that pause the agent; 0 never pauses."
    )
    input_schema = models.JSONField(
        "input schema",
        default=dict,
        blank=True,
        help_text="A JSON Schema that every run's input must match; {} accepts any input.",
    )
    enabled = models.BooleanField("enabled", default=True)
    state = models.CharField("state", max_length=10, choices=State.choices, default=State.ACTIVE)
    state_reason = models.CharField("state reason", max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # From the scheduled-agents design: a cron string the proactive app turns into a
    # Schedule while run_on_schedule is on.
    schedule = models.CharField("schedule (cron)", max_length=120, blank=True)
    run_on_schedule = models.BooleanField("run on schedule", default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # Agent lists per workspace, ordered by name.
            models.Index(fields=["workspace", "name"], name="agent_workspace_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.absorb_extra_headers()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "provider_settings" in update_fields:
            kwargs["update_fields"] = {*update_fields, "header_secrets"}
        super().save(*args, **kwargs)

    @property
    def is_runnable(self) -> bool:
        return self.enabled and self.state == self.State.ACTIVE

    @property
    def extra_headers(self) -> dict[str, str]:
        """The extra request headers, values included. Raises SecretUnreadable."""
        text = crypto.reveal(self.header_secrets, what="extra header values")
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return {str(name): str(header) for name, header in value.items()} if isinstance(value, dict) else {}

    def shown_provider_settings(self) -> dict:
        """provider_settings as the API and the pages show them: header names, values masked."""
        shown = dict(self.provider_settings or {})
        names = self._header_names()
        if names:
            shown["extra_headers"] = dict.fromkeys(names, HEADER_VALUE_MASK)
        return shown

    def provider_settings_with_secrets(self) -> dict:
        """provider_settings with the extra headers' values: what a provider is built with.
        Raises SecretUnreadable when the stored values cannot be decrypted."""
        settings_ = dict(self.provider_settings or {})
        headers = self.extra_headers
        if headers:
            settings_["extra_headers"] = headers
        return settings_

    def _header_names(self) -> list[str]:
        if crypto.is_unreadable(self.header_secrets):
            return ["(unreadable: enter the extra headers again)"]
        return list(self.extra_headers)

    def absorb_extra_headers(self) -> None:
        """Move provider_settings.extra_headers into the encrypted field.

        Absent: the stored headers stay. An object: the headers become exactly those names;
        a value equal to HEADER_VALUE_MASK (what reads show) keeps the stored value of that
        name. {} or null removes them all. Stored values that cannot be decrypted are kept
        while every value given is the mask.
        """
        if not isinstance(self.provider_settings, dict) or "extra_headers" not in self.provider_settings:
            return
        given = self.provider_settings.get("extra_headers") or {}
        self.provider_settings = {k: v for k, v in self.provider_settings.items() if k != "extra_headers"}
        if not isinstance(given, dict):
            given = {}
        if crypto.is_unreadable(self.header_secrets):
            if given and all(value == HEADER_VALUE_MASK for value in given.values()):
                return
            stored: dict[str, str] = {}
        else:
            stored = self.extra_headers
        by_lower = {name.lower(): value for name, value in stored.items()}
        headers = {}
        for name, value in given.items():
            if value == HEADER_VALUE_MASK:
                if str(name).lower() in by_lower:
                    headers[str(name)] = by_lower[str(name).lower()]
                continue  # a masked value for a header that was never stored: nothing to keep
            headers[str(name)] = str(value)
        self.header_secrets = json.dumps(headers, sort_keys=True) if headers else ""

    def primary_thread(self) -> Thread:
        thread = self.threads.filter(is_primary=True).first()
        if thread is None:
            thread, _ = Thread.objects.get_or_create(
                agent=self, is_primary=True, defaults={"workspace_id": self.workspace_id, "title": "Primary"}
            )
        return thread


class Thread(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="threads")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="threads")
    title = models.CharField("title", max_length=200, blank=True)
    is_primary = models.BooleanField("primary", default=False)
    agent_state = models.JSONField(
        "agent state", default=dict, blank=True, help_text="Kept across runs; the remember/recall tools use it."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]
        constraints = [
            # Scheduled runs reuse "the" primary thread: there must be one at most.
            models.UniqueConstraint(fields=["agent"], condition=Q(is_primary=True), name="thread_one_primary"),
        ]

    def __str__(self) -> str:
        return self.title or f"Thread {self.pk}"

    @property
    def custom_title(self) -> str:
        """A title someone gave it; pages title threads by agent and start otherwise."""
        return "" if self.is_primary and self.title == "Primary" else self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool"

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"
    SKIPPED = "skipped", "Skipped"
    MISSED = "missed", "Missed"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINAL_STATUSES = tuple(s for s in RunStatus.values if s not in ACTIVE_STATUSES)


class RunSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    MONITOR = "monitor", "Monitor"
    TRIGGER = "trigger", "Trigger"
    WEBHOOK = "webhook", "Webhook"
    AUTONOMY = "autonomy", "Autonomy"


class RunQuerySet(models.QuerySet):
    def active(self) -> RunQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def due(self, now=None, *, lost_before=None) -> RunQuerySet:
        """Queued runs whose time has come and whose task was never sent or seems lost:
        sent more than GRADENT_QUEUED_STALE_SECONDS ago, or before `lost_before`."""
        now = now or timezone.now()
        stale = now - timedelta(seconds=settings.GRADENT_QUEUED_STALE_SECONDS)
        if lost_before is not None:
            stale = max(stale, lost_before)
        return (
            self.filter(status=RunStatus.QUEUED)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=stale))
        )

    def waiting(self, agent_id: int) -> RunQuerySet:
        """The agent's queued runs whose task was not sent and that wait for no time: a
        queue_one run waiting for the running one to end. Oldest first (index
        run_waiting)."""
        return self.filter(
            agent_id=agent_id, status=RunStatus.QUEUED, enqueued_at__isnull=True, not_before__isnull=True
        ).order_by("id")

    def stuck_running(self, now=None) -> RunQuerySet:
        return self.filter(status=RunStatus.RUNNING, deadline_at__lt=now or timezone.now())


class Run(models.Model):
    # Indexed by run_workspace_status and run_agent_recent (each leads with the key): a
    # separate index would be written on every run insert and status change for nothing.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="runs", db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs", db_index=False)
    thread = models.ForeignKey(Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    source = models.CharField(max_length=10, choices=RunSource.choices, default=RunSource.MANUAL)
    source_ref = models.CharField(
        max_length=200, blank=True, help_text="Which schedule, monitor, trigger or user started it."
    )
    input = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="Event payload; untrusted data.")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it has this status, for people.")
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Incremented when a worker claims the run.")
    max_attempts = models.PositiveSmallIntegerField(default=3)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retry or delayed start time.")
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent.")
    started_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="Running past this means the worker is lost.")
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    overlap_policy = models.CharField(max_length=10, choices=OverlapPolicy.choices, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True, help_text="The slot a scheduled fire was for.")
    slot_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="Identifies a fire slot (e.g. schedule:12:<instant>); unique, so a slot fires at most once.",
    )
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    step_count = models.PositiveIntegerField(default=0)
    tool_call_count = models.PositiveIntegerField(default=0)
    no_tool_calls = models.BooleanField(
        default=False, help_text="Flag: tools were allowed but the run answered without calling any."
    )
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid of the worker that claimed it.")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Dispatcher: RunQuerySet.due() and stuck_running() scan only active runs.
            models.Index(
                fields=["status", "not_before"], name="run_active_due", condition=Q(status__in=["queued", "running"])
            ),
            # Agent page and overlap checks: the latest runs of one agent.
            models.Index(fields=["agent", "-id"], name="run_agent_recent"),
            # Run list per workspace filtered by status.
            models.Index(fields=["workspace", "status", "-id"], name="run_workspace_status"),
            # A finished run looks for the run waiting on it (queue_one): without this the
            # look-up walked the agent's whole history, on every finished run.
            models.Index(
                fields=["agent", "id"], name="run_waiting", condition=Q(status="queued", enqueued_at__isnull=True)
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.agent_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def attempt_summary(self) -> str:
        """The attempt line for people. A finished run says how its attempts ended, so it
        never reads as pending ("attempt 1 of 3 — not retried: <why>")."""
        of = f"attempt {self.attempt} of {self.max_attempts}"
        if self.is_active:
            if not self.attempt:
                return f"none yet (up to {self.max_attempts})"
            return of if self.status == RunStatus.RUNNING else f"{of} — waiting to retry"
        if not self.attempt:
            return f"none — {self.get_status_display().lower()} before any attempt"
        if self.status == RunStatus.SUCCEEDED:
            return f"{of} — succeeded"
        if self.attempt >= self.max_attempts:
            return f"{of} — no attempts left"
        if self.status == RunStatus.CANCELLED:
            return f"{of} — not retried: cancelled"
        if self.status == RunStatus.TIMED_OUT or self.reason.startswith("Budget:"):
            return f"{of} — not retried: a budget ran out, and budgets are not retried"
        why = (self.reason or self.error or "the failure is not retryable").splitlines()[0]
        return f"{of} — not retried: {why[:160]}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunStep(models.Model):
    class Kind(models.TextChoices):
        LLM_CALL = "llm_call", "LLM call"
        TOOL_CALL = "tool_call", "Tool call"
        LOG = "log", "Log"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    attempt = models.PositiveSmallIntegerField(default=1)
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=120, blank=True, help_text="Tool or model name.")
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.OK)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="runstep_unique_index"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} #{self.index}"


class DispatcherHeartbeat(models.Model):
    """One row per running dispatcher, written every tick: /healthz and the dashboard read it."""

    name = models.CharField(max_length=200, unique=True, help_text="host:pid")
    last_beat = models.DateTimeField()
    last_tick_ms = models.PositiveIntegerField(default=0)
    info = models.JSONField(default=dict, blank=True)
    started = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_beat"]

    def __str__(self) -> str:
        return self.name


class WorkerHeartbeat(models.Model):
    """One row per worker process that executes runs, written every few seconds with the
    runs it holds. The dispatcher hands back the runs of a worker whose row went stale
    (the process was killed or the machine lost), and reads `waiting_since` to tell a task
    the broker lost from one waiting behind busy workers."""

    name = models.CharField(max_length=100, unique=True, help_text="host:pid:token, as in Run.worker")
    last_beat = models.DateTimeField()
    capacity = models.PositiveIntegerField(default=1, help_text="Runs it may hold at once.")
    held = models.JSONField(default=list, blank=True, help_text="Ids of the runs it holds.")
    waiting_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Since when it has waited for a task without taking one (empty while it executes one).",
    )
    started = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_beat"]

    def __str__(self) -> str:
        return self.name
