from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from workspaces.models import Membership, Workspace


@transaction.atomic
def workspace_create(*, name: str, owner) -> Workspace:
    base = slugify(name)[:100] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    workspace = Workspace.objects.create(name=name, slug=slug)
    Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    return workspace


@transaction.atomic
def workspace_create_personal(*, user) -> Workspace:
    workspace = workspace_create(name=f"{user.get_username()}'s workspace", owner=user)
    workspace.personal_owner = user
    workspace.save(update_fields=["personal_owner"])
    return workspace


def membership_add(*, workspace: Workspace, user, role: str = Membership.Role.EDITOR) -> Membership:
    membership, _ = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    return membership
