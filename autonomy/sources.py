"""The autonomy app's dispatcher source: due autonomous cycles."""

from __future__ import annotations

import logging
from datetime import datetime

from agents.dispatcher import Source, TickResult
from autonomy.models import FREQUENCY_MINUTES, AutonomousConfig

logger = logging.getLogger(__name__)


class AutonomySource(Source):
    """Sends due cycles to the workers. The claim advances next_execution with a
    conditional update, so each due cycle is sent once even with several dispatchers."""

    name = "autonomy"
    batch = 100

    def tick(self, now: datetime) -> TickResult:
        from datetime import timedelta

        from agents import queueing

        done = 0
        due = (
            AutonomousConfig.objects.due(now)
            .order_by("next_execution")
            .values_list("id", "workspace_id", "next_execution", "frequency")[: self.batch]
        )
        for config_id, workspace_id, next_execution, frequency in due:
            advanced = now + timedelta(minutes=FREQUENCY_MINUTES.get(frequency, 60))
            claimed = AutonomousConfig.objects.filter(pk=config_id, next_execution=next_execution).update(
                next_execution=advanced
            )
            if not claimed:
                continue
            try:
                queueing.enqueue("autonomy.tasks.run_cycle", workspace_id, name=f"autonomy-{workspace_id}")
                done += 1
            except Exception:
                logger.exception("could not enqueue the cycle of workspace %s", workspace_id)
                AutonomousConfig.objects.filter(pk=config_id).update(next_execution=next_execution)
        upcoming = (
            AutonomousConfig.objects.filter(enabled=True, next_execution__isnull=False)
            .order_by("next_execution")
            .values_list("next_execution", flat=True)
            .first()
        )
        return TickResult(done=done, next_due=upcoming)
