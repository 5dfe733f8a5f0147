"""Writes of the proactive app: schedule fires, monitor checks, trigger fires, webhook
deliveries. Every run starts through agents.services.start_run."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents import events as agent_events
from agents.models import Agent, Run, RunSource
from agents.services import RunRequest, record_missed_run, start_run
from gradent.lib.jsonutil import jsonable
from gradent.lib.templating import TemplateError, render_string
from proactive import timing
from proactive.models import Monitor, MonitorCheck, Schedule, Trigger, WebhookDelivery, parse_body

logger = logging.getLogger(__name__)
MONITOR_FLIPPED = "monitor_flipped"
CATCHUP_SCAN_LIMIT = 1000


# --- schedules ----------------------------------------------------------------------------
def schedule_validate(schedule: Schedule) -> None:
    """Raise timing.ScheduleError naming the field when the schedule cannot fire."""
    timing.validate_timezone(schedule.timezone)
    if schedule.kind == Schedule.Kind.CRON:
        schedule.cron_expression = timing.validate_cron(schedule.cron_expression)
    elif schedule.kind == Schedule.Kind.INTERVAL:
        if not schedule.interval_seconds:
            raise timing.ScheduleError("An interval schedule needs interval_seconds.", field="interval_seconds")
    elif schedule.kind == Schedule.Kind.ONCE:
        if not schedule.run_at:
            raise timing.ScheduleError("A one-off schedule needs run_at.", field="run_at")
    if schedule.start_at and schedule.end_at and schedule.end_at <= schedule.start_at:
        raise timing.ScheduleError("The end must be after the start.", field="end_at")


def schedule_compute_next(schedule: Schedule, *, after: datetime) -> datetime | None:
    kwargs = schedule.timing_kwargs()
    if kwargs["anchor"] is None:
        kwargs["anchor"] = after
    return timing.next_fire(after=after, **kwargs)


def schedule_save(schedule: Schedule, *, now: datetime | None = None) -> Schedule:
    """Validate, compute the next fire from now, save."""
    now = now or timezone.now()
    schedule_validate(schedule)
    if schedule.kind == Schedule.Kind.INTERVAL and schedule.anchor is None:
        schedule.anchor = schedule.start_at or now
    schedule.next_fire_at = schedule_compute_next(schedule, after=now) if schedule.enabled else None
    schedule.error = ""
    schedule.save()
    return schedule


def schedule_pause(schedule: Schedule) -> Schedule:
    schedule.enabled = False
    schedule.next_fire_at = None
    schedule.save(update_fields=["enabled", "next_fire_at", "updated"])
    return schedule


def schedule_resume(schedule: Schedule, *, now: datetime | None = None) -> Schedule:
    """Resume from now on: the fires of the paused period are not owed (they were paused,
    not missed)."""
    schedule.enabled = True
    return schedule_save(schedule, now=now)


def _schedule_input(schedule: Schedule, **extra) -> dict:
    data = dict(schedule.input or {})
    if schedule.task_description:
        data["task"] = schedule.task_description
    data.update(extra)
    return data


def schedule_run_now(schedule: Schedule) -> Run:
    return start_run(
        schedule.agent,
        source=RunSource.SCHEDULE,
        source_ref=schedule.source_ref,
        input=_schedule_input(schedule),
        overlap_policy=schedule.overlap_policy or None,
    )


def _fire_slot(schedule: Schedule, slot: datetime, *, extra_input: dict | None = None) -> Run:
    not_before = None
    if schedule.jitter_seconds:
        not_before = timing.jittered(slot, schedule.jitter_seconds, seed=schedule.source_ref)
    return start_run(
        schedule.agent,
        source=RunSource.SCHEDULE,
        source_ref=schedule.source_ref,
        input=_schedule_input(schedule, **(extra_input or {})),
        scheduled_for=slot,
        slot_key=schedule.slot_key(slot),
        not_before=not_before,
        overlap_policy=schedule.overlap_policy or None,
    )


@dataclass
class SimpleFire:
    """A schedule's due fire when it is on time and alone (no missed slots): what a batch
    needs to fire it together with others."""

    schedule: Schedule
    slot: datetime
    next_fire_at: datetime | None
    request: RunRequest

    def fits(self, now: datetime) -> bool:
        """True when, at `now`, the slot is this schedule's only due fire and on time;
        else schedule_fire_due decides (missed slots, catch-up)."""
        late = (now - self.slot).total_seconds() > settings.GRADENT_FIRE_LATE_SECONDS
        return self.slot <= now and not late and (self.next_fire_at is None or self.next_fire_at > now)


def schedule_plan_fire(schedule: Schedule) -> SimpleFire | None:
    """The schedule's next fire as a batch fires it, or None when its timing raises (then
    schedule_fire_due meets the error and disables it)."""
    slot = schedule.next_fire_at
    if slot is None:
        return None
    try:
        following = timing.next_fire_shared(after=slot, **schedule.timing_kwargs())
    except Exception:
        return None
    not_before = None
    if schedule.jitter_seconds:
        not_before = timing.jittered(slot, schedule.jitter_seconds, seed=schedule.source_ref)
    return SimpleFire(
        schedule=schedule,
        slot=slot,
        next_fire_at=following,
        request=RunRequest(
            schedule.agent_id,
            source=RunSource.SCHEDULE,
            source_ref=schedule.source_ref,
            input=_schedule_input(schedule),
            scheduled_for=slot,
            slot_key=schedule.slot_key(slot),
            not_before=not_before,
            overlap_policy=schedule.overlap_policy or None,
        ),
    )


def schedule_fire_batch(fires: list[SimpleFire], *, now: datetime) -> int:
    """Start the fires' runs with one start_runs call and advance their schedules with one
    bulk_update. Returns how many runs were started (or recorded as skipped)."""
    from agents.services import start_runs

    runs = start_runs([fire.request for fire in fires])
    schedules = []
    for fire, run in zip(fires, runs, strict=True):
        schedule = fire.schedule
        schedule.last_fire_at, schedule.last_run_id, schedule.updated = fire.slot, run.pk, now
        schedule.next_fire_at = fire.next_fire_at
        schedule.enabled = not (fire.next_fire_at is None and schedule.kind == Schedule.Kind.ONCE)
        schedules.append(schedule)
    Schedule.objects.bulk_update(
        schedules, ["last_fire_at", "last_run", "next_fire_at", "enabled", "updated"], batch_size=500
    )
    return len(runs)


# What a batch fire reads of a schedule.
FIRE_FIELDS = (
    "agent_id", "kind", "timezone", "cron_expression", "interval_seconds", "anchor", "created", "run_at",
    "start_at", "end_at", "next_fire_at", "jitter_seconds", "input", "task_description", "overlap_policy", "updated",
)  # fmt: skip


def schedule_fire_due(schedule: Schedule, *, now: datetime) -> list[Run]:
    """Fire what is due for one schedule and advance it. Fires later than
    GRADENT_FIRE_LATE_SECONDS are misfires (the dispatcher was down); the misfire policy
    says what happens to them, and one `missed` run summarises each gap."""
    slot = schedule.next_fire_at
    if slot is None or slot > now:
        return []
    kwargs = schedule.timing_kwargs()
    slots = [slot, *timing.fires_between(after=slot, until=now, limit=CATCHUP_SCAN_LIMIT, **kwargs)]
    late_limit = timedelta(seconds=settings.GRADENT_FIRE_LATE_SECONDS)
    on_time = [s for s in slots if now - s <= late_limit]
    missed = [s for s in slots if now - s > late_limit]
    runs: list[Run] = []
    fired_missed: list[datetime] = []
    if missed:
        policy = schedule.misfire_policy
        if policy == Schedule.Misfire.RUN_ONCE and not on_time:
            fired_missed = missed[-1:]
            runs.append(_fire_slot(schedule, missed[-1], extra_input={"missed_fires": len(missed) - 1}))
        elif policy == Schedule.Misfire.RUN_ALL:
            grace = timedelta(seconds=schedule.misfire_grace_seconds)
            fired_missed = [s for s in missed if now - s <= grace][-schedule.max_catchup :]
            runs.extend(_fire_slot(schedule, s) for s in fired_missed)
        unfired = [s for s in missed if s not in fired_missed]
        if unfired:
            more = "at least " if len(slots) > CATCHUP_SCAN_LIMIT else ""
            record_missed_run(
                schedule.agent,
                source=RunSource.SCHEDULE,
                source_ref=schedule.source_ref,
                reason=(
                    f"{more}{len(unfired)} fire(s) from {unfired[0]:%Y-%m-%d %H:%M:%S} to "
                    f"{unfired[-1]:%Y-%m-%d %H:%M:%S} UTC were more than {settings.GRADENT_FIRE_LATE_SECONDS} s "
                    "late (the dispatcher was down or behind); "
                    f"misfire policy '{policy}'" + (f" ran {len(fired_missed)} of them." if fired_missed else ".")
                ),
                scheduled_for=unfired[-1],
                slot_key=f"{schedule.slot_key(unfired[-1])}:missed",
                input={"missed_fires": len(unfired), "first": unfired[0].isoformat(), "last": unfired[-1].isoformat()},
            )
    runs.extend(_fire_slot(schedule, s) for s in on_time)
    schedule.last_fire_at = slots[-1]
    if runs:
        schedule.last_run = runs[-1]
    schedule.next_fire_at = schedule_compute_next(schedule, after=max(now, slots[-1]))
    if schedule.next_fire_at is None and schedule.kind == Schedule.Kind.ONCE:
        schedule.enabled = False
    schedule.save(update_fields=["last_fire_at", "last_run", "next_fire_at", "enabled", "updated"])
    return runs


def schedule_disable_with_error(schedule_id: int, error: str) -> None:
    Schedule.objects.filter(pk=schedule_id).update(enabled=False, next_fire_at=None, error=error[:2000])


def agent_sync_schedule(agent: Agent) -> Schedule | None:
    """The scheduled-agents design: Agent.schedule (cron) + run_on_schedule create or update
    the agent's own Schedule (in the server's TIME_ZONE), or pause it."""
    schedule = Schedule.objects.filter(agent=agent, is_agent_schedule=True).first()
    if not agent.schedule or not agent.run_on_schedule:
        if schedule is not None and schedule.enabled:
            schedule_pause(schedule)
        return schedule
    if schedule is None:
        schedule = Schedule(
            workspace_id=agent.workspace_id,
            agent=agent,
            is_agent_schedule=True,
            name=f"{agent.name} (agent schedule)",
            timezone=settings.TIME_ZONE,
        )
    schedule.kind = Schedule.Kind.CRON
    schedule.cron_expression = agent.schedule
    schedule.enabled = True
    return schedule_save(schedule)


# --- monitors -----------------------------------------------------------------------------
def monitor_check(monitor_id: int, *, now: datetime | None = None) -> MonitorCheck | None:
    """Probe, evaluate the condition, advance the state machine, run the agent on a flip."""
    from proactive.conditions import ConditionError, compile_condition
    from proactive.probes import get_probe_class
    from proactive.probes.base import ProbeContext, ProbeError

    monitor = Monitor.objects.select_related("agent").filter(pk=monitor_id).first()
    if monitor is None:
        return None
    now = now or timezone.now()
    started = time.monotonic()
    values: dict[str, Any] = {}
    summary, error, result = "", "", None
    try:
        probe_class = get_probe_class(monitor.probe)
        probe = probe_class(monitor.probe_config)
        probed = probe.check(context=ProbeContext(workspace_id=monitor.workspace_id, monitor_id=monitor.pk, now=now))
        values, summary = probed.values, probed.summary
        if monitor.probe == "llm":
            result = bool(values.get("answer"))
        else:
            result = compile_condition(monitor.condition, names=probe_class.names).evaluate(values)
    except (ProbeError, ConditionError, KeyError, ImportError) as exc:
        error = str(exc) or exc.__class__.__name__
        values = getattr(exc, "values", None) or values
    duration_ms = int((time.monotonic() - started) * 1000)

    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().select_related("agent").get(pk=monitor_id)
        flipped, run, flip_event = False, None, {}
        if result is not None:
            target = Monitor.State.TRIGGERED if result else Monitor.State.CLEAR
            if monitor.state == target:
                monitor.streak = 0
                if _reminder_due(monitor, now):
                    run = _monitor_run(monitor, values, now, why="reminder: still triggered")
            else:
                monitor.streak += 1
                needed = monitor.trigger_after if target == Monitor.State.TRIGGERED else monitor.clear_after
                if monitor.state == Monitor.State.UNKNOWN and target == Monitor.State.CLEAR:
                    needed = 1  # learning the first state is not news
                if monitor.streak >= needed:
                    was = monitor.state
                    monitor.state, monitor.streak, monitor.last_flip_at, flipped = target, 0, now, True
                    flip_event = {"monitor": monitor, "previous_state": was, "summary": summary or error}
                    wants_run = target == Monitor.State.TRIGGERED or (
                        monitor.run_on_recovery and was == Monitor.State.TRIGGERED
                    )
                    if wants_run and not _in_cooldown(monitor, now):
                        run = _monitor_run(monitor, values, now, why=f"flipped from {was} to {target}")
        monitor.last_checked_at = now
        monitor.save(update_fields=["state", "streak", "last_checked_at", "last_flip_at", "last_run_at", "updated"])
        check = MonitorCheck.objects.create(
            monitor=monitor,
            checked_at=now,
            result=result,
            values=jsonable(values),
            summary=summary[:300],
            error=error,
            duration_ms=duration_ms,
            state_after=monitor.state,
            flipped=flipped,
            run=run,
        )
        _trim_history(monitor)
        if flipped and flip_event["previous_state"] != Monitor.State.UNKNOWN:
            flip_event["run"] = run
            transaction.on_commit(lambda: agent_events.publish(MONITOR_FLIPPED, **flip_event))
    return check


def _in_cooldown(monitor: Monitor, now: datetime) -> bool:
    return bool(
        monitor.cooldown_seconds
        and monitor.last_run_at
        and now - monitor.last_run_at < timedelta(seconds=monitor.cooldown_seconds)
    )


def _reminder_due(monitor: Monitor, now: datetime) -> bool:
    return bool(
        monitor.state == Monitor.State.TRIGGERED
        and monitor.reminder_seconds
        and monitor.last_run_at
        and now - monitor.last_run_at >= timedelta(seconds=monitor.reminder_seconds)
    )


def _monitor_run(monitor: Monitor, values: dict, now: datetime, *, why: str) -> Run:
    monitor.last_run_at = now
    task = monitor.action or f"Monitor '{monitor.name}' is now {monitor.state}: {monitor.condition}"
    return start_run(
        monitor.agent,
        source=RunSource.MONITOR,
        source_ref=f"monitor:{monitor.pk}",
        input={"task": task, "monitor_event": why},
        payload={
            "monitor": monitor.name,
            "state": monitor.state,
            "condition": monitor.condition,
            "values": jsonable(values),
        },
    )


def _trim_history(monitor: Monitor) -> None:
    keep = list(monitor.checks.order_by("-checked_at", "-id").values_list("id", flat=True)[: monitor.history_limit])
    if len(keep) >= monitor.history_limit:
        monitor.checks.exclude(id__in=keep).delete()


def monitor_pause(monitor: Monitor) -> Monitor:
    monitor.enabled = False
    monitor.save(update_fields=["enabled", "updated"])
    return monitor


def monitor_resume(monitor: Monitor) -> Monitor:
    monitor.enabled = True
    monitor.next_check_at = timezone.now()
    monitor.save(update_fields=["enabled", "next_check_at", "updated"])
    return monitor


# --- triggers -----------------------------------------------------------------------------
# `{{ dotted.path }}` (the safe engine's grammar, checked by it) or the original `{key}`.
_PLACEHOLDERS = re.compile(r"\{\{(.*?)\}\}|(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})", re.DOTALL)


def render_task(template: str, payload: dict) -> str:
    """`{{ dotted.path }}` placeholders (the safe engine), and the original examples'
    `{pr_number}` style for top-level keys. A missing `{{ path }}` renders as a visible
    `[missing: path]` marker (an unknown `{key}` stays as written). One pass: text that
    came from the payload is never read as template."""
    if not template:
        return ""
    data = payload if isinstance(payload, dict) else {}
    context = {**data, "payload": payload}

    def fill(match: re.Match) -> str:
        if match.group(2) is not None:
            key = match.group(2)
            return render_string("{{ " + key + " }}", data) if key in data else match.group(0)
        try:
            return render_string(match.group(0), context)
        except TemplateError:
            return f"[missing: {match.group(1).strip()}]"

    return _PLACEHOLDERS.sub(fill, template)


def _path(payload: Any, dotted: str) -> Any:
    value = payload
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def trigger_matches(trigger: Trigger, *, payload: dict, event_type: str | None) -> tuple[bool, str]:
    """Filters from the trigger's config: events (or the original `event`), match on payload
    paths, and a GitHub repository. Returns (matches, why not)."""
    config = trigger.config or {}
    events = config.get("events") or config.get("event") or []
    if isinstance(events, str):
        events = [events]
    if events and event_type not in events:
        return False, f"event {event_type or '(none)'} is not one of {', '.join(map(str, events))}"
    for path, expected in (config.get("match") or {}).items():
        actual = _path(payload, path)
        allowed = expected if isinstance(expected, list) else [expected]
        if actual not in allowed:
            return False, f"{path} is {actual!r}, not {expected!r}"
    repository = config.get("repository")
    full_name = _path(payload, "repository.full_name")
    if repository and (not isinstance(full_name, str) or full_name.casefold() != str(repository).casefold()):
        return False, f"repository is not {repository}"
    return True, ""


def trigger_fire(
    trigger: Trigger,
    *,
    payload: dict | None = None,
    event_type: str | None = None,
    source: str = RunSource.TRIGGER,
    slot_key: str | None = None,
    check_filters: bool = True,
) -> tuple[Run | None, str]:
    """Start the trigger's agent with the rendered task and the payload (fenced as data
    by the executor). Returns (run, "") or (None, why it did not fire)."""
    payload = payload or {}
    if not trigger.enabled:
        return None, "trigger is disabled"
    if check_filters:
        ok, why = trigger_matches(trigger, payload=payload, event_type=event_type)
        if not ok:
            return None, why
    run = start_run(
        trigger.agent,
        source=source,
        source_ref=f"trigger:{trigger.pk}",
        input=_trigger_input(trigger, payload, event_type),
        payload=payload,
        slot_key=slot_key,
    )
    Trigger.objects.filter(pk=trigger.pk).update(fire_count=F("fire_count") + 1, last_fired_at=timezone.now())
    return run, ""


def _trigger_input(trigger: Trigger, payload: dict, event_type: str | None) -> dict:
    run_input = {"trigger": trigger.name}
    task = render_task(trigger.task_template, payload)
    if task:
        run_input["task"] = task
    if event_type:
        run_input["event_type"] = event_type
    return run_input


def webhook_slot_key(webhook_id: int, delivery_id: str) -> str | None:
    """The run slot of a delivery: the same message delivered twice starts one run."""
    if not delivery_id:
        return None
    # Run.slot_key holds 200 characters; ids may be longer.
    key = delivery_id if len(delivery_id) <= 150 else hashlib.sha256(delivery_id.encode()).hexdigest()
    return f"webhook:{webhook_id}:{key}"


@dataclass
class _Pending:
    """A pending delivery, as the webhook source needs it."""

    id: int
    trigger_id: int
    reason: str
    request: RunRequest | None = None
    why: str = ""


def webhook_start_pending(*, limit: int = 500) -> int:
    """Start the runs of accepted deliveries that were answered before their run existed,
    oldest first, in one batch. Reading the payloads and rendering the tasks happen before
    the write transaction (SQLite's single write lock is held only for the writes); the
    transaction then claims the deliveries that are still pending (SKIP LOCKED where the
    database has it), starts their runs with one start_runs call and settles them.
    Returns how many deliveries were settled. If the batch fails, each delivery is tried
    on its own; one that still fails keeps its verdict and says why it has no run."""
    from agents.dispatcher import skip_locked_supported

    fields = ("id", "webhook_id", "webhook__trigger_id", "body", "headers", "event_type", "delivery_id", "reason")
    rows = list(WebhookDelivery.objects.filter(pending=True).order_by("id").values_list(*fields)[:limit])
    if not rows:
        return 0
    triggers = Trigger.objects.in_bulk({row[2] for row in rows})
    plans = []
    for pk, webhook_id, trigger_id, body, headers, event_type, delivery_id, reason in rows:
        plan = _Pending(id=pk, trigger_id=trigger_id, reason=reason)
        trigger = triggers.get(trigger_id)
        if trigger is None or not trigger.enabled:
            plan.why = "trigger is disabled"
        else:
            content_type = str(headers.get("content-type", "")) if isinstance(headers, dict) else ""
            payload = parse_body(bytes(body), content_type) or {}
            plan.request = RunRequest(
                trigger.agent_id,
                source=RunSource.WEBHOOK,
                source_ref=f"trigger:{trigger.pk}",
                input=_trigger_input(trigger, payload, event_type or None),
                payload=payload,
                slot_key=webhook_slot_key(webhook_id, delivery_id),
            )
        plans.append(plan)
    with transaction.atomic():
        claim = WebhookDelivery.objects.filter(pk__in=[plan.id for plan in plans], pending=True)
        if skip_locked_supported():
            claim = claim.select_for_update(skip_locked=True)
        still = set(claim.values_list("id", flat=True))
        plans = [plan for plan in plans if plan.id in still]
        _settle_deliveries(plans)
    return len(plans)


def _settle_deliveries(plans: list[_Pending]) -> None:
    from django.db import OperationalError

    from agents.services import start_runs

    requests = [plan.request for plan in plans if plan.request is not None]
    try:
        with transaction.atomic():
            started = iter(start_runs(requests))
    except OperationalError:
        raise
    except Exception:
        logger.exception("starting %s webhook runs together failed; starting them one by one", len(requests))
        started = iter(_start_each(requests))
    now = timezone.now()
    deliveries, fired = [], {}
    for plan in plans:
        run, why = (next(started), "") if plan.request is not None else (None, plan.why)
        if isinstance(run, Exception):
            why, run = f"could not start the run: {run.__class__.__name__}: {run}", None
        elif run is not None:
            why = run.reason if run.status == "skipped" else ""
            fired[plan.trigger_id] = fired.get(plan.trigger_id, 0) + 1
        verdict = WebhookDelivery.Verdict.FILTERED if plan.request is None else WebhookDelivery.Verdict.ACCEPTED
        deliveries.append(
            WebhookDelivery(pk=plan.id, run=run, pending=False, verdict=verdict, reason=(why or plan.reason)[:300])
        )
    WebhookDelivery.objects.bulk_update(deliveries, ["run", "pending", "verdict", "reason"], batch_size=500)
    for trigger_id, count in fired.items():
        Trigger.objects.filter(pk=trigger_id).update(fire_count=F("fire_count") + count, last_fired_at=now)


def _start_each(requests: list[RunRequest]) -> list:
    from agents.services import start_runs

    results = []
    for request in requests:
        try:
            with transaction.atomic():
                results.append(start_runs([request])[0])
        except Exception as exc:
            logger.exception("could not start the run of a webhook delivery")
            results.append(exc)
    return results


def webhook_replay(delivery: WebhookDelivery, *, dry_run: bool = False) -> dict:
    """Fire the trigger again with a stored delivery (its signature was checked when it
    arrived; rejected deliveries never passed that check and are not replayed). A dry run
    reports what would happen without starting a run."""
    webhook = delivery.webhook
    if webhook is None:
        return {"ok": False, "reason": "the delivery matched no webhook"}
    if delivery.verdict == WebhookDelivery.Verdict.REJECTED:
        return {"ok": False, "reason": f"the delivery was rejected ({delivery.reason or delivery.status_code}); "
                "only verified deliveries can be replayed"}  # fmt: skip
    if delivery.reason in ("ping", "url_verification"):
        return {"ok": False, "reason": f"a {delivery.reason} delivery does not fire the trigger"}
    payload = delivery.payload()
    if payload is None:
        return {"ok": False, "reason": "the stored body is not valid JSON"}
    trigger = webhook.trigger
    matches, why = trigger_matches(trigger, payload=payload, event_type=delivery.event_type or None)
    if matches and not trigger.enabled:
        matches, why = False, "trigger is disabled"
    task = render_task(trigger.task_template, payload)
    if dry_run:
        return {"ok": matches, "reason": why, "task": task, "agent_id": trigger.agent_id}
    run, why = trigger_fire(trigger, payload=payload, event_type=delivery.event_type or None, source=RunSource.WEBHOOK)
    replay = WebhookDelivery.objects.create(
        webhook=webhook,
        workspace_id=webhook.workspace_id,
        url_path=webhook.url_path,
        headers=delivery.headers,
        body=bytes(delivery.body),
        body_size=delivery.body_size,
        delivery_id=delivery.delivery_id,
        event_type=delivery.event_type,
        verdict=WebhookDelivery.Verdict.ACCEPTED if run else WebhookDelivery.Verdict.FILTERED,
        status_code=202,
        reason=f"replay of delivery #{delivery.pk}" + (f"; {why}" if why else ""),
        run=run,
        replay_of=delivery,
    )
    return {"ok": run is not None, "reason": why, "task": task, "run_id": run.pk if run else None,
            "delivery_id": replay.pk}  # fmt: skip
