from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class ProactiveConfig(AppConfig):
    name = "proactive"
    verbose_name = "Proactive: schedules, monitors, triggers, webhooks"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from agents import events as agent_events
        from agents.dispatcher import register_source
        from agents.models import Agent
        from agents.tools import register_tool
        from agents.validation import register_schedule_validator
        from proactive.services import MONITOR_FLIPPED
        from proactive.timing import validate_cron

        register_schedule_validator(validate_cron)
        agent_events.register_event(MONITOR_FLIPPED)
        register_tool("proactive.events.EmitEventTool")
        register_tool("proactive.events.ScheduleFollowupTool")
        for source in (
            "ScheduleSource",
            "MonitorSource",
            "WebhookDeliverySource",
            "SuggestionSource",
            "DeliveryRetentionSource",
        ):
            register_source(f"proactive.sources.{source}")
        checks.register(check_plugins)
        checks.register(check_callable_probes)
        post_save.connect(sync_agent_schedule, sender=Agent, dispatch_uid="proactive.sync_agent_schedule")


def sync_agent_schedule(sender, instance, raw: bool = False, **kwargs) -> None:
    """The agent-level `schedule` + `run_on_schedule` fields drive the agent's own Schedule."""
    if raw:
        return
    from proactive.services import agent_sync_schedule
    from proactive.timing import ScheduleError

    try:
        agent_sync_schedule(instance)
    except ScheduleError:
        # The agents API validates the expression first; a bad value stored some other
        # way must not break saving the agent.
        pass


def check_plugins(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Probe and signature-scheme paths must import, or the first check / delivery fails."""
    from proactive.probes import PROBES
    from proactive.signatures import SCHEMES

    return [*PROBES.check(), *SCHEMES.check()]


def check_callable_probes(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Each path in GRADENT_CALLABLE_PROBES must import to a callable (proactive.E003)."""
    from proactive.probes.callable import check_allowed_paths

    return check_allowed_paths(app_configs, **kwargs)
