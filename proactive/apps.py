from __future__ import annotations

from django.apps import AppConfig


class ProactiveConfig(AppConfig):
    name = "proactive"
    verbose_name = "Proactive: schedules, monitors, triggers, webhooks"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from agents.models import Agent
        from agents.validation import register_schedule_validator
        from proactive import sources  # noqa: F401  (registers the dispatcher sources)
        from proactive.timing import validate_cron

        register_schedule_validator(validate_cron)
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
