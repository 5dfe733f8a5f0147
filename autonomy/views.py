"""Pages: the autonomy overview of the personal workspace (mode switch, frequency, channels,
last / next cycle, goals), a goal with its evidence and plan, what the learner has learned
so far, and a metric's history with its forecast band and thresholds as a chart."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from agents.views import pretty_json
from autonomy import channels, services
from autonomy.api import executor_statistics
from autonomy.charts import metric_chart_data
from autonomy.models import Frequency, Goal, GoalType, MetricRule
from workspaces.models import personal_workspace_for
from workspaces.scoping import get_object_for_user, user_can_write

# Evidence keys the goal page shows as facts; any other key is listed as it is.
BREACH_KEYS = ("at", "value", "probability", "hours_ahead", "lower", "upper")
EVIDENCE_KEYS = ("latest", "threshold", "direction", "method", "backtest_error", "breach", "pattern")


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
            "discord": services.autonomy_channel(workspace, channels.DISCORD),
            "ntfy": services.autonomy_channel(workspace, channels.NTFY),
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
    rule = MetricRule.objects.filter(workspace=workspace, metric_name=name).first()
    return render(
        request,
        "autonomy/metric.html",
        {
            "name": name,
            "latest": f"{series.values[-1]:.6g}" if len(series) else None,
            "points": len(series),
            "forecast": best,
            "rule": rule,
            "chart": metric_chart_data(series, best, rule),
        },
    )


@login_required
def goal(request: HttpRequest, pk: int) -> HttpResponse:
    goal = get_object_for_user(
        Goal.objects.select_related("workspace").prefetch_related("actions__run"), request.user, pk=pk
    )
    evidence = goal.evidence if isinstance(goal.evidence, dict) else {}
    breach = evidence.get("breach") if isinstance(evidence.get("breach"), dict) else None
    pattern = evidence.get("pattern") if isinstance(evidence.get("pattern"), dict) else None
    # The metric page reads the personal workspace, so only its goals link there.
    personal = personal_workspace_for(request.user)
    return render(
        request,
        "autonomy/goal.html",
        {
            "goal": goal,
            "actions": list(goal.actions.all()),
            "evidence": evidence,
            "breach": breach,
            "breach_at": parse_datetime(breach["at"]) if breach and isinstance(breach.get("at"), str) else None,
            "breach_other": {k: v for k, v in breach.items() if k not in BREACH_KEYS} if breach else {},
            "pattern": pattern,
            "pattern_weekday": _weekday(pattern.get("weekday")) if pattern else None,
            "evidence_other": {
                k: v if isinstance(v, str | int | float | bool) or v is None else pretty_json(v)
                for k, v in evidence.items()
                if k not in EVIDENCE_KEYS
            },
            "evidence_json": pretty_json(goal.evidence),
            "metric_link": bool(goal.metric_name)
            and goal.workspace_id == personal.pk
            and goal.metric_name in services.metric_names(personal),
        },
    )


def _weekday(value) -> str | None:
    return services.WEEKDAYS[value] if isinstance(value, int) and 0 <= value < len(services.WEEKDAYS) else None


@login_required
def insights(request: HttpRequest) -> HttpResponse:
    workspace = personal_workspace_for(request.user)
    learner = services.learner_for(workspace)
    learned = learner.insights()
    goal_types = dict(GoalType.choices)
    best = learned["best_actions"]
    by_goal_type = [
        {
            "goal_type": goal_types.get(goal_type, goal_type),
            "rows": [
                {"stats": stats, "best": best.get(goal_type) == stats.action}
                for stats in sorted(learner.stats(goal_type), key=lambda s: s.action)
            ],
        }
        for goal_type in learned["by_goal_type"]
    ]
    return render(
        request,
        "autonomy/insights.html",
        {
            "insights": learned,
            "actions": [{"action": action, **row} for action, row in learned["action_success_rates"].items()],
            "by_goal_type": by_goal_type,
            "executor": executor_statistics(workspace)["totals"],
        },
    )
