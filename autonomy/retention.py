"""Keep the metric and event tables bounded.

Raw points are kept for GRADENT_AUTONOMY_RAW_DAYS; older ones are replaced by one point per
metric per hour (their mean), which is all the hourly forecasts need; everything older than
GRADENT_AUTONOMY_RETENTION_DAYS goes, events and the cycles' history included. Run at the
end of every cycle.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from autonomy.models import AutonomyCycle, Event, MetricPoint
from workspaces.models import Workspace

BATCH = 5000


def apply_retention(workspace: Workspace, *, now: datetime) -> dict[str, int]:
    retention = now - timedelta(days=settings.GRADENT_AUTONOMY_RETENTION_DAYS)
    raw_until = now - timedelta(days=settings.GRADENT_AUTONOMY_RAW_DAYS)
    deleted_points, _ = MetricPoint.objects.filter(workspace=workspace, at__lt=retention).delete()
    deleted_events, _ = Event.objects.filter(workspace=workspace, at__lt=retention).delete()
    deleted_cycles, _ = AutonomyCycle.objects.filter(workspace=workspace, started__lt=retention).delete()
    return {
        "deleted_points": deleted_points,
        "deleted_events": deleted_events,
        "deleted_cycles": deleted_cycles,
        "downsampled": _downsample(workspace, start=retention, end=raw_until),
    }


def _downsample(workspace: Workspace, *, start: datetime, end: datetime) -> int:
    """Replace the points of each metric-hour in [start, end) that has more than one point
    by their mean; bounded to BATCH points per call (the next cycle does the rest)."""
    rows = list(
        MetricPoint.objects.filter(workspace=workspace, at__gte=start, at__lt=end)
        .order_by("name", "at", "id")
        .values_list("id", "name", "value", "at")[:BATCH]
    )
    buckets: dict[tuple[str, datetime], list[tuple[int, float]]] = defaultdict(list)
    for point_id, name, value, at in rows:
        buckets[(name, at.replace(minute=0, second=0, microsecond=0))].append((point_id, value))
    if len(rows) == BATCH:
        # The last bucket may continue past the batch: leave it whole for the next cycle.
        buckets.pop((rows[-1][1], rows[-1][3].replace(minute=0, second=0, microsecond=0)), None)
    merged = 0
    with transaction.atomic():
        for (name, hour), points in buckets.items():
            if len(points) < 2:
                continue
            MetricPoint.objects.filter(pk__in=[point_id for point_id, _ in points]).delete()
            mean = sum(value for _, value in points) / len(points)
            MetricPoint.objects.create(
                workspace=workspace, name=name, value=mean, at=hour, labels={"downsampled": len(points)}
            )
            merged += len(points) - 1
    return merged
