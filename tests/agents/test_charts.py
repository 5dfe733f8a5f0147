"""The run timeline's data: oldest first, one column per status that occurs, durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.charts import run_timeline_data
from agents.models import Run, RunStatus
from tests.helpers import make_agent

pytestmark = pytest.mark.django_db


def test_it_lays_runs_out_oldest_first_with_a_column_per_status():
    agent = make_agent()
    now = timezone.now()
    made = []
    for k, status in enumerate([RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.SUCCEEDED]):
        ran = status != RunStatus.SKIPPED
        run = Run.objects.create(
            workspace=agent.workspace,
            agent=agent,
            status=status,
            started_at=now if ran else None,
            finished_at=now + timedelta(seconds=1.234 * (k + 1)) if ran else None,
        )
        Run.objects.filter(pk=run.pk).update(created=now - timedelta(minutes=10 - k))
        made.append(run.pk)
    data = run_timeline_data(Run.objects.order_by("-id"))
    assert data["ids"] == made
    assert data["x"] == sorted(data["x"])
    assert data["duration"] == [1.23, 2.47, None, 4.94]
    assert [(s["status"], s["label"]) for s in data["statuses"]] == [
        ("succeeded", "Succeeded"),
        ("failed", "Failed"),
        ("skipped", "Skipped"),
    ]
    assert data["statuses"][0]["values"] == [1.23, None, None, 4.94]
    assert data["statuses"][2]["values"] == [None, None, 0, None]  # never ran: on the zero line
    assert data["run_url"] == "/agents/runs/0/"
    assert run_timeline_data(Run.objects.none()) is None
