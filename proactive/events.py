"""Event triggers: fired from code (`emit_event`) or by agents (the `emit_event` and
`schedule_followup` tools)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from agents.models import Run, RunSource
from agents.tools.base import Tool, ToolContext, ToolError
from proactive.models import Schedule, Trigger


def emit_event(*, workspace_id: int, event_type: str, payload: dict | None = None) -> list[Run]:
    """Fire every enabled `event` trigger of the workspace that listens for this event."""
    from proactive.services import trigger_fire

    runs = []
    for trigger in Trigger.objects.filter(
        workspace_id=workspace_id, trigger_type=Trigger.Type.EVENT, enabled=True
    ).select_related("agent"):
        run, _ = trigger_fire(trigger, payload=payload or {}, event_type=event_type, source=RunSource.TRIGGER)
        if run is not None:
            runs.append(run)
    return runs


class EmitEventTool(Tool):
    name = "emit_event"
    description = "Emit a named event in this workspace; agents with event triggers for it will run."

    class InputSerializer(serializers.Serializer):
        event_type = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,100}$", help_text="e.g. report.ready")
        payload = serializers.DictField(required=False, help_text="Data for the triggered agents")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        runs = emit_event(
            workspace_id=ctx.agent.workspace_id, event_type=args["event_type"], payload=args.get("payload") or {}
        )
        return {"event_type": args["event_type"], "runs_started": [run.pk for run in runs]}


class ScheduleFollowupTool(Tool):
    name = "schedule_followup"
    description = "Schedule this agent to run once more later, with a task for that run."

    class InputSerializer(serializers.Serializer):
        delay_minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 30, help_text="Minutes from now")
        task = serializers.CharField(max_length=2000, help_text="What the follow-up run should do")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        from proactive.services import schedule_save

        pending = Schedule.objects.filter(agent=ctx.agent, kind=Schedule.Kind.ONCE, enabled=True).count()
        if pending >= 20:
            raise ToolError("this agent already has 20 follow-ups pending", permanent=True)
        run_at = timezone.now() + timedelta(minutes=args["delay_minutes"])
        schedule = schedule_save(
            Schedule(
                workspace_id=ctx.agent.workspace_id,
                agent=ctx.agent,
                name=f"Follow-up of run #{ctx.run.pk}",
                kind=Schedule.Kind.ONCE,
                run_at=run_at,
                timezone="UTC",
                task_description=args["task"],
            )
        )
        return {"schedule_id": schedule.pk, "run_at": run_at.isoformat()}
