from __future__ import annotations

import math
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from autonomy.channels import DISCORD, NTFY, config_validate
from autonomy.models import (
    METRIC_NAME_HELP,
    AutonomyCycle,
    Direction,
    Frequency,
    Goal,
    GoalAction,
    GoalType,
    MetricRule,
    is_metric_name,
)
from autonomy.services import MAX_BATCH, MAX_FUTURE
from gradent.api import StrictModelSerializer, StrictSerializer

MASK = "…"
# The autonomy views read `workspace_id` from the body themselves.
WORKSPACE_ID = frozenset({"workspace_id"})


def mask_webhook(url: str) -> str:
    """The webhook URL without its token (the token is a secret, never shown again)."""
    head, _, _ = url.rstrip("/").rpartition("/")
    return f"{head}/{MASK}" if head else MASK


class ConfigInputSerializer(StrictSerializer):
    # What GET answers and PUT does not take: a client may send the answer back with changes.
    extra_input_fields = WORKSPACE_ID | {"last_execution", "next_execution", "last_error"}
    enabled = serializers.BooleanField()
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    discord_webhook = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=500)
    ntfy_topic = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=64)
    executor_agent_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    notify_tool_calls = serializers.BooleanField(
        required=False, help_text="A message to the autonomy channels for each tool call of the executor."
    )
    start_now = serializers.BooleanField(
        required=False, default=False, help_text="With enabled: the first cycle starts now, not one interval later."
    )
    max_active_goals = serializers.IntegerField(required=False, min_value=1, max_value=100)
    max_concurrent_goals = serializers.IntegerField(required=False, min_value=1, max_value=20)
    enable_learning = serializers.BooleanField(required=False)
    analysis_interval_minutes = serializers.IntegerField(
        required=False, min_value=0, max_value=1440, help_text="0: analyse every cycle."
    )
    pattern_window_hours = serializers.IntegerField(required=False, min_value=24, max_value=24 * 90)

    # Validated values: None keeps the stored channel (the masked URL sent back), "" switches
    # the autonomy channel off (null or blank, as the original cleared it), else the new setting.
    def validate_discord_webhook(self, value: str | None) -> str | None:
        if not value:
            return ""
        if value.endswith(MASK):
            return None
        return config_validate(DISCORD, {"url": value})["url"]

    def validate_ntfy_topic(self, value: str | None) -> str | None:
        if not value:
            return ""
        return config_validate(NTFY, {"topic": value})["topic"]


class TestWebhookSerializer(StrictSerializer):
    extra_input_fields = WORKSPACE_ID
    webhook_url = serializers.CharField(max_length=500)

    def validate_webhook_url(self, value: str) -> str:
        return config_validate(DISCORD, {"url": value})["url"]


class ModeSerializer(StrictSerializer):
    extra_input_fields = WORKSPACE_ID
    autonomous = serializers.BooleanField()
    start_now = serializers.BooleanField(required=False, default=False)


class EventSerializer(StrictSerializer):
    extra_input_fields = WORKSPACE_ID
    event_type = serializers.CharField(max_length=100)
    metadata = serializers.DictField(required=False, default=dict)


def validate_metric_points(data) -> list[dict]:
    """{"metric_name", "value"} or {"metrics": [...]}: every point valid or none stored.
    Errors name the field (and, in a batch, the index): {"metrics": {"3": {"value": [...]}}}."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    unknown = set(data) - (POINT_FIELDS if "metrics" not in data else {"metrics"}) - WORKSPACE_ID
    if unknown:
        raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(map(str, unknown))})
    if "metrics" not in data:
        errors, point = _point(data)
        if errors:
            raise serializers.ValidationError(errors)
        return [point]
    items = data["metrics"]
    if not isinstance(items, list) or not items:
        raise serializers.ValidationError({"metrics": ["Expected a non-empty list of points."]})
    if len(items) > MAX_BATCH:
        raise serializers.ValidationError(
            {"metrics": [f"At most {MAX_BATCH} points per request, got {len(items)}; nothing was stored."]}
        )
    points, errors = [], {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[str(index)] = {"non_field_errors": ["Expected an object."]}
            continue
        item_errors, point = _point(item)
        if item_errors:
            errors[str(index)] = item_errors
        else:
            points.append(point)
    if errors:
        raise serializers.ValidationError({"metrics": errors})
    return points


POINT_FIELDS = frozenset({"metric_name", "value", "timestamp", "labels"})


def _point(item: dict) -> tuple[dict, dict]:
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(map(str, set(item) - POINT_FIELDS))}
    name = item.get("metric_name")
    name = name.strip() if isinstance(name, str) else name
    if not is_metric_name(name):
        errors["metric_name"] = [f"A metric name is {METRIC_NAME_HELP}"]
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors["value"] = ["A number is required."]
    elif not math.isfinite(float(value)):
        errors["value"] = ["The value must be finite (not NaN or infinity)."]
    at = None
    raw_at = item.get("timestamp")
    if raw_at is not None:
        at = _timestamp(raw_at)
        if at is None:
            errors["timestamp"] = ["An ISO 8601 datetime or epoch seconds is required."]
        elif at > timezone.now() + MAX_FUTURE:
            errors["timestamp"] = ["The timestamp is in the future."]
    labels = item.get("labels")
    if labels is not None and not (isinstance(labels, dict) and len(labels) <= 50):
        errors["labels"] = ["An object of at most 50 labels is expected."]
    if errors:
        return errors, {}
    return {}, {"metric_name": name, "value": float(value), "timestamp": at, "labels": labels or {}}


def _timestamp(raw) -> datetime | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or abs(raw) > 1e11:
            return None
        return datetime.fromtimestamp(raw, tz=UTC)
    if not isinstance(raw, str):
        return None
    try:
        at = parse_datetime(raw)
    except ValueError:
        return None
    if at is None:
        return None
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows (+17:56).
        return at.astimezone(UTC)
    except OverflowError:  # year 1 at a negative offset
        return None


class GoalActionSerializer(StrictModelSerializer):
    impact = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = GoalAction
        fields = [
            "id",
            "action",
            "strategy",
            "status",
            "run",
            "result",
            "impact_before",
            "impact_after",
            "impact",
            "error",
            "plan_step",
            "rolled_back",
            "rollback",
            "created",
            "measured_at",
        ]


def goal_progress(goal: Goal, latest: float | None) -> float:
    """0–1: how far the metric has come from its value when the goal opened to the target
    (1.0 once achieved; 0.0 without a metric to measure)."""
    if goal.status == Goal.Status.ACHIEVED:
        return 1.0
    start = (goal.evidence or {}).get("latest") if isinstance(goal.evidence, dict) else None
    target = goal.target
    if latest is None or target is None or not isinstance(start, int | float) or isinstance(start, bool):
        return 0.0
    sign = 1.0 if goal.direction == Direction.ABOVE else -1.0
    distance = sign * (start - target)
    if distance <= 0:
        return 1.0 if sign * (latest - target) <= 0 else 0.0
    progress = sign * (start - latest) / distance
    return round(min(1.0, max(0.0, progress)), 4)


class GoalSerializer(StrictModelSerializer):
    type = serializers.CharField(source="goal_type")
    description = serializers.CharField(source="title")
    progress = serializers.SerializerMethodField(help_text="0–1, from the metric's distance to its target.")
    plan = serializers.ListField(child=serializers.CharField(), read_only=True)

    def get_progress(self, goal: Goal) -> float:
        latest = (self.context.get("latest") or {}).get(goal.metric_name) if goal.metric_name else None
        return goal_progress(goal, latest)

    class Meta:
        model = Goal
        fields = [
            "id",
            "type",
            "description",
            "metric_name",
            "priority",
            "status",
            "threshold",
            "target",
            "direction",
            "progress",
            "plan",
            "evidence",
            "created",
            "expires_at",
            "closed_at",
        ]


class GoalDetailSerializer(GoalSerializer):
    actions = GoalActionSerializer(many=True, read_only=True)

    class Meta(GoalSerializer.Meta):
        fields = [*GoalSerializer.Meta.fields, "actions"]


class MetricRuleSerializer(StrictModelSerializer):
    extra_input_fields = WORKSPACE_ID
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.ABOVE)
    goal_type = serializers.ChoiceField(choices=GoalType.choices, default=GoalType.BOTTLENECK_PREVENTION)
    plan = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=10,
        help_text="Action names the rule's goals run in order, one a cycle.",
    )

    class Meta:
        model = MetricRule
        fields = ["id", "metric_name", "warning", "critical", "direction", "goal_type", "plan", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        # Saved by metric name (an upsert), so the per-workspace unique check is not wanted here.
        validators: list = []

    def validate_metric_name(self, value: str) -> str:
        value = value.strip()
        if not is_metric_name(value):
            raise serializers.ValidationError(f"A metric name is {METRIC_NAME_HELP}")
        return value

    def validate_plan(self, value: list[str]) -> list[str]:
        return validate_plan(value)

    def validate(self, attrs: dict) -> dict:
        for field in ("warning", "critical"):
            value = attrs.get(field)
            if value is not None and not math.isfinite(value):
                raise serializers.ValidationError({field: "Must be finite."})
        warning, critical = attrs.get("warning"), attrs["critical"]
        if warning is not None:
            wrong = warning > critical if attrs["direction"] == Direction.ABOVE else warning < critical
            if wrong:
                raise serializers.ValidationError({"warning": "The warning threshold comes before the critical one."})
        return attrs


class AutonomyCycleSerializer(serializers.Serializer):
    """One autonomous cycle (GET /api/autonomous/cycles)."""

    id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(choices=AutonomyCycle.Status.choices, read_only=True)
    trigger = serializers.ChoiceField(choices=AutonomyCycle.Trigger.choices, read_only=True)
    started = serializers.DateTimeField(read_only=True)
    finished = serializers.DateTimeField(read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    goals_created = serializers.IntegerField(read_only=True)
    goals_achieved = serializers.IntegerField(read_only=True)
    goals_expired = serializers.IntegerField(read_only=True)
    actions = serializers.IntegerField(read_only=True, help_text="Actions run (skipped ones not counted).")
    actions_skipped = serializers.IntegerField(read_only=True)
    executor_run = serializers.IntegerField(source="executor_run_id", read_only=True, allow_null=True)
    executor_run_status = serializers.SerializerMethodField()
    error = serializers.CharField(read_only=True)

    def get_executor_run_status(self, cycle: AutonomyCycle) -> str | None:
        return cycle.executor_run.status if cycle.executor_run_id and cycle.executor_run else None


def validate_plan(value: list[str]) -> list[str]:
    from autonomy.actions import RUN_EXECUTOR_AGENT, action_handlers

    known = {*action_handlers(), RUN_EXECUTOR_AGENT}
    unknown = [name for name in value if name not in known]
    if unknown:
        raise serializers.ValidationError(
            f"Unknown action(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        )
    return value


class GoalPlanSerializer(StrictSerializer):
    """PUT /api/autonomous/goals/{id}/plan: the actions the goal runs from now on, in order."""

    plan = serializers.ListField(child=serializers.CharField(max_length=100), max_length=10, allow_empty=True)

    def validate_plan(self, value: list[str]) -> list[str]:
        return validate_plan(value)
