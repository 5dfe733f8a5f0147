"""Suggestion pages: the list, mining now, accept and dismiss."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from proactive import timing
from proactive.models import Suggestion
from proactive.views.common import titled
from workspaces.scoping import get_object_for_user, scope_queryset, writable_workspaces

EVIDENCE_LABELS = {"runs": "runs by hand", "skipped_runs": "skipped runs", "flipping_checks": "flips"}


def _evidence_links(suggestion: Suggestion) -> list[dict]:
    """The evidence as links: runs to their pages, monitor checks to the monitor's timeline."""
    groups = []
    evidence = suggestion.evidence if isinstance(suggestion.evidence, dict) else {}
    for key, ids in evidence.items():
        if not isinstance(ids, list):
            continue
        links = []
        for item in ids[:20]:
            if not isinstance(item, int):
                continue
            if key.endswith("runs"):
                links.append({"label": f"#{item}", "url": reverse("agents:run", args=[item])})
            elif key.endswith("checks") and suggestion.monitor_id:
                url = reverse("proactive:monitor", args=[suggestion.monitor_id])
                links.append({"label": f"check {item}", "url": f"{url}#check-{item}"})
        if links:
            groups.append(
                {"label": EVIDENCE_LABELS.get(key, key.replace("_", " ")), "links": links, "more": len(ids) - 20}
            )
    return groups


@login_required
def suggestion_list(request: HttpRequest) -> HttpResponse:
    scoped = scope_queryset(
        Suggestion.objects.select_related("agent", "monitor", "schedule__agent", "workspace"), request.user
    )
    open_ = list(scoped.filter(status=Suggestion.Status.OPEN).order_by("-created", "-id"))
    writable = set(writable_workspaces(request.user).values_list("pk", flat=True))
    for suggestion in open_:
        suggestion.evidence_links = _evidence_links(suggestion)
        if suggestion.schedule is not None:
            titled(suggestion.schedule)
        suggestion.can_write = suggestion.workspace_id in writable
    decided = scoped.exclude(status=Suggestion.Status.OPEN).order_by("-decided_at", "-id")[:20]
    return render(
        request,
        "proactive/suggestion_list.html",
        {"suggestions": open_, "decided": decided, "can_mine": bool(writable)},
    )


@require_POST
@login_required
def suggestion_mine(request: HttpRequest) -> HttpResponse:
    from proactive.mining import mine_suggestions

    workspaces = list(writable_workspaces(request.user))
    if not workspaces:
        messages.error(request, "Your role is read-only in all your workspaces.")
        return redirect("proactive:suggestions")
    found = sum(len(mine_suggestions(workspace)) for workspace in workspaces)
    if found:
        messages.success(request, f"Found {found} new suggestion{'s' if found != 1 else ''}.")
    else:
        messages.info(request, "Nothing new: no pattern that was not suggested before.")
    return redirect("proactive:suggestions")


def _open_suggestion(request: HttpRequest, pk: int) -> Suggestion | None:
    suggestion = get_object_for_user(
        Suggestion.objects.select_related("monitor", "schedule"), request.user, write=True, pk=pk
    )
    if suggestion.status != Suggestion.Status.OPEN:
        messages.info(request, f"“{suggestion.title}” was already {suggestion.get_status_display().lower()}.")
        return None
    return suggestion


@require_POST
@login_required
def suggestion_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    from proactive.mining import suggestion_accept

    suggestion = _open_suggestion(request, pk)
    if suggestion is None:
        return redirect("proactive:suggestions")
    try:
        suggestion = suggestion_accept(suggestion)
    except (timing.ScheduleError, KeyError) as exc:
        messages.error(request, f"Could not accept “{suggestion.title}”: {exc}")
        return redirect("proactive:suggestions")
    messages.success(request, f"Accepted: {suggestion.title}.")
    if suggestion.kind == Suggestion.Kind.MONITOR_THRESHOLD and suggestion.monitor_id:
        return redirect("proactive:monitor", pk=suggestion.monitor_id)
    if suggestion.schedule_id:
        return redirect("proactive:schedule", pk=suggestion.schedule_id)
    return redirect("proactive:suggestions")


@require_POST
@login_required
def suggestion_dismiss_view(request: HttpRequest, pk: int) -> HttpResponse:
    suggestion = _open_suggestion(request, pk)
    if suggestion is not None:
        suggestion.status, suggestion.decided_at = Suggestion.Status.DISMISSED, timezone.now()
        suggestion.save(update_fields=["status", "decided_at"])
        messages.success(request, f"Dismissed: {suggestion.title}. It will not be suggested again.")
    return redirect("proactive:suggestions")
