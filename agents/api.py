from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from agents.inputs import input_errors
from agents.models import Agent, Run, RunSource, RunStatus, Thread
from agents.serializers import (
    AgentSerializer,
    RunDetailSerializer,
    RunSerializer,
    RunStartSerializer,
    ThreadDetailSerializer,
    ThreadSerializer,
)
from agents.services import agent_pause, agent_resume, run_cancel, start_run
from agents.skips import SkipCode, skip_code
from gradent.api import MAX_ID, id_param
from workspaces.permissions import WorkspaceRolePermission
from workspaces.scoping import WorkspaceScopedMixin, scope_queryset, user_can_write

RUN_FILTERS = [
    OpenApiParameter("status", str, enum=RunStatus.values),
    OpenApiParameter("source", str, enum=RunSource.values),
    OpenApiParameter("agent", {"type": "integer", "minimum": 1, "maximum": MAX_ID}),
]


def filter_runs(queryset, params):
    """?status=&source=&agent=, each given at most once and valid, else a 400 naming it."""
    for name, choices in (("status", RunStatus.values), ("source", RunSource.values)):
        values = [value for value in params.getlist(name) if value]
        if len(values) > 1 or (values and values[0] not in choices):
            raise serializers.ValidationError({name: [f"One of {', '.join(choices)}."]})
        if values:
            queryset = queryset.filter(**{name: values[0]})
    agent = id_param(params, "agent", what="an agent")
    return queryset if agent is None else queryset.filter(agent_id=agent)


class AgentViewSet(WorkspaceScopedMixin, viewsets.ModelViewSet):
    """Agents in your workspaces."""

    queryset = Agent.objects.all()
    serializer_class = AgentSerializer
    permission_classes = [*viewsets.ModelViewSet.permission_classes, WorkspaceRolePermission]

    def get_throttles(self):
        if self.action == "run":
            self.throttle_scope = "run_start"
            return [*super().get_throttles(), ScopedRateThrottle()]
        return super().get_throttles()

    @extend_schema(request=RunStartSerializer, responses={202: RunSerializer, 409: RunSerializer, 429: RunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Start a run now. 202 with the queued run; 400 naming the field (`input.city`) when
        the input does not match the agent's input schema; 409 (or 429 for the hourly quota)
        with the skipped run and its reason when it cannot start."""
        agent = self.get_object()
        body = RunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        thread = None
        if "thread_id" in data:
            thread = agent.threads.filter(pk=data["thread_id"]).first()
            if thread is None:
                raise serializers.ValidationError({"thread_id": "No such thread for this agent."})
        run_input = dict(data.get("input") or {})
        if data.get("task"):
            run_input["task"] = data["task"]
        errors = input_errors(agent.input_schema, run_input)
        if errors:
            # 400 naming the field (`input.city`); start_run would record it as skipped.
            raise serializers.ValidationError(errors)
        run = start_run(
            agent,
            source=RunSource.API,
            source_ref=f"user:{request.user.pk}",
            input=run_input,
            payload=data.get("payload") or {},
            thread=thread,
        )
        code = status.HTTP_202_ACCEPTED
        if run.status == RunStatus.SKIPPED:
            quota = skip_code(run) == SkipCode.QUOTA
            code = status.HTTP_429_TOO_MANY_REQUESTS if quota else status.HTTP_409_CONFLICT
        return Response(RunSerializer(run).data, status=code)

    @extend_schema(request=None, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return Response(AgentSerializer(agent_pause(agent=self.get_object())).data)

    @extend_schema(request=None, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(AgentSerializer(agent_resume(agent=self.get_object())).data)

    @extend_schema(parameters=RUN_FILTERS[:2], responses=RunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        agent = self.get_object()
        runs = filter_runs(Run.objects.filter(agent=agent), request.query_params)
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @extend_schema(responses=ThreadSerializer(many=True))
    @action(detail=True, methods=["get"])
    def threads(self, request, pk=None):
        agent = self.get_object()
        page = self.paginate_queryset(agent.threads.all())
        return self.get_paginated_response(ThreadSerializer(page, many=True).data)


@extend_schema(parameters=RUN_FILTERS)
class RunViewSet(WorkspaceScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Every execution, with its steps. Skipped and missed fires are runs too."""

    queryset = Run.objects.all()
    permission_classes = [*viewsets.ReadOnlyModelViewSet.permission_classes, WorkspaceRolePermission]

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            return queryset.prefetch_related("steps")
        return filter_runs(queryset, self.request.query_params)

    @extend_schema(request=None, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        if not run.is_active:
            raise serializers.ValidationError({"status": f"Run is already {run.status}."})
        return Response(RunSerializer(run_cancel(run)).data)


@extend_schema_view(list=extend_schema(parameters=RUN_FILTERS[2:]))
class ThreadViewSet(
    WorkspaceScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Conversations of agents; `agent_state` is kept across runs."""

    queryset = Thread.objects.all()
    permission_classes = [*viewsets.GenericViewSet.permission_classes, WorkspaceRolePermission]

    def get_serializer_class(self):
        return ThreadDetailSerializer if self.action == "retrieve" else ThreadSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        agent = id_param(self.request.query_params, "agent", what="an agent")
        if agent is not None:
            queryset = queryset.filter(agent_id=agent)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("messages")
        return queryset

    def perform_create(self, serializer) -> None:
        agent = (
            scope_queryset(Agent.objects.all(), self.request.user)
            .filter(pk=serializer.validated_data["agent_id"])
            .first()
        )
        if agent is None:
            raise serializers.ValidationError({"agent_id": "No such agent among yours."})
        if not user_can_write(self.request.user, agent.workspace_id):
            self.permission_denied(self.request, message="Your role in this workspace is read-only.")
        serializer.save(workspace_id=agent.workspace_id)
