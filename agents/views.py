"""Pages for agents, runs and threads. Every object comes through `get_object_for_user`
(404 outside the user's workspaces, 403 for a viewer's writes); lists through `scope_queryset`."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agents.charts import TIMELINE_RUNS, run_timeline_data
from agents.forms import AgentForm, RunFilterForm, RunNowForm
from agents.models import Agent, Run, RunSource, RunStatus, Thread
from agents.services import agent_pause, agent_resume, run_cancel, start_run
from gradent.lib.pages import delete_page, duplicate_name_warning, form_page
from workspaces.scoping import get_object_for_user, scope_queryset, user_can_write, writable_workspaces

RUNS_PER_PAGE = 50
THREADS_PER_PAGE = 50
MESSAGES_SHOWN = 200


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


# --- agents ---------------------------------------------------------------------------


@login_required
def agent_list(request: HttpRequest) -> HttpResponse:
    latest = Run.objects.filter(agent=OuterRef("pk")).order_by("-id")
    agents = scope_queryset(Agent.objects.select_related("workspace"), request.user).annotate(
        last_run_id=Subquery(latest.values("id")[:1]),
        last_run_status=Subquery(latest.values("status")[:1]),
        last_run_created=Subquery(latest.values("created")[:1]),
    )
    agents = list(agents)
    for agent in agents:
        agent.last_run_label = RunStatus(agent.last_run_status).label if agent.last_run_status else ""
    return render(
        request,
        "agents/agent_list.html",
        {"agents": agents, "can_create": writable_workspaces(request.user).exists()},
    )


def _name_taken(agent: Agent) -> str:
    return duplicate_name_warning(
        Agent.objects.filter(workspace_id=agent.workspace_id), name=agent.name, noun="agent", exclude=agent.pk
    )


@login_required
def agent_create(request: HttpRequest) -> HttpResponse:
    return form_page(
        request,
        AgentForm,
        template="agents/agent_form.html",
        context_name="agent",
        message=lambda agent: f"Agent “{agent.name}” created.",
        warning=_name_taken,
        success_url=_detail_url,
    )


@login_required
def agent_name_check(request: HttpRequest) -> HttpResponse:
    """The agent form's name warning, asked by htmx as the name is typed. Only workspaces
    the user may write to are looked in: it never tells names from elsewhere."""
    workspace, exclude = request.GET.get("workspace", ""), request.GET.get("exclude", "")
    warning = ""
    if workspace.isdigit() and writable_workspaces(request.user).filter(pk=int(workspace)).exists():
        warning = duplicate_name_warning(
            Agent.objects.filter(workspace_id=int(workspace)),
            name=request.GET.get("name", ""),
            noun="agent",
            exclude=int(exclude) if exclude.isdigit() else None,
        )
    return render(request, "_name_warning.html", {"name_warning": warning})


def _detail_url(agent: Agent) -> str:
    return reverse("agents:detail", args=[agent.pk])


def _last_manual_run(agent: Agent) -> Run | None:
    """The agent's last run started by a person or a program, whose input Run now shows."""
    return agent.runs.filter(source__in=(RunSource.MANUAL, RunSource.API)).order_by("-id").first()


def _agent_page(request: HttpRequest, agent: Agent, run_form: RunNowForm, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "agents/agent_detail.html",
        {
            "agent": agent,
            "runs": agent.runs.all()[:15],
            "timeline": run_timeline_data(agent.runs.all()[:TIMELINE_RUNS]),
            "threads": agent.threads.annotate(message_count=Count("messages")).order_by("-updated")[:10],
            "can_write": user_can_write(request.user, agent.workspace_id),
            "run_form": run_form,
            "provider_settings_json": pretty_json(agent.shown_provider_settings()),
            "input_schema_json": pretty_json(agent.input_schema) if agent.input_schema else "",
        },
        status=status,
    )


@login_required
def agent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The agent, with Run now pre-filled from its last manual run (or from the run named
    by ?from_run=, the "Edit and run" of a run page)."""
    agent = get_object_for_user(Agent.objects.select_related("workspace"), request.user, pk=pk)
    source = None
    from_run = request.GET.get("from_run", "")
    if from_run.isdigit():
        source = agent.runs.filter(pk=int(from_run)).first()
    if source is None:
        source = _last_manual_run(agent)
    return _agent_page(request, agent, RunNowForm(agent=agent, initial=RunNowForm.initial_from(source)))


@login_required
def agent_edit(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_for_user(Agent.objects.all(), request.user, write=True, pk=pk)
    return form_page(
        request,
        AgentForm,
        instance=agent,
        template="agents/agent_form.html",
        context_name="agent",
        message=lambda agent: f"Agent “{agent.name}” saved.",
        warning=_name_taken,
        success_url=_detail_url,
    )


@login_required
def agent_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the agent with its runs and threads."""
    agent = get_object_for_user(Agent.objects.all(), request.user, write=True, pk=pk)
    return delete_page(
        request,
        agent,
        message=f"Agent “{agent.name}” deleted, with its runs and threads.",
        success_url=reverse("agents:list"),
        template="agents/agent_confirm_delete.html",
        context=lambda: {
            "agent": agent,
            "run_count": agent.runs.count(),
            "active_count": agent.runs.active().count(),
            "thread_count": agent.threads.count(),
        },
    )


@require_POST
@login_required
def agent_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Run now. Invalid JSON or input that breaks the agent's input schema shows the page
    again (400) with the errors on the fields and the input as typed."""
    agent = get_object_for_user(Agent.objects.select_related("workspace"), request.user, write=True, pk=pk)
    form = RunNowForm(request.POST, agent=agent)
    if not form.is_valid():
        return _agent_page(request, agent, form, status=400)
    run = start_run(
        agent,
        source=RunSource.MANUAL,
        source_ref=f"user:{request.user.pk}",
        input=form.cleaned_data["run_input"],
        payload=form.cleaned_data["payload"],
    )
    return _started(request, run)


def _started(request: HttpRequest, run: Run) -> HttpResponse:
    if run.status == RunStatus.SKIPPED:
        # Skipped starts are rows too: the run page says why it did not run.
        messages.warning(request, f"Run #{run.pk} was skipped: {run.reason}")
    else:
        messages.success(request, f"Run #{run.pk} started.")
    return redirect("agents:run", pk=run.pk)


@require_POST
@login_required
def run_again(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a new run of the same agent with the same input and payload. The agent's
    input schema is checked by start_run: a schema changed since makes it a skipped run
    that says which field."""
    earlier = get_object_for_user(Run.objects.select_related("agent"), request.user, write=True, pk=pk)
    run = start_run(
        earlier.agent,
        source=RunSource.MANUAL,
        source_ref=f"user:{request.user.pk}",
        input=dict(earlier.input or {}),
        payload=dict(earlier.payload or {}),
    )
    return _started(request, run)


@require_POST
@login_required
def agent_pause_view(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_for_user(Agent.objects.all(), request.user, write=True, pk=pk)
    agent_pause(agent=agent, reason=f"Paused by {request.user.get_username()}.")
    messages.success(request, f"Agent “{agent.name}” paused: new runs are skipped until it is resumed.")
    return redirect("agents:detail", pk=agent.pk)


@require_POST
@login_required
def agent_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_for_user(Agent.objects.all(), request.user, write=True, pk=pk)
    agent_resume(agent=agent)
    messages.success(request, f"Agent “{agent.name}” resumed.")
    return redirect("agents:detail", pk=agent.pk)


# --- runs -----------------------------------------------------------------------------


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    form = RunFilterForm(request.GET or None, user=request.user)
    runs = scope_queryset(Run.objects.select_related("agent", "workspace"), request.user)
    if request.GET:
        runs = form.filter(runs)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "agents/run_list.html", {"form": form, "page": page, "runs": page.object_list})


def _run_context(request: HttpRequest, run: Run) -> dict:
    steps = list(run.steps.all())
    for step in steps:
        step.input_json = pretty_json(step.input)
        step.output_json = pretty_json(step.output)
    return {
        "run": run,
        "steps": steps,
        "can_write": user_can_write(request.user, run.workspace_id),
        "input_json": pretty_json(run.input),
        "payload_json": pretty_json(run.payload) if run.payload else "",
    }


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_for_user(Run.objects.select_related("agent", "workspace", "thread"), request.user, pk=pk)
    return render(request, "agents/run_detail.html", _run_context(request, run))


@never_cache
def run_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the run page. htmx polls it while the run is active; the fragment
    returned for a final run carries no trigger, so polling stops by itself."""
    if not request.user.is_authenticated:
        if request.htmx:
            # A redirect would be followed by htmx and the login page swapped into the
            # fragment; reload the whole page instead, which goes to the login page.
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        return redirect_to_login(request.get_full_path())
    run = get_object_for_user(Run.objects.select_related("agent", "workspace", "thread"), request.user, pk=pk)
    return render(request, "agents/_run_live.html", _run_context(request, run))


@require_POST
@login_required
def run_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_for_user(Run.objects.all(), request.user, write=True, pk=pk)
    if not run.is_active:
        messages.info(request, f"Run #{run.pk} is already {run.get_status_display().lower()}.")
        return redirect("agents:run", pk=run.pk)
    run = run_cancel(run, reason=f"Cancelled by {request.user.get_username()}.")
    if run.status == RunStatus.CANCELLED:
        messages.success(request, f"Run #{run.pk} cancelled.")
    else:
        messages.success(request, f"Run #{run.pk} will stop at its next step.")
    return redirect("agents:run", pk=run.pk)


# --- threads --------------------------------------------------------------------------


@login_required
def thread_list(request: HttpRequest) -> HttpResponse:
    threads = scope_queryset(
        Thread.objects.select_related("agent", "workspace")
        .annotate(message_count=Count("messages"))
        .order_by("-updated", "-id"),
        request.user,
    )
    page = Paginator(threads, THREADS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "agents/thread_list.html", {"page": page, "threads": page.object_list})


@login_required
def thread_detail(request: HttpRequest, pk: int) -> HttpResponse:
    thread = get_object_for_user(Thread.objects.select_related("agent", "workspace"), request.user, pk=pk)
    total = thread.messages.count()
    # The newest messages, shown oldest first like a conversation.
    shown = list(thread.messages.order_by("-id")[:MESSAGES_SHOWN])[::-1]
    return render(
        request,
        "agents/thread_detail.html",
        {
            "thread": thread,
            "thread_messages": shown,
            "hidden_count": total - len(shown),
            "state_json": pretty_json(thread.agent_state),
            "runs": thread.runs.all()[:10],
        },
    )
