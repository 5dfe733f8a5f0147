"""Writes of monitors: one check (probe, condition, state machine, the agent's run on a
flip, the monitor_flipped event), pause / resume."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from agents import events as agent_events
from agents.models import Agent, Run, RunSource
from agents.services import start_run
from gradent.lib.jsonutil import jsonable
from proactive import selectors
from proactive.conditions import ConditionError, compile_condition
from proactive.models import Monitor, MonitorCheck
from proactive.probes import get_probe_class
from proactive.probes.base import ProbeContext, ProbeError

MONITOR_FLIPPED = "monitor_flipped"


def monitor_validate(
    *,
    agent: Agent | None,
    probe: str | None = None,
    probe_config: dict | None = None,
    condition: str | None = None,
    monitor: Monitor | None = None,
    user=None,
) -> dict:
    """The probe settings of a monitor being saved, cleaned: ``{"probe", "probe_config"?}``.

    The page form and the API both call it. ``None`` means unchanged (``monitor``'s stored
    value; a new monitor has none). Without a probe a monitor gets ``llm``, the original
    monitors' sentence judged by a model: for it the condition is the question (kept in step
    with the condition unless another question is given) and the monitor's own agent answers
    unless the config names another. The config is validated with the monitor's workspace
    and the user as context, so an llm probe's agent must be in that workspace and have the
    budget. ``probe_config`` is left out of the result when nothing it depends on changed.
    Raises ``serializers.ValidationError`` with every problem under its field name
    (``probe``, ``probe_config`` — itself by config field —, ``condition``).
    """
    kind = probe or getattr(monitor, "probe", None) or "llm"
    try:
        probe_class = get_probe_class(kind)
    except (KeyError, ValueError) as exc:
        raise serializers.ValidationError({"probe": [str(exc).strip("'\"")]}) from None
    stored = monitor if monitor is not None and monitor.pk else None
    text = condition if condition is not None else getattr(stored, "condition", "")
    cleaned: dict[str, Any] = {"probe": kind}
    errors: dict[str, Any] = {}
    if stored is None or probe is not None or probe_config is not None or (kind == "llm" and condition is not None):
        config = probe_config if probe_config is not None else getattr(stored, "probe_config", {})
        if kind == "llm" and isinstance(config, dict):
            config = dict(config)
            previous = stored.condition if stored is not None else None
            if ("question" not in config or (previous is not None and config["question"] == previous)) and text:
                config["question"] = text
            if agent is not None:
                config.setdefault("agent_id", agent.pk)
        workspace_id = agent.workspace_id if agent is not None else getattr(stored, "workspace_id", None)
        try:
            cleaned["probe_config"] = probe_class.validate_config(
                config, context={"workspace_id": workspace_id, "user": user}
            )
        except serializers.ValidationError as exc:
            errors["probe_config"] = exc.detail
    if kind != "llm":
        try:
            compile_condition(text, names=probe_class.names)
        except ConditionError as exc:
            errors["condition"] = [str(exc)]
    if errors:
        raise serializers.ValidationError(errors)
    return cleaned


def monitor_save(monitor: Monitor, *, now: datetime | None = None) -> Monitor:
    """Save a validated monitor (see monitor_validate); an enabled one is checked soon after."""
    if monitor.enabled:
        monitor.next_check_at = now or timezone.now()
    monitor.save()
    return monitor


def monitor_check(monitor_id: int, *, now: datetime | None = None) -> MonitorCheck | None:
    """Probe, evaluate the condition, advance the state machine, run the agent on a flip."""
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
    keep = selectors.monitor_recent_check_ids(monitor)
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
