"""Agent tools: record a metric point or an event in the agent's workspace, for the
goal-driven loop to forecast and recognise patterns in."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.tools.base import Tool, ToolContext
from autonomy.models import METRIC_NAME_PATTERN


class RecordMetricTool(Tool):
    name = "record_metric"
    description = "Record a metric value (e.g. cpu_usage 75.5) for autonomous forecasting and goals."

    class InputSerializer(serializers.Serializer):
        metric_name = serializers.RegexField(rf"^{METRIC_NAME_PATTERN}$", help_text="e.g. cpu_usage")
        value = serializers.FloatField(help_text="The measured value")
        labels = serializers.DictField(required=False, help_text="Optional labels, e.g. {host: a}")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        from autonomy.models import MetricPoint

        point = MetricPoint.objects.create(
            workspace_id=ctx.agent.workspace_id,
            name=args["metric_name"],
            value=args["value"],
            labels={**(args.get("labels") or {}), "run": ctx.run.pk},
        )
        return {"recorded": point.name, "value": point.value, "at": point.at.isoformat()}


class RecordEventTool(Tool):
    name = "record_event"
    description = "Record a named event (e.g. deploy) for autonomous pattern recognition."

    class InputSerializer(serializers.Serializer):
        event_type = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,100}$", help_text="e.g. deploy")
        metadata = serializers.DictField(required=False, help_text="Data about the event")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        from autonomy.models import Event

        event = Event.objects.create(
            workspace_id=ctx.agent.workspace_id,
            event_type=args["event_type"],
            metadata=args.get("metadata") or {},
            run=ctx.run,
        )
        return {"recorded": event.event_type, "at": event.at.isoformat()}
