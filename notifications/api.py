from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from notifications.models import Channel
from notifications.serializers import ChannelSerializer, ChannelTestResultSerializer, NotificationSerializer
from notifications.services import channel_send_test
from workspaces.permissions import WorkspaceRolePermission
from workspaces.scoping import WorkspaceScopedMixin


class ChannelTestThrottle(UserRateThrottle):
    """Each test is a real request to someone else's service."""

    scope = "notify_test"
    rate = "20/minute"


class ChannelViewSet(WorkspaceScopedMixin, viewsets.ModelViewSet):
    """Notification channels of your workspaces: Discord, ntfy, Slack, webhook, email.
    Secret settings are write-only."""

    queryset = Channel.objects.prefetch_related("agents")
    serializer_class = ChannelSerializer
    permission_classes = [*viewsets.ModelViewSet.permission_classes, WorkspaceRolePermission]

    def get_throttles(self):
        if self.action == "test":
            return [*super().get_throttles(), ChannelTestThrottle()]
        return super().get_throttles()

    @extend_schema(request=None, responses={200: ChannelTestResultSerializer, 400: ChannelTestResultSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a sample message now and report the peer's answer: 200 when it was
        accepted, 400 with the reason when it was not."""
        channel = self.get_object()
        notification, result, error = channel_send_test(channel=channel, sender=request.user.get_username())
        if result is None:
            body = {
                "ok": False,
                "status": notification.peer_status,
                "detail": error,
                "notification_id": notification.pk,
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        body = {
            "ok": True,
            "status": result.status,
            "detail": result.detail or result.answer,
            "notification_id": notification.pk,
        }
        return Response(body)

    @extend_schema(responses=NotificationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def notifications(self, request, pk=None):
        """The channel's log, newest first."""
        channel = self.get_object()
        page = self.paginate_queryset(channel.notifications.order_by("-id"))
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)
