from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents and runs"

    def ready(self) -> None:
        from agents import queueing

        checks.register(check_plugins)
        # Each worker process starts its run pool (and its heartbeat) as it is spawned.
        queueing.on_worker_start(start_run_pool)


def start_run_pool() -> None:
    from agents import pool, queueing

    # django-q2's sync mode calls its worker loop in the caller's process (tests): no pool.
    if not queueing.runs_inline():
        pool.start()


def check_plugins(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every tool, provider and dispatcher source path must import, or the first run (or tick)
    that needs it fails."""
    from django.conf import settings

    from agents import events
    from agents.dispatcher import SOURCES
    from agents.providers import PROVIDERS
    from agents.tools import TOOLS

    errors = [*TOOLS.check(), *PROVIDERS.check(), *SOURCES.check()]
    for event in events.check_events():
        errors.append(
            checks.Error(
                f"a subscriber listens for the event {event!r}, which no installed app registers",
                hint="Register it with agents.events.register_event in the publishing app's ready().",
                id="agents.E006",
            )
        )
    if settings.Q_CLUSTER["retry"] <= settings.Q_CLUSTER["timeout"]:
        errors.append(checks.Error("Q_CLUSTER retry must exceed timeout, or tasks run twice", id="agents.E004"))
    return errors
