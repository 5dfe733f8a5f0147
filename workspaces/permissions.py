from __future__ import annotations

from rest_framework import permissions

from workspaces.models import APIToken, Membership


class TokenScopePermission(permissions.BasePermission):
    """A read-only API token may only read."""

    message = "This API token is read-only."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, APIToken) and request.auth.scope == APIToken.Scope.READ:
            return request.method in permissions.SAFE_METHODS
        return True


class WorkspaceRolePermission(permissions.BasePermission):
    """Viewers read; owners and editors write. Objects outside the caller's workspaces
    never get here: the scoped queryset already made them a 404."""

    message = "Your role in this workspace is read-only."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        workspace_id = getattr(obj, "workspace_id", None)
        return Membership.objects.filter(
            workspace_id=workspace_id, user=request.user, role__in=Membership.WRITE_ROLES
        ).exists()
