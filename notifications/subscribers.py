"""Events published on `agents.events` (the agents' run lifecycle, proactive's monitor flips,
autonomy's cycles and goals), turned into notifications. Connected in
NotificationsConfig.ready(); each callback first asks whether any channel listens, so an
event nobody subscribes to costs one small query."""

from __future__ import annotations

from agents import events
from notifications.models import NotifyEvent
from notifications.services import (
    agent_context,
    notify_channels,
    notify_event,
    report_dropped,
    run_context,
    subscribed_channels,
)

RUN_EVENTS = (events.RUN_STARTED, events.RUN_SUCCEEDED, events.RUN_FAILED, events.RUN_SKIPPED)


def on_run_event(*, event: str, run, **kwargs) -> None:
    channels = subscribed_channels(run.workspace_id, event, agent_id=run.agent_id)
    if channels:
        notify_channels(channels, event, run_context(run), run_id=run.pk)
    if event in (events.RUN_SUCCEEDED, events.RUN_FAILED) and run.tool_call_count:
        report_dropped(run)  # only tool-call messages are ever dropped


def on_agent_auto_paused(*, event: str, agent, reason: str = "", **kwargs) -> None:
    channels = subscribed_channels(agent.workspace_id, NotifyEvent.AGENT_AUTO_PAUSED, agent_id=agent.pk)
    if channels:
        context = {"agent": agent_context(agent), "reason": reason, "url": agent_context(agent)["url"]}
        notify_channels(channels, NotifyEvent.AGENT_AUTO_PAUSED, context)


def on_tool_called(*, event: str, run, tool: str, ok: bool = True, **kwargs) -> None:
    channels = subscribed_channels(run.workspace_id, NotifyEvent.TOOL_CALLED, agent_id=run.agent_id)
    if channels:
        context = {**run_context(run), "tool": {"name": tool, "ok": ok}}
        if not ok:
            context["level"] = "warning"
        notify_channels(channels, NotifyEvent.TOOL_CALLED, context, run_id=run.pk)


def on_monitor_flipped(*, event: str, monitor, previous_state: str, summary: str = "", run=None, **kwargs) -> None:
    channels = subscribed_channels(monitor.workspace_id, NotifyEvent.MONITOR_FLIPPED, agent_id=monitor.agent_id)
    if channels:
        context = {
            "monitor": {
                "id": monitor.pk,
                "name": monitor.name,
                "state": monitor.state,
                "previous_state": previous_state,
                "summary": summary,
            },
            "agent": agent_context(monitor.agent),
            "level": "warning" if monitor.state == "triggered" else "success",
        }
        notify_channels(channels, NotifyEvent.MONITOR_FLIPPED, context, run_id=run.pk if run else None)


def on_autonomy_event(
    *,
    event: str,
    workspace_id: int,
    context: dict,
    also_channels: list[str] | None = None,
    run_id: int | None = None,
    **kwargs,
) -> None:
    """autonomy's cycle and goal events (autonomy/channels.py); the names are ours too.
    `also_channels` names the publisher's own channels, which hear it whatever they subscribe to."""
    notify_event(workspace_id, event, context, also_channels=also_channels, run_id=run_id)


AUTONOMY_EVENTS = (
    NotifyEvent.AUTONOMY_CYCLE_STARTED,
    NotifyEvent.AUTONOMY_CYCLE_COMPLETED,
    NotifyEvent.GOAL_CREATED,
    NotifyEvent.GOAL_ACHIEVED,
    NotifyEvent.GOAL_FAILED,
    NotifyEvent.AUTONOMY_TOOL_CALLED,
)


def connect() -> None:
    for name in RUN_EVENTS:
        events.subscribe(name, on_run_event)
    events.subscribe(events.AGENT_AUTO_PAUSED, on_agent_auto_paused)
    events.subscribe(events.TOOL_CALLED, on_tool_called)
    from django.apps import apps

    if apps.is_installed("proactive"):
        events.subscribe(NotifyEvent.MONITOR_FLIPPED.value, on_monitor_flipped)
    if apps.is_installed("autonomy"):
        for name in AUTONOMY_EVENTS:
            events.subscribe(name.value, on_autonomy_event)
