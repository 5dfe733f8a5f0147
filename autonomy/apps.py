from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class AutonomyConfig(AppConfig):
    name = "autonomy"
    verbose_name = "Autonomy: autonomous mode and the goal-driven loop"

    def ready(self) -> None:
        from agents import events
        from agents.dispatcher import register_source
        from agents.tools import register_tool
        from autonomy.channels import EVENTS

        for event in EVENTS:
            events.register_event(event)

        register_tool("autonomy.tools.RecordMetricTool")
        register_tool("autonomy.tools.RecordEventTool")
        register_source("autonomy.sources.AutonomySource")

        from autonomy import services

        events.subscribe(events.RUN_SUCCEEDED, services.on_run_ended)
        events.subscribe(events.RUN_FAILED, services.on_run_ended)
        events.subscribe(events.TOOL_CALLED, services.on_tool_called)

        checks.register(check_action_handlers)


def check_action_handlers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Handler paths in GRADENT_AUTONOMY_ACTION_HANDLERS must import, or the first cycle fails."""
    from autonomy.actions import ACTIONS

    return ACTIONS.check()
