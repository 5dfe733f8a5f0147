"""/api/autonomous/…: the paths and shapes of the original autonomous-mode and goal-driven
designs, as plain API views over the caller's workspace (`workspace_id`, or their personal
workspace)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent
from autonomy import channels, schema, services
from autonomy.models import AutonomousConfig, AutonomyCycle, Event, Goal, GoalAction, MetricPoint, MetricRule
from autonomy.serializers import (
    AutonomyCycleSerializer,
    ConfigInputSerializer,
    EventSerializer,
    GoalDetailSerializer,
    GoalPlanSerializer,
    GoalSerializer,
    MetricRuleSerializer,
    ModeSerializer,
    TestWebhookSerializer,
    mask_webhook,
    validate_metric_points,
)
from gradent.api import StrictLimitOffsetPagination, int_param, whole_number
from workspaces.models import Workspace, personal_workspace_for
from workspaces.scoping import resolve_workspace_for_create, user_can_write

MAX_HORIZON_HOURS = 720


def _ok(message: str, **extra) -> Response:
    return Response({"status": "ok", "message": message, **extra})


class AutonomyView(APIView):
    """Resolves the workspace: reads any of the caller's, writes only where they may write."""

    def workspace(self, *, write: bool = False) -> Workspace:
        raw = self.request.query_params.get("workspace_id")
        if raw is None and isinstance(self.request.data, dict):
            raw = self.request.data.get("workspace_id")
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        workspace_id = whole_number(raw, "workspace_id", minimum=1, message="A workspace id is expected.")
        if write:
            return resolve_workspace_for_create(self.request.user, workspace_id)
        if workspace_id is None:
            return personal_workspace_for(self.request.user)
        workspace = Workspace.objects.for_user(self.request.user).filter(pk=workspace_id).first()
        if workspace is None:
            raise serializers.ValidationError({"workspace_id": "No such workspace among yours."})
        return workspace


def config_data(config: AutonomousConfig) -> dict:
    discord = services.autonomy_channel(config.workspace, channels.DISCORD, enabled=True)
    ntfy = services.autonomy_channel(config.workspace, channels.NTFY, enabled=True)
    discord_url = discord.config.get("url") if discord else None
    return {
        "enabled": config.enabled,
        "frequency": config.frequency,
        "discord_webhook": mask_webhook(discord_url) if discord_url else None,
        "ntfy_topic": (ntfy.config or {}).get("topic") if ntfy else None,
        "executor_agent_id": config.executor_id,
        "notify_tool_calls": config.notify_tool_calls,
        "max_active_goals": config.max_active_goals,
        "max_concurrent_goals": config.max_concurrent_goals,
        "enable_learning": config.enable_learning,
        "analysis_interval_minutes": config.analysis_interval_minutes,
        "pattern_window_hours": config.pattern_window_hours,
        "last_execution": config.last_execution.isoformat() if config.last_execution else None,
        "next_execution": config.next_execution.isoformat() if config.next_execution else None,
        "last_error": config.last_error,
        "workspace_id": config.workspace_id,
    }


class ConfigView(AutonomyView):
    @extend_schema(responses={200: schema.ConfigSerializer})
    def get(self, request):
        """Autonomous mode of the workspace. The Discord webhook's token is never shown."""
        return Response(config_data(services.config_for(self.workspace())))

    @extend_schema(request=ConfigInputSerializer, responses={200: schema.OkSerializer})
    def put(self, request):
        workspace = self.workspace(write=True)
        body = ConfigInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        channel_configs: dict[str, dict | None] = {}
        kinds = (("discord_webhook", channels.DISCORD, "url"), ("ntfy_topic", channels.NTFY, "topic"))
        for field, kind, key in kinds:
            if data.get(field) is not None:
                channel_configs[kind] = {key: data[field]} if data[field] else None
        executor, set_executor = None, "executor_agent_id" in data
        if data.get("executor_agent_id"):
            executor = Agent.objects.filter(workspace=workspace, pk=data["executor_agent_id"]).first()
            if executor is None:
                raise serializers.ValidationError({"executor_agent_id": "No such agent in this workspace."})
        services.config_update(
            workspace=workspace,
            enabled=data["enabled"],
            frequency=data["frequency"],
            channels=channel_configs,
            executor=executor,
            set_executor=set_executor,
            options={field: data[field] for field in services.CONFIG_OPTIONS if field in data},
            start_now=data.get("start_now", False),
        )
        return _ok("Configuration updated")


class ExecuteView(AutonomyView):
    @extend_schema(request=None, responses={200: schema.OkSerializer, 429: schema.ErrorSerializer})
    def post(self, request):
        """Start a cycle now, at most once a minute per workspace."""
        if not services.execute_request(workspace=self.workspace(write=True)):
            return Response(
                {"status": "error", "message": "A cycle was started less than a minute ago; try again later."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "60"},
            )
        return _ok("Execution started")


class TestWebhookView(AutonomyView):
    @extend_schema(request=TestWebhookSerializer, responses={200: schema.OkSerializer})
    def post(self, request):
        """Send a test message to a Discord webhook through the notifications transport."""
        self.workspace(write=True)
        body = TestWebhookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        url = body.validated_data["webhook_url"]
        reason = channels.test_send(channels.DISCORD, {"url": url}, sender=request.user.get_username())
        if reason:
            return Response(
                {"status": "error", "detail": f"Failed to send notification: {reason}"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return _ok("Test notification sent")


class MetricsView(AutonomyView):
    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="MetricsInput",
            serializers=[schema.MetricPointSerializer, schema.MetricBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={201: schema.RecordedSerializer},
    )
    def post(self, request):
        """One point ({metric_name, value}) or a batch ({metrics: [...]}, at most 10,000,
        all stored or none)."""
        workspace = self.workspace(write=True)
        points = validate_metric_points(request.data)
        services.metrics_record(workspace=workspace, points=points)
        return Response({"status": "ok", "recorded": len(points)}, status=status.HTTP_201_CREATED)


class EventsView(AutonomyView):
    @extend_schema(request=EventSerializer, responses={201: schema.EventRecordedSerializer})
    def post(self, request):
        workspace = self.workspace(write=True)
        body = EventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = services.event_record(workspace=workspace, **body.validated_data)
        return Response({"status": "ok", "id": event.pk}, status=status.HTTP_201_CREATED)


def statistics(workspace: Workspace) -> dict:
    goals = Goal.objects.filter(workspace=workspace).aggregate(
        goals_created=Count("id"),
        goals_active=Count("id", filter=Q(status=Goal.Status.ACTIVE)),
        goals_achieved=Count("id", filter=Q(status=Goal.Status.ACHIEVED)),
        goals_failed=Count("id", filter=Q(status=Goal.Status.FAILED)),
        goals_expired=Count("id", filter=Q(status=Goal.Status.EXPIRED)),
    )
    return {**goals, **executor_statistics(workspace)["totals"]}


def executor_statistics(workspace: Workspace) -> dict:
    actions = GoalAction.objects.filter(goal__workspace=workspace)
    skipped = Q(status=GoalAction.Status.SKIPPED)
    totals = actions.aggregate(
        actions_executed=Count("id", filter=~skipped),
        actions_skipped=Count("id", filter=skipped),
        actions_succeeded=Count("id", filter=Q(status=GoalAction.Status.SUCCEEDED)),
        actions_failed=Count("id", filter=Q(status=GoalAction.Status.FAILED)),
        actions_pending=Count("id", filter=Q(status=GoalAction.Status.RUNNING)),
    )
    measured = totals["actions_succeeded"] + totals["actions_failed"]
    totals["success_rate"] = totals["actions_succeeded"] / measured if measured else None
    by_action = {
        row["action"]: {k: v for k, v in row.items() if k != "action"}
        for row in actions.values("action").annotate(
            executed=Count("id", filter=~skipped),
            skipped=Count("id", filter=skipped),
            succeeded=Count("id", filter=Q(status=GoalAction.Status.SUCCEEDED)),
            failed=Count("id", filter=Q(status=GoalAction.Status.FAILED)),
        )
    }
    by_strategy = {row["strategy"]: row["n"] for row in actions.values("strategy").annotate(n=Count("id"))}
    return {"totals": totals, "by_action": by_action, "by_strategy": by_strategy}


def status_data(workspace: Workspace) -> dict:
    config = services.config_for(workspace)
    stats = statistics(workspace)
    since = (config.enabled_since or config.updated) if config.enabled else None
    return {
        "running": config.enabled,
        "autonomous_mode": config.enabled,
        "uptime_seconds": max(0.0, (timezone.now() - since).total_seconds()) if since else 0.0,
        "frequency": config.frequency,
        "active_goals": stats["goals_active"],
        "last_execution": config.last_execution.isoformat() if config.last_execution else None,
        "next_execution": config.next_execution.isoformat() if config.next_execution else None,
        "last_error": config.last_error,
        "metrics": len(services.metric_names(workspace)),
        "statistics": stats,
    }


def goals_overview(workspace: Workspace, request) -> dict:
    active = list(Goal.objects.active().filter(workspace=workspace))
    return {
        "total_active_goals": len(active),
        "goals": GoalSerializer(active, many=True, context=goal_context_for(active)).data,
    }


def goal_context_for(goals) -> dict:
    """The serializer context for goals' progress: each metric's latest value, one query a metric."""
    latest = {}
    for goal in goals:
        if goal.metric_name and goal.metric_name not in latest:
            latest[goal.metric_name] = services.latest_value(goal.workspace, goal.metric_name)
    return {"latest": latest}


class StatusView(AutonomyView):
    @extend_schema(responses={200: schema.StatusSerializer})
    def get(self, request):
        return Response(status_data(self.workspace()))


class GoalsView(AutonomyView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[*Goal.Status.values, "all"], description="active (default), or all.")
        ],
        responses={200: schema.GoalsSerializer},
    )
    def get(self, request):
        workspace = self.workspace()
        wanted = request.query_params.get("status", Goal.Status.ACTIVE)
        if wanted != "all" and wanted not in Goal.Status.values:
            raise serializers.ValidationError({"status": f"One of {', '.join(Goal.Status.values)} or all."})
        goals = Goal.objects.filter(workspace=workspace).select_related("workspace")
        if wanted != "all":
            goals = goals.filter(status=wanted)
        goals = list(goals[:500])
        return Response(
            {
                "total_active_goals": Goal.objects.active().filter(workspace=workspace).count(),
                "goals": GoalSerializer(goals, many=True, context=goal_context_for(goals)).data,
            }
        )


class GoalDetailView(AutonomyView):
    @extend_schema(operation_id="autonomous_goal_retrieve", responses={200: GoalDetailSerializer})
    def get(self, request, goal_id: int):
        goal = get_object_or_404(
            Goal.objects.filter(workspace__memberships__user=request.user).prefetch_related("actions"), pk=goal_id
        )
        return Response(GoalDetailSerializer(goal, context=goal_context_for([goal])).data)


STATE_ORDER = ("normal", "warning", "critical")


def metric_state(latest: float, rule, hit) -> str:
    """critical: past the critical threshold now; warning: past the warning threshold, or
    forecast to cross the critical one within the horizon; normal otherwise (or no rule)."""
    if rule is None:
        return "normal"
    if services._past(latest, rule.critical, rule.direction):
        return "critical"
    if hit is not None or (rule.warning is not None and services._past(latest, rule.warning, rule.direction)):
        return "warning"
    return "normal"


def predictions_data(workspace: Workspace, *, hours: int) -> dict:
    from autonomy.forecasting import breach

    now = timezone.now()
    rules = {rule.metric_name: rule for rule in workspace.metric_rules.all()}
    predictions = {}
    for name in services.metric_names(workspace):
        series = services.metric_series(workspace, name, now=now)
        best = services.metric_forecast(series, horizon=timedelta(hours=hours))
        if best is None:
            continue
        entry = {"latest": series.values[-1], "points": len(series), "forecast": best.as_dict(), "breach": None}
        rule = rules.get(name)
        hit = breach(best, threshold=rule.critical, direction=rule.direction) if rule is not None else None
        entry["breach"] = hit and {**hit, "at": hit["at"].isoformat()}
        entry["state"] = metric_state(entry["latest"], rule, hit)
        predictions[name] = entry
    states = [entry["state"] for entry in predictions.values()]
    overall = max(states, key=STATE_ORDER.index) if states else "unknown"
    return {
        "horizon_hours": hours,
        "generated": now.isoformat(),
        "predicted_state": overall,
        "predictions": predictions,
    }


class PredictionsView(AutonomyView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "horizon_hours",
                {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON_HOURS, "default": 24},
                description="Hours ahead to forecast.",
            )
        ],
        responses={200: schema.PredictionsSerializer},
    )
    def get(self, request):
        """Each metric's forecast, its state (normal, warning, critical) and the overall
        `predicted_state` (the worst; unknown without forecastable metrics)."""
        workspace = self.workspace()
        hours = int_param(request.query_params, "horizon_hours", maximum=MAX_HORIZON_HOURS, default=24)
        return Response(predictions_data(workspace, hours=hours))


class AnalysisTriggerView(AutonomyView):
    @extend_schema(request=None, responses={200: schema.AnalysisSerializer})
    def post(self, request):
        """Analyse the metrics now: goals are opened and closed, no action is run."""
        workspace = self.workspace(write=True)
        now = timezone.now()
        result = services.analyse(workspace, now=now)
        expired = services.goals_expire(workspace, now=now)
        return _ok(
            "Analysis completed",
            goals_created=result["created"],
            goals_achieved=result["achieved"],
            goals_expired=expired,
        )


class ModeView(AutonomyView):
    @extend_schema(request=ModeSerializer, responses={200: schema.ModeAnswerSerializer})
    def post(self, request):
        workspace = self.workspace(write=True)
        body = ModeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        config = services.mode_set(
            workspace=workspace,
            autonomous=body.validated_data["autonomous"],
            start_now=body.validated_data["start_now"],
        )
        return _ok(f"Autonomous mode {'enabled' if config.enabled else 'disabled'}", autonomous=config.enabled)


class ReportView(AutonomyView):
    @extend_schema(responses={200: schema.ReportSerializer})
    def get(self, request):
        workspace = self.workspace()
        since = timezone.now() - timedelta(days=1)
        config = services.config_for(workspace)
        executor = executor_statistics(workspace)
        insights = services.learner_for(workspace).insights()
        prediction = predictions_data(workspace, hours=24)
        return Response(
            {
                "agent_status": status_data(workspace),
                "goals": goals_overview(workspace, request),
                "forecasting_report": {
                    "predicted_state": prediction["predicted_state"],
                    "prediction": prediction,
                    "rules": MetricRule.objects.filter(workspace=workspace).count(),
                    "last_analysis": config.last_analysis.isoformat() if config.last_analysis else None,
                },
                "executor_state": {
                    "statistics": executor["totals"],
                    "by_action": executor["by_action"],
                    "by_strategy": executor["by_strategy"],
                    "learning_enabled": config.enable_learning,
                    "max_concurrent_goals": config.max_concurrent_goals,
                    "executor_agent_id": config.executor_id,
                    "insights": insights,
                },
                "executor": executor,
                "insights": insights,
                "events_last_24h": Event.objects.filter(workspace=workspace, at__gte=since).count(),
                "metric_points_last_24h": MetricPoint.objects.filter(workspace=workspace, at__gte=since).count(),
            }
        )


class ExecutorStatisticsView(AutonomyView):
    @extend_schema(responses={200: schema.ExecutorStatisticsSerializer})
    def get(self, request):
        return Response(executor_statistics(self.workspace()))


class ExecutorInsightsView(AutonomyView):
    @extend_schema(responses={200: schema.InsightsSerializer})
    def get(self, request):
        return Response(services.learner_for(self.workspace()).insights())


class RulesView(AutonomyView):
    @extend_schema(responses={200: schema.RulesSerializer})
    def get(self, request):
        """When each metric is out of range, and the goal type a (forecast) breach opens."""
        workspace = self.workspace()
        services.config_for(workspace)  # the built-in rules come with the config
        return Response({"rules": MetricRuleSerializer(MetricRule.objects.filter(workspace=workspace), many=True).data})

    @extend_schema(request=MetricRuleSerializer, responses={200: MetricRuleSerializer})
    def post(self, request):
        """Create or replace the rule of a metric (by its name)."""
        workspace = self.workspace(write=True)
        body = MetricRuleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = services.rule_save(workspace=workspace, **body.validated_data)
        return Response(MetricRuleSerializer(rule).data)


class CyclesView(AutonomyView, generics.ListAPIView):
    """The workspace's autonomous cycles, newest first (limit/offset pages)."""

    serializer_class = AutonomyCycleSerializer
    pagination_class = StrictLimitOffsetPagination

    def get_queryset(self):
        return AutonomyCycle.objects.filter(workspace=self.workspace()).select_related("executor_run")


class GoalPlanView(AutonomyView):
    @extend_schema(request=GoalPlanSerializer, responses={200: GoalDetailSerializer})
    def put(self, request, goal_id: int):
        """Replace an active goal's plan: the next cycle runs its first step (an empty plan
        hands the choice back to the learner)."""
        goal = get_object_or_404(Goal.objects.filter(workspace__memberships__user=request.user), pk=goal_id)
        if not user_can_write(request.user, goal.workspace_id):
            raise PermissionDenied("Read-only access to this workspace.")
        body = GoalPlanSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if goal.status != Goal.Status.ACTIVE:
            raise serializers.ValidationError(
                {"plan": f"The goal is {goal.status}; only an active goal's plan changes."}
            )
        services.goal_plan_set(goal=goal, plan=body.validated_data["plan"])
        goal = Goal.objects.prefetch_related("actions").get(pk=goal.pk)
        return Response(GoalDetailSerializer(goal, context=goal_context_for([goal])).data)
