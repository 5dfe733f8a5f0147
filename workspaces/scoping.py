"""The one place that scopes queries to the caller's workspaces, for the API and pages."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from rest_framework import exceptions, serializers

from workspaces.models import Membership, Workspace, personal_workspace_for


def scope_queryset(queryset: models.QuerySet, user, *, field: str = "workspace") -> models.QuerySet:
    if not user or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{f"{field}__memberships__user": user})


def get_object_for_user(queryset: models.QuerySet, user, *, write: bool = False, field: str = "workspace", **lookup):
    """Page helper: the object if it is in one of the user's workspaces, else 404.

    With write=True a viewer gets 403 (they can see it, so 404 would be a lie).
    """
    obj = scope_queryset(queryset, user, field=field).filter(**lookup).first()
    if obj is None:
        raise Http404("No such object in your workspaces.")
    if write and not user_can_write(user, _workspace_id(obj, field)):
        raise PermissionDenied("Your role in this workspace is read-only.")
    return obj


def _workspace_id(obj, field: str) -> int:
    target = obj
    for part in field.split("__")[:-1]:
        target = getattr(target, part)
    return getattr(target, f"{field.split('__')[-1]}_id")


def user_can_write(user, workspace_id: int) -> bool:
    return Membership.objects.filter(workspace_id=workspace_id, user=user, role__in=Membership.WRITE_ROLES).exists()


def writable_workspaces(user) -> models.QuerySet:
    return Workspace.objects.writable_by(user)


def resolve_workspace_for_create(user, workspace_id: int | None) -> Workspace:
    """The workspace a new object goes to: the one named, or the caller's personal one."""
    if workspace_id is None:
        return personal_workspace_for(user)
    workspace = Workspace.objects.for_user(user).filter(pk=workspace_id).first()
    if workspace is None:
        raise serializers.ValidationError({"workspace_id": "No such workspace among yours."})
    if not user_can_write(user, workspace.pk):
        raise exceptions.PermissionDenied("Your role in this workspace is read-only.")
    return workspace


class WorkspaceScopedMixin:
    """For DRF views: every queryset scoped to the caller's workspaces, creations placed in
    a workspace the caller may write to (`workspace_id` or their personal workspace)."""

    workspace_field = "workspace"

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user, field=self.workspace_field)

    def get_create_workspace(self, serializer) -> Workspace:
        return resolve_workspace_for_create(self.request.user, serializer.validated_data.pop("workspace_id", None))

    def perform_create(self, serializer) -> None:
        serializer.save(workspace=self.get_create_workspace(serializer))
