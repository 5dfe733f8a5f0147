"""Schedule pages: list, create / edit with the live fire preview, detail, delete, run now,
pause, resume; and the upcoming fires for the overview."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agents.charts import TIMELINE_RUNS, run_timeline_data
from agents.models import Agent
from agents.views import pretty_json
from gradent.lib.pages import delete_page, duplicate_name_warning, form_page
from proactive import selectors, timing
from proactive.forms import ScheduleForm
from proactive.models import Schedule
from proactive.services import (
    schedule_pause,
    schedule_resume,
    schedule_run_now,
    schedule_save,
)
from proactive.views.common import (
    CONFIRM_DELETE_TEMPLATE,
    PREVIEW_COUNT,
    RUNS_SHOWN,
    UPCOMING_HOURS,
    UPCOMING_LIMIT,
    confirm_context,
    describe,
    describe_schedule,
    in_zone,
    schedule_title,
    started_message,
    timezone_names,
    titled,
)
from workspaces.scoping import get_object_for_user, scope_queryset, user_can_write, writable_workspaces


@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = list(
        scope_queryset(Schedule.objects.select_related("agent", "workspace", "last_run"), request.user).order_by(
            F("next_fire_at").asc(nulls_last=True), "id"
        )
    )
    for schedule in schedules:
        titled(schedule)
        schedule.description = describe(schedule)
        schedule.next_local = in_zone(schedule.next_fire_at, schedule.timezone)
    return render(
        request,
        "proactive/schedule_list.html",
        {"schedules": schedules, "can_create": writable_workspaces(request.user).exists()},
    )


def _schedule_form_page(request: HttpRequest, form: ScheduleForm, schedule: Schedule | None) -> HttpResponse:
    preview_url = reverse("proactive:schedule_preview")
    if schedule is not None:
        preview_url += f"?schedule={schedule.pk}"
    return render(
        request,
        "proactive/schedule_form.html",
        {
            "form": form,
            "schedule": schedule,
            "preview_url": preview_url,
            "preview": _form_preview(form, schedule) if form.is_bound or schedule is not None else None,
            "timezones": timezone_names(),
        },
    )


def _save_schedule(form: ScheduleForm) -> Schedule | None:
    schedule = form.save(commit=False)
    try:
        schedule_save(schedule)
    except timing.ScheduleError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None
    return schedule


def _no_fire_ahead(schedule: Schedule) -> str:
    if schedule.enabled and schedule.next_fire_at is None:
        return "It has no fire time ahead, so it will not run: check the run-at time and the end."
    return ""


def _warnings(schedule: Schedule) -> str:
    taken = duplicate_name_warning(
        Schedule.objects.filter(workspace_id=schedule.workspace_id), name=schedule.name, noun="schedule",
        exclude=schedule.pk,
    )  # fmt: skip
    return " ".join(text for text in (_no_fire_ahead(schedule), taken) if text)


@login_required
def schedule_name_check(request: HttpRequest) -> HttpResponse:
    """The schedule form's name warning, asked by htmx as the name is typed: looks only in
    the workspace of an agent the user may write to."""
    agent, exclude = request.GET.get("agent", ""), request.GET.get("exclude", "")
    warning = ""
    workspace = None
    if agent.isdigit():
        workspace = (
            Agent.objects.filter(pk=int(agent), workspace__in=writable_workspaces(request.user))
            .values_list("workspace_id", flat=True)
            .first()
        )
    if workspace is not None:
        warning = duplicate_name_warning(
            Schedule.objects.filter(workspace_id=workspace),
            name=request.GET.get("name", ""),
            noun="schedule",
            exclude=int(exclude) if exclude.isdigit() else None,
        )
    return render(request, "_name_warning.html", {"name_warning": warning})


def _schedule_url(schedule: Schedule) -> str:
    return reverse("proactive:schedule", args=[schedule.pk])


@login_required
def schedule_create(request: HttpRequest) -> HttpResponse:
    agent = request.GET.get("agent", "")
    return form_page(
        request,
        ScheduleForm,
        initial={"agent": int(agent)} if agent.isdigit() else None,
        template="proactive/schedule_form.html",
        context_name="schedule",
        save=_save_schedule,
        message=lambda schedule: f"Schedule “{schedule_title(schedule)}” created.",
        warning=_warnings,
        success_url=_schedule_url,
        render_form=lambda form: _schedule_form_page(request, form, None),
    )


@login_required
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.select_related("agent"), request.user, write=True, pk=pk)
    title = schedule_title(schedule)  # before the form changes the instance

    def form_again(form: ScheduleForm) -> HttpResponse:
        schedule.title = title
        return _schedule_form_page(request, form, schedule)

    return form_page(
        request,
        ScheduleForm,
        instance=schedule,
        template="proactive/schedule_form.html",
        context_name="schedule",
        save=_save_schedule,
        message=lambda schedule: f"Schedule “{schedule_title(schedule)}” saved.",
        warning=_warnings,
        success_url=_schedule_url,
        render_form=form_again,
    )


def _form_preview(form: ScheduleForm, schedule: Schedule | None) -> dict:
    """The preview fragment's context for the form as it stands."""
    if not form.is_bound:
        return _saved_preview(schedule)
    form.is_valid()
    errors = form.timing_errors()
    if errors:
        return {"errors": errors}
    data = form.cleaned_data
    anchor = schedule.anchor if schedule is not None and schedule.kind == Schedule.Kind.INTERVAL else None
    try:
        fires = timing.preview(form.schedule_timing(anchor=anchor), count=PREVIEW_COUNT)
    except timing.ScheduleError as exc:
        return {"errors": [("", exc.message)]}
    description = describe_schedule(timing.Timing.from_dict(data))
    return {"description": description, "timezone": data["timezone"], "fires": fires, "kind": data["kind"]}


def _saved_preview(schedule: Schedule) -> dict:
    try:
        fires = timing.preview(timing.Timing.from_schedule(schedule), count=PREVIEW_COUNT)
    except timing.ScheduleError as exc:
        return {"errors": [("", exc.message)]}
    return {"description": describe(schedule), "timezone": schedule.timezone, "fires": fires, "kind": schedule.kind}


@never_cache
@require_POST
def schedule_preview(request: HttpRequest) -> HttpResponse:
    """The live preview of the schedule form: htmx posts the whole form on every change and
    swaps in this fragment (the next fires in the schedule's zone, or what is wrong)."""
    if not request.user.is_authenticated:
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        return redirect_to_login(reverse("proactive:schedules"))
    schedule = None
    if "schedule" in request.GET:
        pk = request.GET["schedule"]
        if not pk.isdigit():
            raise Http404("No such schedule.")
        schedule = get_object_for_user(Schedule.objects.all(), request.user, pk=int(pk))
    form = ScheduleForm(request.POST, instance=schedule, user=request.user)
    return render(request, "proactive/_schedule_preview.html", {"preview": _form_preview(form, schedule)})


@login_required
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = titled(get_object_for_user(Schedule.objects.select_related("agent", "workspace"), request.user, pk=pk))
    runs = selectors.schedule_runs(schedule)
    shown = list(runs.order_by("-id")[:RUNS_SHOWN])
    for run in shown:
        run.slot_local = in_zone(run.scheduled_for, schedule.timezone)
    return render(
        request,
        "proactive/schedule_detail.html",
        {
            "schedule": schedule,
            "description": describe(schedule),
            "next_local": in_zone(schedule.next_fire_at, schedule.timezone),
            "last_local": in_zone(schedule.last_fire_at, schedule.timezone),
            "local_times": {
                name: in_zone(getattr(schedule, name), schedule.timezone) for name in ("run_at", "start_at", "end_at")
            },
            "preview": _saved_preview(schedule),
            "runs": shown,
            "run_count": runs.count(),
            "timeline": run_timeline_data(runs.order_by("-id")[:TIMELINE_RUNS]),
            "can_write": user_can_write(request.user, schedule.workspace_id),
            "input_json": pretty_json(schedule.input) if schedule.input else "",
        },
    )


@login_required
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.select_related("agent"), request.user, write=True, pk=pk)
    name = schedule_title(schedule)

    def confirmation() -> dict:
        notes = ["Its runs stay in the agent's history.", "To stop it without losing it, pause it instead."]
        if schedule.is_agent_schedule:
            notes.insert(0, "It is the agent's own schedule: saving the agent with “run on schedule” makes it again.")
        return confirm_context(
            name=name,
            kind="schedule",
            action=reverse("proactive:schedule_delete", args=[schedule.pk]),
            back=reverse("proactive:schedule", args=[schedule.pk]),
            notes=notes,
        )

    return delete_page(
        request,
        schedule,
        message=f"Schedule “{name}” deleted. Its runs stay in the agent's history.",
        success_url=reverse("proactive:schedules"),
        template=CONFIRM_DELETE_TEMPLATE,
        context=confirmation,
    )


@require_POST
@login_required
def schedule_run_view(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.select_related("agent"), request.user, write=True, pk=pk)
    run = schedule_run_now(schedule)
    started_message(request, run, f"schedule “{schedule_title(schedule)}”")
    return redirect("agents:run", pk=run.pk)


@require_POST
@login_required
def schedule_pause_view(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.all(), request.user, write=True, pk=pk)
    schedule_pause(schedule)
    messages.success(request, f"Schedule “{schedule_title(schedule)}” paused: it does not fire until resumed.")
    return redirect("proactive:schedule", pk=schedule.pk)


@require_POST
@login_required
def schedule_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.all(), request.user, write=True, pk=pk)
    try:
        schedule_resume(schedule)
    except timing.ScheduleError as exc:
        messages.error(request, f"Cannot resume: {exc.message}. Edit the schedule to fix it.")
    else:
        when = in_zone(schedule.next_fire_at, schedule.timezone)
        messages.success(
            request,
            f"Schedule “{schedule_title(schedule)}” resumed; next fire {when}."
            if when
            else "Resumed, but no fire time is ahead.",
        )
    return redirect("proactive:schedule", pk=schedule.pk)


def upcoming_fires(user, *, now: datetime | None = None, hours: int = UPCOMING_HOURS, limit: int = UPCOMING_LIMIT):
    """The next fires of the user's enabled schedules within `hours`, soonest first, each
    shown in its schedule's zone (for the overview). A slot already due is listed too."""
    now = now or timezone.now()
    until = now + timedelta(hours=hours)
    schedules = scope_queryset(
        Schedule.objects.select_related("agent").filter(enabled=True, next_fire_at__lte=until), user
    ).order_by("next_fire_at", "id")
    fires: list[dict] = []
    for schedule in schedules.iterator():
        if len(fires) >= limit and schedule.next_fire_at > fires[limit - 1]["at"]:
            break  # ordered by next fire: no later schedule can come before the ones kept
        try:
            instants = timing.fires_between(
                timing.Timing.from_schedule(schedule), after=max(now, schedule.next_fire_at), until=until, limit=limit
            )
        except timing.ScheduleError:
            continue
        instants = [schedule.next_fire_at, *instants][:limit]
        fires.extend(
            {
                "at": at,
                "local": in_zone(at, schedule.timezone),
                "timezone": schedule.timezone,
                "schedule": schedule,
                "title": schedule_title(schedule),
                "due": at <= now,
            }
            for at in instants
        )
        fires.sort(key=lambda fire: (fire["at"], fire["schedule"].pk))
        del fires[limit:]
    return fires
