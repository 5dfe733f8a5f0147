"""Monitor pages: list, create / edit, detail with the check history, delete, check now,
pause, resume."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents.views import pretty_json
from gradent.lib.pages import delete_page, form_page
from proactive import selectors
from proactive.forms import MonitorForm
from proactive.models import Monitor
from proactive.services import (
    monitor_check,
    monitor_pause,
    monitor_resume,
    monitor_save,
)
from proactive.views.common import (
    CHECKS_PER_PAGE,
    CONFIRM_DELETE_TEMPLATE,
    confirm_context,
)
from workspaces.scoping import get_object_for_user, user_can_write, writable_workspaces


@login_required
def monitor_list(request: HttpRequest) -> HttpResponse:
    monitors = selectors.monitors_for_list(request.user)
    return render(
        request,
        "proactive/monitor_list.html",
        {"monitors": monitors, "can_create": writable_workspaces(request.user).exists()},
    )


def _save_monitor(form: MonitorForm) -> Monitor:
    return monitor_save(form.save(commit=False))


def _monitor_url(monitor: Monitor) -> str:
    return reverse("proactive:monitor", args=[monitor.pk])


@login_required
def monitor_create(request: HttpRequest) -> HttpResponse:
    return form_page(
        request,
        MonitorForm,
        template="proactive/monitor_form.html",
        context_name="monitor",
        save=_save_monitor,
        message=lambda monitor: f"Monitor “{monitor.name}” created.",
        success_url=_monitor_url,
    )


@login_required
def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.all(), request.user, write=True, pk=pk)
    return form_page(
        request,
        MonitorForm,
        instance=monitor,
        template="proactive/monitor_form.html",
        context_name="monitor",
        save=_save_monitor,
        message=lambda monitor: f"Monitor “{monitor.name}” saved.",
        success_url=_monitor_url,
    )


@login_required
def monitor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.select_related("agent", "workspace"), request.user, pk=pk)
    page = Paginator(monitor.checks.order_by("-checked_at", "-id"), CHECKS_PER_PAGE).get_page(request.GET.get("page"))
    checks = list(page.object_list)
    for check in checks:
        check.values_json = pretty_json(check.values) if check.values else ""
    return render(
        request,
        "proactive/monitor_detail.html",
        {
            "monitor": monitor,
            "page": page,
            "checks": checks,
            "can_write": user_can_write(request.user, monitor.workspace_id),
            "probe_config_json": pretty_json(monitor.probe_config),
        },
    )


@login_required
def monitor_delete(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.all(), request.user, write=True, pk=pk)

    def confirmation() -> dict:
        count = monitor.checks.count()
        return confirm_context(
            name=monitor.name,
            kind="monitor",
            action=reverse("proactive:monitor_delete", args=[monitor.pk]),
            back=reverse("proactive:monitor", args=[monitor.pk]),
            notes=[
                f"Its history of {count} check{'s' if count != 1 else ''} is deleted with it.",
                "The runs it started stay in the agent's history.",
                "To stop checking without losing it, pause it instead.",
            ],
        )

    return delete_page(
        request,
        monitor,
        message=f"Monitor “{monitor.name}” deleted, with its check history.",
        success_url=reverse("proactive:monitors"),
        template=CONFIRM_DELETE_TEMPLATE,
        context=confirmation,
    )


@require_POST
@login_required
def monitor_check_view(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.all(), request.user, write=True, pk=pk)
    check = monitor_check(monitor.pk)
    if check is None:
        raise Http404("No such monitor.")
    if check.error:
        messages.error(request, f"The check failed: {check.error}")
    else:
        verdict = "true" if check.result else "false"
        summary = check.summary or "no summary"
        text = f"Checked: the condition is {verdict} ({summary}); the monitor is {check.state_after}."
        if check.flipped:
            text += " It flipped."
        if check.run_id:
            text += f" Run #{check.run_id} started."
        messages.success(request, text)
    return redirect("proactive:monitor", pk=monitor.pk)


@require_POST
@login_required
def monitor_pause_view(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.all(), request.user, write=True, pk=pk)
    monitor_pause(monitor)
    messages.success(request, f"Monitor “{monitor.name}” paused: no checks until it is resumed.")
    return redirect("proactive:monitor", pk=monitor.pk)


@require_POST
@login_required
def monitor_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.all(), request.user, write=True, pk=pk)
    monitor_resume(monitor)
    messages.success(request, f"Monitor “{monitor.name}” resumed; it is checked at the dispatcher's next tick.")
    return redirect("proactive:monitor", pk=monitor.pk)
