"""Trigger pages: list, create / edit, detail with its webhooks and runs, fire now, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents.models import Run
from agents.views import pretty_json
from gradent.lib.pages import delete_page, form_page
from proactive import selectors
from proactive.forms import TriggerFireForm, TriggerForm
from proactive.models import Trigger
from proactive.services import trigger_fire
from proactive.views.common import (
    CONFIRM_DELETE_TEMPLATE,
    RUNS_SHOWN,
    confirm_context,
    started_message,
)
from workspaces.scoping import get_object_for_user, user_can_write, writable_workspaces


@login_required
def trigger_list(request: HttpRequest) -> HttpResponse:
    triggers = selectors.triggers_for_list(request.user)
    return render(
        request,
        "proactive/trigger_list.html",
        {"triggers": triggers, "can_create": writable_workspaces(request.user).exists()},
    )


def _trigger_url(trigger: Trigger) -> str:
    return reverse("proactive:trigger", args=[trigger.pk])


@login_required
def trigger_create(request: HttpRequest) -> HttpResponse:
    return form_page(
        request,
        TriggerForm,
        template="proactive/trigger_form.html",
        context_name="trigger",
        message=lambda trigger: f"Trigger “{trigger.name}” created.",
        success_url=_trigger_url,
    )


@login_required
def trigger_edit(request: HttpRequest, pk: int) -> HttpResponse:
    trigger = get_object_for_user(Trigger.objects.all(), request.user, write=True, pk=pk)
    return form_page(
        request,
        TriggerForm,
        instance=trigger,
        template="proactive/trigger_form.html",
        context_name="trigger",
        message=lambda trigger: f"Trigger “{trigger.name}” saved.",
        success_url=_trigger_url,
    )


def _trigger_page(request: HttpRequest, trigger: Trigger, fire_form: TriggerFireForm) -> HttpResponse:
    runs = Run.objects.filter(agent_id=trigger.agent_id, source_ref=f"trigger:{trigger.pk}").order_by("-id")
    return render(
        request,
        "proactive/trigger_detail.html",
        {
            "trigger": trigger,
            "fire_form": fire_form,
            "webhooks": trigger.webhooks.annotate(delivery_count=Count("deliveries")),
            "runs": runs[:RUNS_SHOWN],
            "can_write": user_can_write(request.user, trigger.workspace_id),
            "config_json": pretty_json(trigger.config),
        },
    )


@login_required
def trigger_detail(request: HttpRequest, pk: int) -> HttpResponse:
    trigger = get_object_for_user(Trigger.objects.select_related("agent", "workspace"), request.user, pk=pk)
    return _trigger_page(request, trigger, TriggerFireForm())


@require_POST
@login_required
def trigger_fire_view(request: HttpRequest, pk: int) -> HttpResponse:
    trigger = get_object_for_user(Trigger.objects.select_related("agent", "workspace"), request.user, write=True, pk=pk)
    form = TriggerFireForm(request.POST)
    if not form.is_valid():
        return _trigger_page(request, trigger, form)
    run, why = trigger_fire(
        trigger,
        payload=form.cleaned_data["payload"],
        event_type=form.cleaned_data["event_type"] or None,
        check_filters=False,
    )
    if run is None:
        messages.warning(request, f"Not fired: {why}.")
        return redirect("proactive:trigger", pk=trigger.pk)
    started_message(request, run, f"trigger “{trigger.name}”")
    return redirect("agents:run", pk=run.pk)


@login_required
def trigger_delete(request: HttpRequest, pk: int) -> HttpResponse:
    trigger = get_object_for_user(Trigger.objects.all(), request.user, write=True, pk=pk)

    def confirmation() -> dict:
        count = trigger.webhooks.count()
        notes = ["The runs it started stay in the agent's history."]
        if count:
            notes.insert(0, f"Its {count} webhook{'s' if count != 1 else ''} and their deliveries are deleted too: "
                         "senders get 404 from then on.")  # fmt: skip
        return confirm_context(
            name=trigger.name,
            kind="trigger",
            action=reverse("proactive:trigger_delete", args=[trigger.pk]),
            back=reverse("proactive:trigger", args=[trigger.pk]),
            notes=notes,
        )

    return delete_page(
        request,
        trigger,
        message=f"Trigger “{trigger.name}” deleted, with its webhooks.",
        success_url=reverse("proactive:triggers"),
        template=CONFIRM_DELETE_TEMPLATE,
        context=confirmation,
    )
