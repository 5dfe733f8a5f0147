from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import RunStatus
from agents.serializers import RunSerializer
from gradent.api import whole_number
from proactive import timing
from proactive.models import Monitor, Schedule, Suggestion, Trigger, Webhook
from proactive.serializers import (
    MonitorCheckSerializer,
    MonitorSerializer,
    PreviewSerializer,
    ScheduleSerializer,
    SuggestionSerializer,
    TriggerFireSerializer,
    TriggerSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
)
from proactive.services import (
    monitor_pause,
    monitor_resume,
    schedule_pause,
    schedule_resume,
    schedule_run_now,
    schedule_save,
    trigger_fire,
    webhook_replay,
)
from workspaces.permissions import WorkspaceRolePermission
from workspaces.scoping import WorkspaceScopedMixin, user_can_write


class AgentBoundViewSet(WorkspaceScopedMixin, viewsets.ModelViewSet):
    permission_classes = [*viewsets.ModelViewSet.permission_classes, WorkspaceRolePermission]

    def perform_create(self, serializer) -> None:
        agent = serializer.validated_data["agent"]
        if not user_can_write(self.request.user, agent.workspace_id):
            self.permission_denied(self.request, message="Your role in this workspace is read-only.")
        self.save_object(serializer, workspace_id=agent.workspace_id)

    def perform_update(self, serializer) -> None:
        self.save_object(serializer)

    def save_object(self, serializer, **extra) -> None:
        serializer.save(**extra)


def _started(run) -> Response:
    code = status.HTTP_202_ACCEPTED if run.status == RunStatus.QUEUED else status.HTTP_409_CONFLICT
    return Response(RunSerializer(run).data, status=code)


def _preview(schedule: Schedule, count: int) -> list[dict]:
    items = timing.preview(timing.Timing.from_schedule(schedule), count=count)
    return [{**item, "at": item["at"].isoformat()} for item in items]


class ScheduleViewSet(AgentBoundViewSet):
    """Cron, interval and one-off schedules, each in its own timezone."""

    queryset = Schedule.objects.select_related("agent")
    serializer_class = ScheduleSerializer

    def save_object(self, serializer, **extra) -> None:
        schedule = Schedule(**{**serializer.validated_data, **extra}) if serializer.instance is None else None
        if schedule is None:
            schedule = serializer.instance
            for key, value in serializer.validated_data.items():
                setattr(schedule, key, value)
        schedule_save(schedule)
        serializer.instance = schedule

    @extend_schema(request=None, responses={202: RunSerializer, 409: RunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run the schedule's agent now (outside the schedule's slots)."""
        return _started(schedule_run_now(self.get_object()))

    @extend_schema(request=None, responses=ScheduleSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return Response(ScheduleSerializer(schedule_pause(self.get_object()), context={"request": request}).data)

    @extend_schema(request=None, responses=ScheduleSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(ScheduleSerializer(schedule_resume(self.get_object()), context={"request": request}).data)

    @extend_schema(parameters=[OpenApiParameter("count", int)], responses={200: dict})
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The next fires in the schedule's timezone, DST changes marked."""
        schedule = self.get_object()
        count = _count(request.query_params.get("count"))
        return Response({"timezone": schedule.timezone, "fires": _preview(schedule, count)})

    @extend_schema(request=PreviewSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_unsaved(self, request):
        """Preview an expression before saving it; errors name the field."""
        body = PreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        count = data.pop("count")
        probe = Schedule(**data, anchor=timezone.now())
        try:
            from proactive.services import schedule_validate

            schedule_validate(probe)
        except timing.ScheduleError as exc:
            raise serializers.ValidationError({exc.field: str(exc)}) from None
        description = timing.describe_cron(probe.cron_expression) if probe.kind == Schedule.Kind.CRON else ""
        return Response({"timezone": probe.timezone, "description": description, "fires": _preview(probe, count)})


def _count(raw: str | None) -> int:
    return whole_number(raw, "count", minimum=1, maximum=100, default=10, message="Must be a number from 1 to 100.")


class MonitorViewSet(AgentBoundViewSet):
    """A probe and a condition, checked every check_interval seconds; the agent runs on a flip."""

    queryset = Monitor.objects.select_related("agent")
    serializer_class = MonitorSerializer

    def get_queryset(self):
        from proactive.selectors import with_monitor_run_counts

        return with_monitor_run_counts(super().get_queryset())

    @extend_schema(request=None, responses=MonitorSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return Response(MonitorSerializer(monitor_pause(self.get_object()), context={"request": request}).data)

    @extend_schema(request=None, responses=MonitorSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(MonitorSerializer(monitor_resume(self.get_object()), context={"request": request}).data)

    @extend_schema(request=None, responses=MonitorCheckSerializer)
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        """Check now, in this request, and return the check."""
        from proactive.services import monitor_check

        check = monitor_check(self.get_object().pk)
        return Response(MonitorCheckSerializer(_check_row(check)).data)

    @extend_schema(responses=MonitorCheckSerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        checks = self.get_object().checks.order_by("-checked_at", "-id")
        page = self.paginate_queryset(checks)
        return self.get_paginated_response(MonitorCheckSerializer([_check_row(c) for c in page], many=True).data)


def _check_row(check) -> dict:
    return {
        "id": check.pk,
        "checked_at": check.checked_at,
        "result": check.result,
        "values": check.values,
        "summary": check.summary,
        "error": check.error,
        "duration_ms": check.duration_ms,
        "state_after": check.state_after,
        "flipped": check.flipped,
        "run_id": check.run_id,
    }


class TriggerViewSet(AgentBoundViewSet):
    """Event triggers; `fire` starts the agent with the rendered task and the payload."""

    queryset = Trigger.objects.select_related("agent")
    serializer_class = TriggerSerializer

    @extend_schema(request=TriggerFireSerializer, responses={202: RunSerializer, 409: RunSerializer})
    @action(detail=True, methods=["post"])
    def fire(self, request, pk=None):
        trigger = self.get_object()
        body = TriggerFireSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run, why = trigger_fire(
            trigger, payload=body.validated_data["payload"], event_type=body.validated_data["event_type"] or None,
            check_filters=False,
        )  # fmt: skip
        if run is None:
            return Response({"detail": why}, status=status.HTTP_409_CONFLICT)
        return _started(run)


class WebhookViewSet(WorkspaceScopedMixin, viewsets.ModelViewSet):
    """Incoming webhooks. The secret is in the answer to POST and regenerate-secret only."""

    queryset = Webhook.objects.select_related("trigger")
    serializer_class = WebhookSerializer
    permission_classes = [*viewsets.ModelViewSet.permission_classes, WorkspaceRolePermission]

    def create(self, request, *args, **kwargs):
        from proactive.signatures import get_scheme

        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trigger = serializer._trigger
        if not user_can_write(request.user, trigger.workspace_id):
            self.permission_denied(request, message="Your role in this workspace is read-only.")
        data = dict(serializer.validated_data)
        data.pop("trigger_id")
        scheme = data.get("scheme", "standard_webhooks")
        secret = get_scheme(scheme).generate_secret()
        webhook = Webhook.objects.create(workspace_id=trigger.workspace_id, trigger=trigger, secret=secret, **data)
        answer = WebhookSerializer(webhook, context={"request": request}).data | {"secret": secret}
        return Response(answer, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        from proactive.signatures import get_scheme

        webhook = self.get_object()
        serializer = self.get_serializer(webhook, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        trigger = getattr(serializer, "_trigger", None)
        serializer.validated_data.pop("trigger_id", None)
        old_scheme = webhook.scheme
        webhook = serializer.save(**({"trigger": trigger} if trigger else {}))
        answer = WebhookSerializer(webhook, context={"request": request}).data
        if webhook.scheme != old_scheme:
            # A secret is shaped by its scheme (whsec_… for Standard Webhooks): a new scheme
            # gets a new secret, shown once, rather than a webhook that rejects everything.
            webhook.secret = get_scheme(webhook.scheme).generate_secret()
            webhook.save(update_fields=["secret", "updated"])
            answer["secret"] = webhook.secret
        return Response(answer)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="regenerate-secret")
    def regenerate_secret(self, request, pk=None):
        from proactive.signatures import get_scheme

        webhook = self.get_object()
        webhook.secret = get_scheme(webhook.scheme).generate_secret()
        webhook.save(update_fields=["secret", "updated"])
        return Response(WebhookSerializer(webhook, context={"request": request}).data | {"secret": webhook.secret})

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(self.get_object().deliveries.all())
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, parameters=[OpenApiParameter("dry_run", bool)], responses={200: dict})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/replay")
    def replay(self, request, pk=None, delivery_id=None):
        webhook = self.get_object()
        delivery = webhook.deliveries.filter(pk=delivery_id).first()
        if delivery is None:
            return Response({"detail": "No such delivery."}, status=status.HTTP_404_NOT_FOUND)
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        return Response(webhook_replay(delivery, dry_run=dry_run))


class SuggestionViewSet(WorkspaceScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):  # fmt: skip
    """What Gradent noticed in your history; accept creates or changes the object."""

    queryset = Suggestion.objects.select_related("agent", "monitor", "schedule")
    serializer_class = SuggestionSerializer
    permission_classes = [*viewsets.GenericViewSet.permission_classes, WorkspaceRolePermission]

    def get_queryset(self):
        queryset = super().get_queryset()
        wanted = self.request.query_params.get("status", "open" if self.action == "list" else None)
        return queryset.filter(status=wanted) if wanted and wanted != "all" else queryset

    @extend_schema(request=None, responses=SuggestionSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        from proactive.mining import suggestion_accept

        suggestion = self.get_object()
        if suggestion.status != Suggestion.Status.OPEN:
            raise serializers.ValidationError({"status": f"Already {suggestion.status}."})
        return Response(SuggestionSerializer(suggestion_accept(suggestion)).data)

    @extend_schema(request=None, responses=SuggestionSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        suggestion = self.get_object()
        if suggestion.status != Suggestion.Status.OPEN:
            raise serializers.ValidationError({"status": f"Already {suggestion.status}."})
        suggestion.status, suggestion.decided_at = Suggestion.Status.DISMISSED, timezone.now()
        suggestion.save(update_fields=["status", "decided_at"])
        return Response(SuggestionSerializer(suggestion).data)


class PatternsView(APIView):
    """What the miner found in your workspaces' history, and from which runs."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        from proactive.mining import find_patterns
        from workspaces.models import Workspace

        workspaces = Workspace.objects.for_user(request.user)
        return Response({"patterns": [p for ws in workspaces for p in find_patterns(ws)]})
