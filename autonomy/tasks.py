"""django-q2 entry points: take ids, call a service."""

from __future__ import annotations


def run_cycle(workspace_id: int, trigger: str = "schedule") -> str:
    from autonomy.services import run_cycle as cycle
    from workspaces.models import Workspace

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return "no such workspace"
    summary = cycle(workspace, trigger=trigger)
    return summary["error"] or f"{len(summary['goals_created'])} goal(s) created, {len(summary['actions'])} action(s)"
