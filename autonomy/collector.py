"""The built-in collector: host load, memory and disk, plus the workspace's queue depth and
run failure rate, recorded as metric points at each cycle so a fresh install has real data.

Readings that the platform cannot give (no /proc/meminfo, no load average) are left out.
Turn it off with GRADENT_AUTONOMY_HOST_METRICS = False.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

from django.conf import settings

from agents.models import Run, RunStatus
from autonomy.models import MetricPoint
from workspaces.models import Workspace

FAILED_STATUSES = (RunStatus.FAILED, RunStatus.TIMED_OUT)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, *FAILED_STATUSES)


def enabled() -> bool:
    return bool(getattr(settings, "GRADENT_AUTONOMY_HOST_METRICS", True))


def cpu_load_percent() -> float | None:
    """One-minute load average per CPU, as a percentage."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return 100.0 * load / (os.cpu_count() or 1)


def memory_used_percent(path: str = "/proc/meminfo") -> float | None:
    try:
        with open(path, encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        total = float(fields["MemTotal"].split()[0])
        available = float(fields["MemAvailable"].split()[0])
    except (OSError, KeyError, ValueError, IndexError):
        return None
    return 100.0 * (total - available) / total if total else None


def disk_used_percent(path: str | None = None) -> float | None:
    try:
        usage = shutil.disk_usage(path or str(settings.BASE_DIR))
    except OSError:
        return None
    return 100.0 * usage.used / usage.total if usage.total else None


def run_readings(workspace: Workspace, *, now: datetime) -> dict[str, float]:
    runs = Run.objects.filter(workspace=workspace)
    recent = runs.filter(finished_at__gte=now - timedelta(hours=1), status__in=FINISHED_STATUSES)
    finished = recent.count()
    failed = recent.filter(status__in=FAILED_STATUSES).count()
    readings = {"queue_depth": float(runs.filter(status=RunStatus.QUEUED).count())}
    if finished:
        readings["run_failure_rate"] = 100.0 * failed / finished
    return readings


def collect(workspace: Workspace, *, now: datetime) -> dict[str, float]:
    """Record this cycle's readings; returns them by metric name."""
    readings: dict[str, float | None] = {
        "host_cpu_load_percent": cpu_load_percent(),
        "host_memory_used_percent": memory_used_percent(),
        "host_disk_used_percent": disk_used_percent(),
        **run_readings(workspace, now=now),
    }
    found = {name: round(value, 3) for name, value in readings.items() if value is not None}
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(workspace=workspace, name=name, value=value, at=now, labels={"source": "collector"})
            for name, value in found.items()
        ]
    )
    return found
