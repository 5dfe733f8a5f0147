"""State of the autonomy app: per-workspace autonomous mode, recorded metrics and events,
the goals the goal setter opened, the actions taken for them and what was learned."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, Run
from workspaces.models import Workspace


class Frequency(models.TextChoices):
    MIN_15 = "15min", "Every 15 minutes"
    MIN_30 = "30min", "Every 30 minutes"
    HOUR_1 = "1hour", "Every hour"
    HOURS_3 = "3hours", "Every 3 hours"
    HOURS_6 = "6hours", "Every 6 hours"
    HOURS_12 = "12hours", "Every 12 hours"
    HOURS_24 = "24hours", "Every 24 hours"


FREQUENCY_MINUTES = {
    Frequency.MIN_15: 15,
    Frequency.MIN_30: 30,
    Frequency.HOUR_1: 60,
    Frequency.HOURS_3: 180,
    Frequency.HOURS_6: 360,
    Frequency.HOURS_12: 720,
    Frequency.HOURS_24: 1440,
}


class GoalType(models.TextChoices):
    RESOURCE_OPTIMIZATION = "resource_optimization", "Resource optimization"
    PERFORMANCE_TARGET = "performance_target", "Performance target"
    CAPACITY_PLANNING = "capacity_planning", "Capacity planning"
    BOTTLENECK_PREVENTION = "bottleneck_prevention", "Bottleneck prevention"
    COST_REDUCTION = "cost_reduction", "Cost reduction"
    SLA_MAINTENANCE = "sla_maintenance", "SLA maintenance"
    PATTERN_ADAPTATION = "pattern_adaptation", "Pattern adaptation"


class Direction(models.TextChoices):
    ABOVE = "above", "Bad when above"
    BELOW = "below", "Bad when below"


class AutonomousConfigQuerySet(models.QuerySet):
    def due(self, now) -> AutonomousConfigQuerySet:
        return self.filter(enabled=True, next_execution__lte=now)


class AutonomousConfig(models.Model):
    """Autonomous mode of one workspace: whether and how often a cycle runs."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="autonomous_config")
    enabled = models.BooleanField("enabled", default=False)
    frequency = models.CharField("frequency", max_length=8, choices=Frequency.choices, default=Frequency.HOUR_1)
    executor = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="executor agent",
        help_text="Run once per cycle, and for goals whose chosen action is run_executor_agent.",
    )
    notify_tool_calls = models.BooleanField(
        "notify each tool call",
        default=False,
        help_text="Send a message to the autonomy channels for each tool call of the executor's cycle runs "
        "(rate-capped per channel; a summary says how many were not sent).",
    )
    # The original goal-driven loop's knobs (origins/004): goal_setter.max_active_goals,
    # executor.max_concurrent_goals and enable_learning, analysis_interval_minutes,
    # pattern_recognizer.time_window_hours.
    max_active_goals = models.PositiveSmallIntegerField(
        "max active goals",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="No new goal opens while this many are active.",
    )
    max_concurrent_goals = models.PositiveSmallIntegerField(
        "max concurrent goals",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Goals acted on per cycle.",
    )
    enable_learning = models.BooleanField(
        "enable learning", default=True, help_text="Record action outcomes to steer the next choices."
    )
    analysis_interval_minutes = models.PositiveIntegerField(
        "analysis interval (minutes)",
        default=0,
        validators=[MaxValueValidator(1440)],
        help_text="Forecast and set goals at most this often; 0: every cycle.",
    )
    pattern_window_hours = models.PositiveIntegerField(
        "pattern window (hours)",
        default=168,
        validators=[MinValueValidator(24), MaxValueValidator(24 * 90)],
        help_text="How far back pattern recognition looks for recurring events.",
    )
    last_analysis = models.DateTimeField("last analysis", null=True, blank=True)
    enabled_since = models.DateTimeField(
        "on since", null=True, blank=True, help_text="When autonomous mode was last switched on (uptime)."
    )
    last_execution = models.DateTimeField("last cycle", null=True, blank=True)
    next_execution = models.DateTimeField("next cycle", null=True, blank=True)
    last_error = models.TextField("last error", blank=True)
    last_manual_execute = models.DateTimeField(null=True, blank=True, help_text="Rate limit of POST execute.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = AutonomousConfigQuerySet.as_manager()

    class Meta:
        verbose_name = "autonomous configuration"
        indexes = [
            # The autonomy source's due query: enabled configs by next_execution.
            models.Index(fields=["next_execution"], condition=Q(enabled=True), name="autonomy_config_due"),
        ]

    def __str__(self) -> str:
        return f"Autonomy of {self.workspace}"

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=FREQUENCY_MINUTES.get(self.frequency, 60))


# What a metric may be called: 1 to 100 letters, digits, "_", ".", ":" or "-" (the collector's
# names, the record_metric tool, the API and the rules agree). Names stored before this rule
# may be anything; the pages link them by query string.
METRIC_NAME_PATTERN = r"[A-Za-z0-9_.:-]{1,100}"
METRIC_NAME_HELP = "1 to 100 letters, digits, '_', '.', ':' or '-' (e.g. cpu_usage, disk.used)."


def is_metric_name(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(METRIC_NAME_PATTERN, value) is not None


class MetricPoint(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="metric_points")
    name = models.CharField("metric", max_length=100)
    value = models.FloatField("value")
    at = models.DateTimeField("at", default=timezone.now)
    labels = models.JSONField("labels", default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # A metric's history for the forecast, the charts and the latest value.
            models.Index(fields=["workspace", "name", "at"], name="metricpoint_series"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g} @ {self.at:%Y-%m-%d %H:%M}"


class Event(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="autonomy_events")
    event_type = models.CharField("event type", max_length=100)
    metadata = models.JSONField("metadata", default=dict, blank=True)
    at = models.DateTimeField("at", default=timezone.now)
    run = models.ForeignKey(
        Run,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent run that recorded it (record_event); empty when recorded through the API.",
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # Pattern recognition reads one workspace's recent events.
            models.Index(fields=["workspace", "at"], name="autonomy_event_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.at:%Y-%m-%d %H:%M}"


class MetricRule(models.Model):
    """When a metric is out of range, and what kind of goal a (forecast) breach opens."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="metric_rules")
    metric_name = models.CharField("metric", max_length=100)
    warning = models.FloatField("warning threshold", null=True, blank=True)
    critical = models.FloatField("critical threshold")
    direction = models.CharField("direction", max_length=5, choices=Direction.choices, default=Direction.ABOVE)
    goal_type = models.CharField(
        "goal type", max_length=30, choices=GoalType.choices, default=GoalType.BOTTLENECK_PREVENTION
    )
    plan = models.JSONField(
        "plan", default=list, blank=True, help_text="Action names the goals of this rule run in order (optional)."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metric_name"]
        constraints = [
            # One rule per metric: the cycle looks a metric's rule up by name.
            models.UniqueConstraint(fields=["workspace", "metric_name"], name="metricrule_one_per_metric"),
        ]

    def __str__(self) -> str:
        return f"{self.metric_name} {self.direction} {self.critical:g}"

    def in_range(self, value: float) -> bool:
        """Back in range: on the good side of the warning threshold (critical without one)."""
        limit = self.warning if self.warning is not None else self.critical
        return value < limit if self.direction == Direction.ABOVE else value > limit


class GoalQuerySet(models.QuerySet):
    def active(self) -> GoalQuerySet:
        return self.filter(status=Goal.Status.ACTIVE)


class Goal(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ACHIEVED = "achieved", "Achieved"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled (its rule changed)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="goals")
    goal_type = models.CharField("goal type", max_length=30, choices=GoalType.choices)
    title = models.CharField("title", max_length=200)
    metric_name = models.CharField("metric", max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(
        "priority", default=3, validators=[MinValueValidator(1), MaxValueValidator(5)], help_text="1 is the highest."
    )
    status = models.CharField("status", max_length=10, choices=Status.choices, default=Status.ACTIVE)
    cause = models.CharField("cause", max_length=200, help_text="Fingerprint of what opened the goal.")
    evidence = models.JSONField("evidence", default=dict, blank=True)
    threshold = models.FloatField("threshold", null=True, blank=True)
    target = models.FloatField("target", null=True, blank=True, help_text="Back in range on this side of it.")
    plan = models.JSONField(
        "plan",
        default=list,
        blank=True,
        help_text="Action names run in order, one a cycle, each after the previous one's impact is measured; "
        "empty: the learner chooses.",
    )
    direction = models.CharField(max_length=5, choices=Direction.choices, default=Direction.ABOVE)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField("expires", null=True, blank=True)
    closed_at = models.DateTimeField("closed", null=True, blank=True)

    objects = GoalQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "-created", "-id"]
        constraints = [
            # No duplicate goal for the same cause while one is open.
            models.UniqueConstraint(
                fields=["workspace", "cause"], condition=Q(status="active"), name="goal_one_active_per_cause"
            ),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=5), name="goal_priority_1_to_5"),
        ]
        indexes = [
            # The cycle and the goals endpoint: one workspace's goals by status.
            models.Index(fields=["workspace", "status"], name="goal_workspace_status"),
        ]

    def __str__(self) -> str:
        return self.title


class GoalAction(models.Model):
    class Strategy(models.TextChoices):
        IMMEDIATE = "immediate", "Immediate"
        SCHEDULED = "scheduled", "Scheduled"
        ADAPTIVE = "adaptive", "Adaptive"
        COLLABORATIVE = "collaborative", "Collaborative"

    class Status(models.TextChoices):
        RUNNING = "running", "Running (impact not measured yet)"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (not run; not counted)"

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField("action", max_length=100)
    strategy = models.CharField("strategy", max_length=15, choices=Strategy.choices, default=Strategy.IMMEDIATE)
    status = models.CharField("status", max_length=10, choices=Status.choices, default=Status.RUNNING)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    result = models.JSONField("handler result", default=dict, blank=True)
    impact_before = models.FloatField("metric before", null=True, blank=True)
    impact_after = models.FloatField("metric after", null=True, blank=True)
    error = models.TextField("error", blank=True)
    plan_step = models.PositiveSmallIntegerField("plan step", null=True, blank=True, help_text="0-based.")
    rolled_back = models.BooleanField("rolled back", default=False)
    rollback = models.JSONField("rollback result", default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)
    measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # The cycle measures the actions still waiting for their impact.
            models.Index(fields=["status"], condition=Q(status="running"), name="goalaction_unmeasured"),
        ]

    def __str__(self) -> str:
        return f"{self.action} for {self.goal}"

    @property
    def impact(self) -> float | None:
        if self.impact_before is None or self.impact_after is None:
            return None
        return self.impact_after - self.impact_before


class LearningState(models.Model):
    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="learning_state")
    data = models.JSONField("learner", default=dict, blank=True, help_text="Learner.to_dict().")
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Learning of {self.workspace}"


class AutonomyCycle(models.Model):
    """One autonomous cycle: what it did, its executor run and how it ended. `running` until
    its own work is done and its executor run has ended; the completion message goes out then."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="autonomy_cycles")
    trigger = models.CharField("started by", max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField("status", max_length=10, choices=Status.choices, default=Status.RUNNING)
    started = models.DateTimeField("started", default=timezone.now)
    work_finished = models.DateTimeField(
        "work finished", null=True, blank=True, help_text="The cycle's own work ended; its executor run may still run."
    )
    finished = models.DateTimeField("finished", null=True, blank=True)
    goals_created = models.PositiveIntegerField("goals created", default=0)
    goals_achieved = models.PositiveIntegerField("goals achieved", default=0)
    goals_expired = models.PositiveIntegerField("goals expired", default=0)
    actions = models.PositiveIntegerField("actions run", default=0)
    actions_skipped = models.PositiveIntegerField("actions skipped", default=0)
    executor_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="executor run"
    )
    error = models.TextField("error", blank=True)
    summary = models.JSONField("summary", default=dict, blank=True)

    class Meta:
        ordering = ["-started", "-id"]
        indexes = [
            # The cycles list of a workspace, newest first.
            models.Index(fields=["workspace", "-started"], name="autonomycycle_recent"),
            # The run-ended subscriber finds a cycle by its executor run.
            models.Index(fields=["executor_run"], condition=Q(status="running"), name="autonomycycle_waiting"),
        ]

    def __str__(self) -> str:
        return f"Cycle of {self.workspace} at {self.started:%Y-%m-%d %H:%M}"

    @property
    def duration_seconds(self) -> float | None:
        return (self.finished - self.started).total_seconds() if self.finished else None
