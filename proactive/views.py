"""Pages for schedules, monitors, triggers, webhooks and suggestions. Every object comes
through `get_object_for_user` (404 outside the user's workspaces, 403 for a viewer's
writes); lists through `scope_queryset`; writes are POSTs that go through
`proactive.services` (and `proactive.mining`), as the API's do."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agents.models import Run, RunSource, RunStatus
from agents.views import pretty_json
from proactive import timing
from proactive.forms import MonitorForm, ScheduleForm, TriggerFireForm, TriggerForm, WebhookForm
from proactive.models import Monitor, MonitorCheck, Schedule, Suggestion, Trigger, Webhook, WebhookDelivery
from proactive.services import (
    monitor_check,
    monitor_pause,
    monitor_resume,
    schedule_pause,
    schedule_resume,
    schedule_run_now,
    schedule_save,
    trigger_fire,
    webhook_replay,
)
from workspaces.scoping import get_object_for_user, scope_queryset, user_can_write, writable_workspaces

PREVIEW_COUNT = 10
RUNS_SHOWN = 50
CHECKS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 50
BODY_SHOWN = 65536
UPCOMING_HOURS = 24
UPCOMING_LIMIT = 20
SECRET_SESSION_KEY = "proactive:webhook-secret:{pk}"  # noqa: S105 (a session key name)


# --- shared helpers -----------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return timing.validate_timezone(name)
    except timing.ScheduleError:
        return ZoneInfo("UTC")


@functools.cache
def timezone_names() -> list[str]:
    """For the timezone field's suggestions (the field itself accepts what timing accepts)."""
    return sorted(available_timezones() - timing.NOT_ZONES)


def in_zone(instant: datetime | None, zone_name: str) -> str:
    """An instant as wall time in a schedule's zone, with the zone's abbreviation."""
    if instant is None:
        return ""
    local = instant.astimezone(_zone(zone_name))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if local.second else "%Y-%m-%d %H:%M %Z")


def every_text(seconds: int | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    return "Every second" if seconds == 1 else f"Every {seconds} seconds"


def describe_schedule(schedule_timing: timing.Timing) -> str:
    """One line saying when a schedule fires: cron in words, "Every 5 minutes", "Once, at …"."""
    kind, cron = schedule_timing.kind, schedule_timing.cron
    if kind == Schedule.Kind.CRON and cron:
        try:
            return timing.describe_cron(cron)
        except timing.ScheduleError:
            return ""
    if kind == Schedule.Kind.INTERVAL:
        return every_text(schedule_timing.interval_seconds)
    if kind == Schedule.Kind.ONCE and schedule_timing.run_at:
        return f"Once, at {in_zone(schedule_timing.run_at, schedule_timing.tz)}"
    return ""


def _describe(schedule: Schedule) -> str:
    return describe_schedule(timing.Timing.from_schedule(schedule))


def schedule_title(schedule: Schedule) -> str:
    """Its name, or what it does and for whom ("Every 10 minutes · Reporter")."""
    if schedule.name:
        return schedule.name
    return f"{_describe(schedule) or schedule.get_kind_display()} · {schedule.agent.name}"


def _titled(schedule: Schedule) -> Schedule:
    schedule.title = schedule_title(schedule)
    return schedule


def _started_message(request: HttpRequest, run: Run, what: str) -> None:
    if run.status == RunStatus.SKIPPED:
        messages.warning(request, f"Run #{run.pk} was skipped: {run.reason}")
    else:
        messages.success(request, f"Run #{run.pk} of {what} started.")


def _confirm_delete(request: HttpRequest, *, name: str, kind: str, action: str, back: str, notes: list[str]):
    return render(
        request,
        "proactive/confirm_delete.html",
        {"name": name, "kind": kind, "action_url": action, "cancel_url": back, "notes": notes},
    )


# --- schedules ----------------------------------------------------------------------------


@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = list(
        scope_queryset(Schedule.objects.select_related("agent", "workspace"), request.user).order_by(
            F("next_fire_at").asc(nulls_last=True), "id"
        )
    )
    for schedule in schedules:
        _titled(schedule)
        schedule.description = _describe(schedule)
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


def _save_schedule(request: HttpRequest, form: ScheduleForm, *, created: bool) -> HttpResponse | None:
    schedule = form.save(commit=False)
    try:
        schedule_save(schedule)
    except timing.ScheduleError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None
    verb = "created" if created else "saved"
    messages.success(request, f"Schedule “{schedule_title(schedule)}” {verb}.")
    if schedule.enabled and schedule.next_fire_at is None:
        messages.warning(request, "It has no fire time ahead, so it will not run: check the run-at time and the end.")
    return redirect("proactive:schedule", pk=schedule.pk)


@login_required
def schedule_create(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST or None, user=request.user)
    if request.method == "GET" and request.GET.get("agent", "").isdigit():
        form.initial["agent"] = int(request.GET["agent"])
    if request.method == "POST" and form.is_valid():
        response = _save_schedule(request, form, created=True)
        if response is not None:
            return response
    return _schedule_form_page(request, form, None)


@login_required
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.select_related("agent"), request.user, write=True, pk=pk)
    title = schedule_title(schedule)  # before the form changes the instance
    form = ScheduleForm(request.POST or None, instance=schedule, user=request.user)
    if request.method == "POST" and form.is_valid():
        response = _save_schedule(request, form, created=False)
        if response is not None:
            return response
    schedule.title = title
    return _schedule_form_page(request, form, schedule)


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
    return {"description": _describe(schedule), "timezone": schedule.timezone, "fires": fires, "kind": schedule.kind}


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
    schedule = _titled(get_object_for_user(Schedule.objects.select_related("agent", "workspace"), request.user, pk=pk))
    runs = Run.objects.filter(agent_id=schedule.agent_id, source=RunSource.SCHEDULE, source_ref=schedule.source_ref)
    shown = list(runs.order_by("-id")[:RUNS_SHOWN])
    for run in shown:
        run.slot_local = in_zone(run.scheduled_for, schedule.timezone)
    return render(
        request,
        "proactive/schedule_detail.html",
        {
            "schedule": schedule,
            "description": _describe(schedule),
            "next_local": in_zone(schedule.next_fire_at, schedule.timezone),
            "last_local": in_zone(schedule.last_fire_at, schedule.timezone),
            "local_times": {
                name: in_zone(getattr(schedule, name), schedule.timezone) for name in ("run_at", "start_at", "end_at")
            },
            "preview": _saved_preview(schedule),
            "runs": shown,
            "run_count": runs.count(),
            "can_write": user_can_write(request.user, schedule.workspace_id),
            "input_json": pretty_json(schedule.input) if schedule.input else "",
        },
    )


@login_required
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.select_related("agent"), request.user, write=True, pk=pk)
    if request.method == "POST":
        name = schedule_title(schedule)
        schedule.delete()
        messages.success(request, f"Schedule “{name}” deleted. Its runs stay in the agent's history.")
        return redirect("proactive:schedules")
    notes = ["Its runs stay in the agent's history.", "To stop it without losing it, pause it instead."]
    if schedule.is_agent_schedule:
        notes.insert(0, "It is the agent's own schedule: saving the agent with “run on schedule” makes it again.")
    return _confirm_delete(
        request,
        name=schedule_title(schedule),
        kind="schedule",
        action=reverse("proactive:schedule_delete", args=[schedule.pk]),
        back=reverse("proactive:schedule", args=[schedule.pk]),
        notes=notes,
    )


@require_POST
@login_required
def schedule_run_view(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_for_user(Schedule.objects.select_related("agent"), request.user, write=True, pk=pk)
    run = schedule_run_now(schedule)
    _started_message(request, run, f"schedule “{schedule_title(schedule)}”")
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


# --- monitors -----------------------------------------------------------------------------


@login_required
def monitor_list(request: HttpRequest) -> HttpResponse:
    latest = MonitorCheck.objects.filter(monitor=OuterRef("pk")).order_by("-checked_at", "-id")
    monitors = scope_queryset(Monitor.objects.select_related("agent", "workspace"), request.user).annotate(
        last_result=Subquery(latest.values("result")[:1]),
        last_summary=Subquery(latest.values("summary")[:1]),
        last_error=Subquery(latest.values("error")[:1]),
    )
    return render(
        request,
        "proactive/monitor_list.html",
        {"monitors": monitors, "can_create": writable_workspaces(request.user).exists()},
    )


def _save_monitor(request: HttpRequest, form: MonitorForm, *, created: bool) -> HttpResponse:
    monitor = form.save(commit=False)
    if monitor.enabled:
        monitor.next_check_at = timezone.now()  # as the API: check soon after a change
    monitor.save()
    messages.success(request, f"Monitor “{monitor.name}” {'created' if created else 'saved'}.")
    return redirect("proactive:monitor", pk=monitor.pk)


@login_required
def monitor_create(request: HttpRequest) -> HttpResponse:
    form = MonitorForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        return _save_monitor(request, form, created=True)
    return render(request, "proactive/monitor_form.html", {"form": form, "monitor": None})


@login_required
def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_for_user(Monitor.objects.all(), request.user, write=True, pk=pk)
    form = MonitorForm(request.POST or None, instance=monitor, user=request.user)
    if request.method == "POST" and form.is_valid():
        return _save_monitor(request, form, created=False)
    return render(request, "proactive/monitor_form.html", {"form": form, "monitor": monitor})


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
    if request.method == "POST":
        name = monitor.name
        monitor.delete()
        messages.success(request, f"Monitor “{name}” deleted, with its check history.")
        return redirect("proactive:monitors")
    count = monitor.checks.count()
    return _confirm_delete(
        request,
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


# --- triggers -----------------------------------------------------------------------------


@login_required
def trigger_list(request: HttpRequest) -> HttpResponse:
    triggers = scope_queryset(Trigger.objects.select_related("agent", "workspace"), request.user).annotate(
        webhook_count=Count("webhooks")
    )
    return render(
        request,
        "proactive/trigger_list.html",
        {"triggers": triggers, "can_create": writable_workspaces(request.user).exists()},
    )


@login_required
def trigger_create(request: HttpRequest) -> HttpResponse:
    form = TriggerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        trigger = form.save()
        messages.success(request, f"Trigger “{trigger.name}” created.")
        return redirect("proactive:trigger", pk=trigger.pk)
    return render(request, "proactive/trigger_form.html", {"form": form, "trigger": None})


@login_required
def trigger_edit(request: HttpRequest, pk: int) -> HttpResponse:
    trigger = get_object_for_user(Trigger.objects.all(), request.user, write=True, pk=pk)
    form = TriggerForm(request.POST or None, instance=trigger, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Trigger “{trigger.name}” saved.")
        return redirect("proactive:trigger", pk=trigger.pk)
    return render(request, "proactive/trigger_form.html", {"form": form, "trigger": trigger})


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
    _started_message(request, run, f"trigger “{trigger.name}”")
    return redirect("agents:run", pk=run.pk)


@login_required
def trigger_delete(request: HttpRequest, pk: int) -> HttpResponse:
    trigger = get_object_for_user(Trigger.objects.all(), request.user, write=True, pk=pk)
    if request.method == "POST":
        name = trigger.name
        trigger.delete()
        messages.success(request, f"Trigger “{name}” deleted, with its webhooks.")
        return redirect("proactive:triggers")
    count = trigger.webhooks.count()
    notes = ["The runs it started stay in the agent's history."]
    if count:
        notes.insert(0, f"Its {count} webhook{'s' if count != 1 else ''} and their deliveries are deleted too: "
                     "senders get 404 from then on.")  # fmt: skip
    return _confirm_delete(
        request,
        name=trigger.name,
        kind="trigger",
        action=reverse("proactive:trigger_delete", args=[trigger.pk]),
        back=reverse("proactive:trigger", args=[trigger.pk]),
        notes=notes,
    )


# --- webhooks -----------------------------------------------------------------------------


def webhook_url(webhook: Webhook) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/api/hooks/{webhook.url_path}"


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    webhooks = list(
        scope_queryset(Webhook.objects.select_related("trigger", "trigger__agent", "workspace"), request.user).annotate(
            delivery_count=Count("deliveries"), last_delivery=Max("deliveries__received_at")
        )
    )
    for webhook in webhooks:
        webhook.full_url = webhook_url(webhook)
    return render(
        request,
        "proactive/webhook_list.html",
        {"webhooks": webhooks, "can_create": writable_workspaces(request.user).exists()},
    )


def _stash_secret(request: HttpRequest, webhook: Webhook) -> None:
    """Shown once: the detail page pops it from the session on its next view."""
    request.session[SECRET_SESSION_KEY.format(pk=webhook.pk)] = webhook.secret


@login_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    from proactive.signatures import get_scheme

    form = WebhookForm(request.POST or None, user=request.user)
    if request.method == "GET" and request.GET.get("trigger", "").isdigit():
        form.initial["trigger"] = int(request.GET["trigger"])
    if request.method == "POST" and form.is_valid():
        webhook = form.save(commit=False)
        webhook.secret = get_scheme(webhook.scheme).generate_secret()
        webhook.save()
        _stash_secret(request, webhook)
        messages.success(request, f"Webhook “{webhook}” created.")
        return redirect("proactive:webhook", pk=webhook.pk)
    return render(request, "proactive/webhook_form.html", {"form": form, "webhook": None})


@login_required
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_for_user(Webhook.objects.select_related("trigger"), request.user, write=True, pk=pk)
    form = WebhookForm(request.POST or None, instance=webhook, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Webhook “{webhook}” saved.")
        return redirect("proactive:webhook", pk=webhook.pk)
    return render(request, "proactive/webhook_form.html", {"form": form, "webhook": webhook})


@never_cache
@login_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from proactive.signatures import get_scheme

    webhook = get_object_for_user(
        Webhook.objects.select_related("trigger", "trigger__agent", "workspace"), request.user, pk=pk
    )
    new_secret = request.session.pop(SECRET_SESSION_KEY.format(pk=webhook.pk), None)
    deliveries = webhook.deliveries.select_related("run").order_by("-received_at", "-id")
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    try:
        scheme_label = get_scheme(webhook.scheme).label
    except KeyError:
        scheme_label = webhook.scheme
    return render(
        request,
        "proactive/webhook_detail.html",
        {
            "webhook": webhook,
            "url": webhook_url(webhook),
            "scheme_label": scheme_label,
            "new_secret": new_secret,
            "page": page,
            "deliveries": page.object_list,
            "can_write": user_can_write(request.user, webhook.workspace_id),
        },
    )


@require_POST
@login_required
def webhook_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    from proactive.signatures import get_scheme

    webhook = get_object_for_user(Webhook.objects.all(), request.user, write=True, pk=pk)
    webhook.secret = get_scheme(webhook.scheme).generate_secret()
    webhook.save(update_fields=["secret", "updated"])
    _stash_secret(request, webhook)
    messages.success(request, "New secret made: deliveries signed with the old one are refused from now on.")
    return redirect("proactive:webhook", pk=webhook.pk)


@login_required
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_for_user(Webhook.objects.all(), request.user, write=True, pk=pk)
    if request.method == "POST":
        name = str(webhook)
        webhook.delete()
        messages.success(request, f"Webhook “{name}” deleted; its URL answers 404 from now on.")
        return redirect("proactive:webhooks")
    count = webhook.deliveries.count()
    return _confirm_delete(
        request,
        name=str(webhook),
        kind="webhook",
        action=reverse("proactive:webhook_delete", args=[webhook.pk]),
        back=reverse("proactive:webhook", args=[webhook.pk]),
        notes=[
            f"Its {count} stored deliver{'ies' if count != 1 else 'y'} are deleted with it.",
            "Senders still using its URL get 404.",
        ],
    )


def _get_delivery(request: HttpRequest, pk: int, delivery_pk: int, *, write: bool = False) -> WebhookDelivery:
    return get_object_for_user(
        WebhookDelivery.objects.select_related("webhook", "webhook__trigger", "run", "replay_of").filter(webhook_id=pk),
        request.user,
        write=write,
        field="webhook__workspace",
        pk=delivery_pk,
    )


def _body_text(delivery: WebhookDelivery) -> str:
    """The body for people: indented when it is JSON, cut at BODY_SHOWN bytes."""
    raw = bytes(delivery.body)
    if len(raw) > BODY_SHOWN:
        shown = raw[:BODY_SHOWN].decode("utf-8", "replace")
        return f"{shown}\n… ({len(raw) - BODY_SHOWN:,} more bytes not shown)"
    try:
        return pretty_json(json.loads(raw))
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


def _delivery_page(request: HttpRequest, delivery: WebhookDelivery, dry_run: dict | None = None) -> HttpResponse:
    return render(
        request,
        "proactive/delivery_detail.html",
        {
            "delivery": delivery,
            "webhook": delivery.webhook,
            "headers_json": pretty_json(delivery.headers),
            "body_text": _body_text(delivery),
            "replays": delivery.replays.select_related("run").order_by("-id"),
            "dry_run": dry_run,
            "can_write": user_can_write(request.user, delivery.webhook.workspace_id),
        },
    )


@login_required
def delivery_detail(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    return _delivery_page(request, _get_delivery(request, pk, delivery_pk))


@require_POST
@login_required
def delivery_replay(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """Replay (fires the trigger again, recorded as a new delivery) or dry run (shows the
    rendered task and whether the filters match; changes nothing)."""
    delivery = _get_delivery(request, pk, delivery_pk, write=True)
    if request.POST.get("mode") == "dry_run":
        return _delivery_page(request, delivery, dry_run=webhook_replay(delivery, dry_run=True))
    result = webhook_replay(delivery)
    if result.get("run_id"):
        messages.success(request, f"Replayed as delivery #{result['delivery_id']}: run #{result['run_id']} started.")
        return redirect("agents:run", pk=result["run_id"])
    if result.get("delivery_id"):
        messages.warning(request, f"Replayed as delivery #{result['delivery_id']}, but no run: {result['reason']}.")
        return redirect("proactive:delivery", pk=pk, delivery_pk=result["delivery_id"])
    messages.error(request, f"Not replayed: {result['reason']}.")
    return redirect("proactive:delivery", pk=pk, delivery_pk=delivery.pk)


# --- suggestions --------------------------------------------------------------------------

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
            _titled(suggestion.schedule)
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
