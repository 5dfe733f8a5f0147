"""A timeline of runs for the charts on the overview, agent and schedule pages: when each run
was created, how long it took and how it ended, as plain data for the page's JSON
(`json_script`). Drawn in the browser by uPlot (static/charts.js), one colour per status."""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse

from agents.models import Run, RunStatus

TIMELINE_RUNS = 100


def run_timeline_data(runs: Iterable[Run]) -> dict | None:
    """The given runs (newest first, as lists order them) oldest first, with one column of
    durations per status that occurs: a run's duration in its own status's column, None in
    the others. Runs that never ran (queued, skipped, missed) have no duration."""
    rows = sorted(runs, key=lambda run: (run.created, run.pk))
    if not rows:
        return None
    labels = dict(RunStatus.choices)
    present = [status for status in RunStatus.values if any(run.status == status for run in rows)]
    durations = [None if run.duration_seconds is None else round(run.duration_seconds, 2) for run in rows]
    return {
        "x": [round(run.created.timestamp(), 3) for run in rows],
        "ids": [run.pk for run in rows],
        "duration": durations,
        "statuses": [
            {
                "status": status,
                "label": labels[status],
                # A run without a duration is drawn on the zero line, so its outcome still shows.
                "values": [(durations[i] or 0) if run.status == status else None for i, run in enumerate(rows)],
            }
            for status in present
        ],
        "run_url": reverse("agents:run", args=[0]),
    }
