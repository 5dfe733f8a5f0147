"""Metric probe: an aggregate of a metric recorded by the autonomy app over a time window.

Config: ``{"name": "orders_per_hour", "aggregate": "avg", "window_seconds": 3600}``.
Values: ``value`` (the aggregate, null when the window holds no point), ``count`` (points
in the window) and ``latest_at`` (ISO time of the newest point, or null).  An empty series
is a measurement, not an error, so ``count > 0 and value < 10`` reads naturally.

The points are read through :func:`read_series`, the one place that knows the autonomy
app's ``MetricPoint`` model; while that app is not installed the series is empty.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.apps import apps
from django.utils import timezone
from rest_framework import serializers

from proactive.probes.base import Probe, ProbeContext, ProbeResult

__all__ = ["AGGREGATES", "MetricProbe", "aggregate", "read_series"]

AGGREGATES = ("latest", "avg", "min", "max", "sum", "count")
MAX_WINDOW_SECONDS = 366 * 24 * 3600
MAX_POINTS = 100_000
# Timestamp field of MetricPoint, first that exists (the autonomy app defines the model).
_TIME_FIELDS = ("recorded_at", "timestamp", "at", "created")


def read_series(workspace_id: int, name: str, since: datetime) -> list[tuple[datetime, float]]:
    """``(time, value)`` points of metric ``name`` in the workspace since ``since``, oldest first.

    ``[]`` when the autonomy app (``autonomy.MetricPoint``) is not installed.
    """
    try:
        model = apps.get_model("autonomy", "MetricPoint")
    except LookupError:
        return []
    field_names = {field.name for field in model._meta.get_fields()}
    time_field = next((name for name in _TIME_FIELDS if name in field_names), None)
    if time_field is None:
        return []
    rows = (
        model._default_manager.filter(workspace_id=workspace_id, name=name, **{f"{time_field}__gte": since})
        .order_by(f"-{time_field}")
        .values_list(time_field, "value")[:MAX_POINTS]
    )
    return [(at, float(value)) for at, value in reversed(list(rows)) if value is not None]


def aggregate(kind: str, values: list[float]) -> float | int | None:
    """The ``kind`` aggregate of ``values`` (oldest first); ``count`` is 0 and the rest null when empty."""
    if kind == "count":
        return len(values)
    if not values:
        return None
    if kind == "latest":
        return values[-1]
    if kind == "avg":
        return sum(values) / len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    if kind == "sum":
        return sum(values)
    raise ValueError(f"unknown aggregate {kind!r}")


class MetricProbe(Probe):
    kind: ClassVar[str] = "metric"
    label: ClassVar[str] = "Recorded metric"
    names: ClassVar[tuple[str, ...]] = ("value", "count", "latest_at")

    class ConfigSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, help_text="Metric name, as recorded.")
        aggregate = serializers.ChoiceField(choices=AGGREGATES, default="latest", help_text=", ".join(AGGREGATES))
        window_seconds = serializers.IntegerField(
            default=3600, min_value=1, max_value=MAX_WINDOW_SECONDS, help_text="How far back to look."
        )

    def check(self, *, context: ProbeContext) -> ProbeResult:
        config = self.config
        now = context.now or timezone.now()
        since = now - timedelta(seconds=config["window_seconds"])
        points = [(at, value) for at, value in read_series(context.workspace_id, config["name"], since) if at <= now]
        value = aggregate(config["aggregate"], [value for _at, value in points])
        latest_at = points[-1][0].isoformat() if points else None
        values: dict[str, Any] = {"value": value, "count": len(points), "latest_at": latest_at}
        window = _window_text(config["window_seconds"])
        if not points:
            summary = f"{config['name']}: no points in the last {window}"
        else:
            summary = f"{config['name']} {config['aggregate']}={value:g} over {len(points)} point(s) in {window}"
        return ProbeResult(values=values, summary=summary)


def _window_text(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
