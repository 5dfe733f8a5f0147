"""Writes of the workspaces app. Creation itself is on `Workspace.objects` (see
WorkspaceManager) so that the models need not import this module."""

from __future__ import annotations

from workspaces.models import Membership, Workspace


def workspace_create(*, name: str, owner) -> Workspace:
    return Workspace.objects.create_owned(name=name, owner=owner)


def workspace_create_personal(*, user) -> Workspace:
    return Workspace.objects.create_personal(user=user)


def membership_add(*, workspace: Workspace, user, role: str = Membership.Role.EDITOR) -> Membership:
    membership, _ = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    return membership
