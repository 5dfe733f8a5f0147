"""Pages: the autonomy overview of the personal workspace (mode switch, frequency, channels,
last / next cycle, goals), a goal with its evidence and plan, what the learner has learned
so far, and a metric's history with its forecast band and thresholds as a chart."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from agents.views import pretty_json
from autonomy import channels, services
from autonomy.api import executor_statistics, goal_context_for
from autonomy.charts import metric_chart_data
from autonomy.forms import ModeForm, RuleForm
from autonomy.models import AutonomyCycle, Goal, GoalType, MetricRule, is_metric_name
from autonomy.serializers import goal_progress, mask_webhook
from workspaces.models import personal_workspace_for
from workspaces.scoping import get_object_for_user, user_can_write

# Evidence keys the goal page shows as facts; any other key is listed as it is.
BREACH_KEYS = ("at", "value", "probability", "hours_ahead", "lower", "upper")
EVIDENCE_KEYS = ("latest", "threshold", "direction", "method", "backtest_error", "breach", "pattern")


CYCLES_SHOWN = 20
LOOP_KNOBS = (
    "max_active_goals",
    "max_concurrent_goals",
    "analysis_interval_minutes",
    "pattern_window_hours",
    "enable_learning",
)


def _overview_context(request: HttpRequest, workspace, *, form: ModeForm | None = None, rule_form=None) -> dict:
    config = services.config_for(workspace)
    discord = services.autonomy_channel(workspace, channels.DISCORD)
    ntfy = services.autonomy_channel(workspace, channels.NTFY)
    if form is None:
        url = (discord.config or {}).get("url") if discord and discord.enabled else None
        form = ModeForm(
            workspace=workspace,
            initial={
                "enabled": config.enabled,
                "frequency": config.frequency,
                "executor": config.executor_id,
                "discord_webhook": mask_webhook(url) if url else "",
                "ntfy_topic": (ntfy.config or {}).get("topic", "") if ntfy and ntfy.enabled else "",
                "notify_tool_calls": config.notify_tool_calls,
                **{field: getattr(config, field) for field in LOOP_KNOBS},
            },
        )
    goals = list(Goal.objects.filter(workspace=workspace).select_related("workspace").prefetch_related("actions")[:50])
    latest = goal_context_for(goals)["latest"]
    for goal in goals:
        goal.progress = goal_progress(goal, latest.get(goal.metric_name)) if goal.metric_name else None
    return {
        "config": config,
        "form": form,
        "rule_form": rule_form or RuleForm(),
        "discord": discord,
        "ntfy": ntfy,
        "goals": goals,
        "cycles": AutonomyCycle.objects.filter(workspace=workspace).select_related("executor_run")[:CYCLES_SHOWN],
        "rules": MetricRule.objects.filter(workspace=workspace),
        "metrics": [(name, metric_url(name)) for name in services.metric_names(workspace)],
        "can_write": user_can_write(request.user, workspace.pk),
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    workspace = personal_workspace_for(request.user)
    return render(request, "autonomy/overview.html", _overview_context(request, workspace))


def _writable_workspace(request: HttpRequest):
    workspace = personal_workspace_for(request.user)
    if not user_can_write(request.user, workspace.pk):
        raise PermissionDenied("Read-only access.")
    return workspace


@login_required
@require_POST
def mode(request: HttpRequest) -> HttpResponse:
    workspace = _writable_workspace(request)
    form = ModeForm(request.POST, workspace=workspace)
    if not form.is_valid():
        context = _overview_context(request, workspace, form=form)
        return render(request, "autonomy/overview.html", context, status=400)
    data = form.cleaned_data
    config = services.config_update(
        workspace=workspace,
        enabled=data["enabled"],
        frequency=data["frequency"],
        channels=form.channel_configs(),
        executor=data["executor"],
        set_executor=True,
        options={field: data[field] for field in ("notify_tool_calls", *LOOP_KNOBS) if data[field] is not None},
        start_now=data["start_now"],
    )
    if config.enabled and data["start_now"]:
        messages.success(request, "Autonomous mode saved; the first cycle starts now.")
    else:
        messages.success(request, "Autonomous mode saved.")
    return redirect("autonomy:overview")


@login_required
@require_POST
def execute(request: HttpRequest) -> HttpResponse:
    workspace = _writable_workspace(request)
    if services.execute_request(workspace=workspace):
        messages.success(request, "A cycle has started; it appears under Cycles when it is done.")
    else:
        messages.error(request, "A cycle was started less than a minute ago; try again later.")
    return redirect("autonomy:overview")


@login_required
@require_POST
def test_channel(request: HttpRequest) -> HttpResponse:
    """Send a test message to the stored autonomy channel of the kind."""
    workspace = _writable_workspace(request)
    kind = request.POST.get("kind", "")
    channel = services.autonomy_channel(workspace, kind, enabled=True) if kind in channels.NAMES else None
    if channel is None:
        messages.error(request, "Save a Discord webhook or an ntfy topic first.")
        return redirect("autonomy:overview")
    reason = channels.test_send(kind, channel.config, sender=request.user.get_username())
    if reason:
        messages.error(request, f"The test message to {channel.name} failed: {reason}")
    else:
        messages.success(request, f"Test message sent to {channel.name}.")
    return redirect("autonomy:overview")


@login_required
@require_POST
def rule(request: HttpRequest) -> HttpResponse:
    workspace = _writable_workspace(request)
    form = RuleForm(request.POST)
    if not form.is_valid():
        context = _overview_context(request, workspace, rule_form=form)
        return render(request, "autonomy/overview.html", context, status=400)
    data = dict(form.cleaned_data)
    rule = services.rule_save(workspace=workspace, **data)
    messages.success(request, f"Rule for {rule.metric_name} saved.")
    return redirect("autonomy:overview")


def metric_url(name: str) -> str:
    """The metric page of ``name``: ``/autonomy/metrics/<name>/`` for a name of the documented
    characters (not only dots), else ``/autonomy/metrics/?name=…``, which any name survives."""
    if is_metric_name(name) and name.strip("."):
        return reverse("autonomy:metric", args=[name])
    return f"{reverse('autonomy:metric_by_query')}?{urlencode({'name': name})}"


@login_required
def metric(request: HttpRequest, name: str | None = None) -> HttpResponse:
    workspace = personal_workspace_for(request.user)
    if name is None:
        name = request.GET.get("name", "")
    if not name or name not in services.metric_names(workspace):
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
            "plan_done": sum(1 for a in goal.actions.all() if a.plan_step is not None and a.status != "skipped"),
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
            "metric_link": metric_url(goal.metric_name)
            if goal.metric_name
            and goal.workspace_id == personal.pk
            and goal.metric_name in services.metric_names(personal)
            else "",
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
