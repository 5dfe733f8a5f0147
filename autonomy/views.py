"""Pages: the autonomy overview of the personal workspace (mode switch, frequency, channels,
last / next cycle, goals) and a metric's history with its forecast band as SVG."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from autonomy import services
from autonomy.charts import metric_chart
from autonomy.models import Frequency, Goal
from notifications.models import ChannelKind
from workspaces.models import personal_workspace_for
from workspaces.scoping import user_can_write


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    workspace = personal_workspace_for(request.user)
    config = services.config_for(workspace)
    return render(
        request,
        "autonomy/overview.html",
        {
            "config": config,
            "frequencies": Frequency.choices,
            "discord": services.autonomy_channel(workspace, ChannelKind.DISCORD),
            "ntfy": services.autonomy_channel(workspace, ChannelKind.NTFY),
            "goals": Goal.objects.filter(workspace=workspace).prefetch_related("actions")[:50],
            "metrics": services.metric_names(workspace),
            "can_write": user_can_write(request.user, workspace.pk),
        },
    )


@login_required
@require_POST
def mode(request: HttpRequest) -> HttpResponse:
    workspace = personal_workspace_for(request.user)
    frequency = request.POST.get("frequency", "")
    if frequency not in Frequency.values:
        messages.error(request, "Choose one of the frequencies.")
        return redirect("autonomy:overview")
    services.config_update(workspace=workspace, enabled=request.POST.get("enabled") == "on", frequency=frequency)
    messages.success(request, "Autonomous mode saved.")
    return redirect("autonomy:overview")


@login_required
def metric(request: HttpRequest, name: str) -> HttpResponse:
    workspace = personal_workspace_for(request.user)
    if name not in services.metric_names(workspace):
        raise Http404("No such metric.")
    now = timezone.now()
    series = services.metric_series(workspace, name, now=now)
    best = services.metric_forecast(series)
    return render(
        request,
        "autonomy/metric.html",
        {
            "name": name,
            "latest": series.values[-1] if len(series) else None,
            "points": len(series),
            "forecast": best,
            "chart": metric_chart(series, best),
        },
    )
