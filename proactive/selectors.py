"""Reads of the proactive app that are more than one line (HackSoft style: writes in
services/, reads here)."""

from __future__ import annotations

from django.db.models import CharField, Count, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from agents.models import Agent, Run, RunSource
from proactive.models import Monitor, MonitorCheck, Schedule, Trigger, WebhookDelivery
from workspaces.scoping import scope_queryset

# What the webhook source reads of a pending delivery, in this order.
PENDING_DELIVERY_FIELDS = (
    "id", "webhook_id", "webhook__trigger_id", "body", "headers", "event_type", "delivery_id", "reason",
)  # fmt: skip


def pending_deliveries(*, limit: int) -> list[tuple]:
    """Accepted deliveries whose run is still to start, oldest first (PENDING_DELIVERY_FIELDS)."""
    return list(
        WebhookDelivery.objects.filter(pending=True).order_by("id").values_list(*PENDING_DELIVERY_FIELDS)[:limit]
    )


def webhooks_over_delivery_count(keep: int) -> list[int | None]:
    """The webhooks (None: requests to unknown paths) with more than `keep` deliveries."""
    over = WebhookDelivery.objects.values("webhook_id").annotate(count=Count("id")).filter(count__gt=keep)
    return list(over.values_list("webhook_id", flat=True))


def agent_schedule(agent: Agent) -> Schedule | None:
    """The schedule that the agent's own `schedule` field drives, if it has one."""
    return Schedule.objects.filter(agent=agent, is_agent_schedule=True).first()


def monitor_recent_check_ids(monitor: Monitor) -> list[int]:
    """The ids of the monitor's newest checks, as many as its history keeps."""
    newest = monitor.checks.order_by("-checked_at", "-id").values_list("id", flat=True)
    return list(newest[: monitor.history_limit])


def monitor_runs(monitor: Monitor) -> QuerySet[Run]:
    """The runs this monitor started (flips, reminders, recoveries), skipped ones included."""
    return Run.objects.filter(agent_id=monitor.agent_id, source=RunSource.MONITOR, source_ref=f"monitor:{monitor.pk}")


def monitor_run_count(monitor: Monitor) -> int:
    return monitor_runs(monitor).count()


def with_monitor_run_counts(queryset: QuerySet[Monitor]) -> QuerySet[Monitor]:
    """Annotates `run_count` (the API's trigger_count) with one subquery, for lists."""
    runs = Run.objects.filter(
        agent_id=OuterRef("agent_id"),
        source=RunSource.MONITOR,
        source_ref=Concat(Value("monitor:"), Cast(OuterRef("pk"), CharField())),
    )
    counted = runs.order_by().values("agent_id").annotate(n=Count("id")).values("n")[:1]
    return queryset.annotate(run_count=Coalesce(Subquery(counted), 0))


def monitors_for_list(user) -> QuerySet[Monitor]:
    """The user's monitors with their latest check's result, summary and error."""
    latest = MonitorCheck.objects.filter(monitor=OuterRef("pk")).order_by("-checked_at", "-id")
    return scope_queryset(Monitor.objects.select_related("agent", "workspace"), user).annotate(
        last_result=Subquery(latest.values("result")[:1]),
        last_summary=Subquery(latest.values("summary")[:1]),
        last_error=Subquery(latest.values("error")[:1]),
    )


def triggers_for_list(user) -> QuerySet[Trigger]:
    """The user's triggers with how many webhooks each has."""
    return scope_queryset(Trigger.objects.select_related("agent", "workspace"), user).annotate(
        webhook_count=Count("webhooks")
    )


def schedule_runs(schedule: Schedule) -> QuerySet[Run]:
    """The runs this schedule started."""
    return Run.objects.filter(agent_id=schedule.agent_id, source=RunSource.SCHEDULE, source_ref=schedule.source_ref)
