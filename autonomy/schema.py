"""The shapes of the /api/autonomous/… answers, for the OpenAPI schema (issue 12.8).

The views build their answers as dicts (the originals' shapes); these serializers only
describe them. Answers may carry more keys than listed here (the schema leaves
additionalProperties open), so a new key is not a schema break."""

from __future__ import annotations

from rest_framework import serializers

from autonomy.models import Frequency
from autonomy.serializers import GoalSerializer, MetricRuleSerializer


class OkSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["error"])
    message = serializers.CharField(required=False)
    detail = serializers.CharField(required=False)


class ConfigSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    discord_webhook = serializers.CharField(allow_null=True, help_text="Masked: the token is never shown.")
    ntfy_topic = serializers.CharField(allow_null=True)
    executor_agent_id = serializers.IntegerField(allow_null=True)
    last_execution = serializers.DateTimeField(allow_null=True)
    next_execution = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    workspace_id = serializers.IntegerField()


class RecordedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    recorded = serializers.IntegerField(help_text="How many points were stored.")


class EventRecordedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    id = serializers.IntegerField()


class StatisticsSerializer(serializers.Serializer):
    goals_created = serializers.IntegerField()
    goals_active = serializers.IntegerField()
    goals_achieved = serializers.IntegerField()
    goals_failed = serializers.IntegerField()
    goals_expired = serializers.IntegerField()
    actions_executed = serializers.IntegerField()
    actions_succeeded = serializers.IntegerField()
    actions_failed = serializers.IntegerField()
    actions_pending = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)


class StatusSerializer(serializers.Serializer):
    running = serializers.BooleanField()
    autonomous_mode = serializers.BooleanField()
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    active_goals = serializers.IntegerField()
    last_execution = serializers.DateTimeField(allow_null=True)
    next_execution = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    metrics = serializers.IntegerField(help_text="How many metric names have points.")
    statistics = StatisticsSerializer()


class GoalsSerializer(serializers.Serializer):
    total_active_goals = serializers.IntegerField()
    goals = GoalSerializer(many=True)


class ExecutorTotalsSerializer(serializers.Serializer):
    actions_executed = serializers.IntegerField()
    actions_succeeded = serializers.IntegerField()
    actions_failed = serializers.IntegerField()
    actions_pending = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)


class ExecutorStatisticsSerializer(serializers.Serializer):
    totals = ExecutorTotalsSerializer()
    by_action = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()), help_text="{executed, succeeded, failed}"
    )
    by_strategy = serializers.DictField(child=serializers.IntegerField())


class InsightsSerializer(serializers.Serializer):
    action_success_rates = serializers.DictField(child=serializers.DictField())
    by_goal_type = serializers.DictField(child=serializers.DictField())
    best_actions = serializers.DictField()
    common_failures = serializers.ListField(child=serializers.DictField())
    failing_actions = serializers.ListField(child=serializers.DictField())
    best_hours = serializers.ListField(child=serializers.DictField())
    totals = serializers.DictField()


class ForecastPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    value = serializers.FloatField()
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True)


class ForecastSerializer(serializers.Serializer):
    method = serializers.CharField()
    backtest_error = serializers.FloatField(allow_null=True)
    error_metric = serializers.CharField()
    points = ForecastPointSerializer(many=True)


class PredictionSerializer(serializers.Serializer):
    latest = serializers.FloatField()
    points = serializers.IntegerField()
    forecast = ForecastSerializer()
    breach = serializers.DictField(allow_null=True, help_text="{at, value, probability, lower, upper} or null.")


class PredictionsSerializer(serializers.Serializer):
    horizon_hours = serializers.IntegerField(min_value=1)
    generated = serializers.DateTimeField()
    predictions = serializers.DictField(child=PredictionSerializer(), help_text="Per metric name.")


class AnalysisSerializer(OkSerializer):
    goals_created = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the goals opened.")
    goals_achieved = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the goals closed.")
    goals_expired = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the goals expired.")


class ModeAnswerSerializer(OkSerializer):
    autonomous = serializers.BooleanField()


class ReportSerializer(serializers.Serializer):
    agent_status = StatusSerializer()
    goals = GoalsSerializer()
    executor = ExecutorStatisticsSerializer()
    insights = InsightsSerializer()
    events_last_24h = serializers.IntegerField()
    metric_points_last_24h = serializers.IntegerField()


class RulesSerializer(serializers.Serializer):
    rules = MetricRuleSerializer(many=True)


class MetricPointSerializer(serializers.Serializer):
    metric_name = serializers.CharField(min_length=1, max_length=100)
    value = serializers.FloatField()
    timestamp = serializers.DateTimeField(required=False, help_text="ISO 8601, or epoch seconds.")
    labels = serializers.DictField(required=False, help_text="At most 50 labels.")


class MetricBatchSerializer(serializers.Serializer):
    metrics = MetricPointSerializer(many=True, min_length=1, max_length=10_000)
