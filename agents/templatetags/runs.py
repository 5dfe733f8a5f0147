"""Run lists for people: a streak of runs skipped for the same reason is one line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django import template

from agents.models import Run, RunStatus
from agents.skips import OVERLAP, SkipCode, skip_code

register = template.Library()

# How each kind of skip is named on a collapsed line ("skipped ×37, overlap").
STREAK_LABELS = {
    SkipCode.OVERLAP_SKIP: "overlap",
    SkipCode.OVERLAP_QUEUE_ONE: "overlap",
    SkipCode.PAUSED: "agent paused",
    SkipCode.DISABLED: "agent disabled",
    SkipCode.QUOTA: "hourly quota used up",
    SkipCode.INPUT_INVALID: "input does not match the schema",
}


@dataclass
class RunRow:
    """One line of a run table: a run, or a streak of skipped runs (newest first)."""

    run: Run
    streak: list[Run] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.streak)

    @property
    def oldest(self) -> Run:
        return self.streak[-1] if self.streak else self.run

    @property
    def label(self) -> str:
        kind = _streak_key(self.run)[1]
        return "overlap" if kind == "overlap" else STREAK_LABELS.get(kind, "same reason")


def _streak_key(run: Run) -> tuple[int, str] | None:
    if run.status != RunStatus.SKIPPED:
        return None
    code = skip_code(run)
    if code == SkipCode.OTHER:
        return None
    # Both overlap policies read as one "overlap" streak.
    return run.agent_id, ("overlap" if code in OVERLAP else code)


def collapse_skips(runs: Iterable[Run], *, at_least: int = 2) -> list[RunRow]:
    """Consecutive runs (in the order given) of one agent skipped for the same kind of
    reason become one row; other runs stay one row each."""
    rows: list[RunRow] = []
    for run in runs:
        key = _streak_key(run)
        last = rows[-1] if rows else None
        if key is not None and last is not None and _streak_key(last.run) == key:
            if not last.streak:
                last.streak = [last.run]
            last.streak.append(run)
            continue
        rows.append(RunRow(run))
    for row in rows:
        if row.streak and len(row.streak) < at_least:
            row.streak = []
    return rows


@register.filter
def run_rows(runs: Iterable[Run]) -> list[RunRow]:
    return collapse_skips(runs)
