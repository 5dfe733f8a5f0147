"""The dashboard overview: what ran, what is failing, and whether the machinery is alive."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from agents.charts import TIMELINE_RUNS, run_timeline_data
from agents.models import Agent, Run, RunStatus
from gradent.health import health_report
from proactive.views import upcoming_fires
from workspaces.scoping import scope_queryset

RECENT_RUNS = 15
HEALTH_PARTS = [
    ("database", "Database"),
    ("broker", "Broker"),
    ("cluster", "Workers"),
    ("dispatcher", "Dispatcher"),
]


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    runs = scope_queryset(Run.objects.select_related("agent"), request.user)
    since = timezone.now() - timedelta(hours=24)
    counted = {
        row["status"]: row["n"]
        for row in runs.filter(created__gte=since).order_by().values("status").annotate(n=Count("id"))
    }
    status_counts = [
        {"status": value, "label": label, "count": counted.get(value, 0)} for value, label in RunStatus.choices
    ]
    attention = (
        scope_queryset(Agent.objects.select_related("workspace"), request.user)
        .filter(Q(state=Agent.State.PAUSED) | Q(consecutive_failures__gt=0) | Q(enabled=False))
        .order_by("-consecutive_failures", "name")
    )
    report = health_report()
    health = [
        {"key": key, "label": label, **report.get(key, {"ok": False, "detail": "unknown"})}
        for key, label in HEALTH_PARTS
    ]
    return render(
        request,
        "dashboard/overview.html",
        {
            "recent_runs": runs[:RECENT_RUNS],
            "timeline": run_timeline_data(runs[:TIMELINE_RUNS]),
            "status_counts": status_counts,
            "runs_24h": sum(counted.values()),
            "attention_agents": attention,
            "health": health,
            "health_ok": report.get("ok", False),
            "upcoming_fires": upcoming_fires(request.user),
        },
    )
