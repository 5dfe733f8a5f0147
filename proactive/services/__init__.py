"""Writes of the proactive app, one module per entity: schedule fires, monitor checks,
trigger fires, webhook deliveries. Every run starts through agents.services.start_run(s).
Reads of more than one line are in proactive/selectors.py.

The names are re-exported here, so `from proactive.services import schedule_save` keeps
working; new code may import from the entity's module."""

from __future__ import annotations

from proactive.services.monitors import (
    MONITOR_FLIPPED,
    monitor_check,
    monitor_pause,
    monitor_resume,
    monitor_save,
    monitor_validate,
)
from proactive.services.schedules import (
    CATCHUP_SCAN_LIMIT,
    FIRE_FIELDS,
    SimpleFire,
    agent_sync_schedule,
    schedule_compute_next,
    schedule_disable_with_error,
    schedule_fire_batch,
    schedule_fire_due,
    schedule_pause,
    schedule_plan_fire,
    schedule_resume,
    schedule_run_now,
    schedule_save,
    schedule_validate,
)
from proactive.services.triggers import render_task, trigger_fire, trigger_input, trigger_matches
from proactive.services.webhooks import (
    webhook_default_limits,
    webhook_prune_deliveries,
    webhook_replay,
    webhook_slot_key,
    webhook_start_pending,
    webhook_validate_limits,
)

__all__ = [
    "CATCHUP_SCAN_LIMIT",
    "FIRE_FIELDS",
    "MONITOR_FLIPPED",
    "SimpleFire",
    "agent_sync_schedule",
    "monitor_check",
    "monitor_pause",
    "monitor_resume",
    "monitor_save",
    "monitor_validate",
    "render_task",
    "schedule_compute_next",
    "schedule_disable_with_error",
    "schedule_fire_batch",
    "schedule_fire_due",
    "schedule_pause",
    "schedule_plan_fire",
    "schedule_resume",
    "schedule_run_now",
    "schedule_save",
    "schedule_validate",
    "trigger_fire",
    "trigger_input",
    "trigger_matches",
    "webhook_default_limits",
    "webhook_prune_deliveries",
    "webhook_replay",
    "webhook_slot_key",
    "webhook_start_pending",
    "webhook_validate_limits",
]
