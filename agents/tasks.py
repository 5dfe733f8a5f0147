"""django-q2 entry points: take ids, call the executor."""

from __future__ import annotations

from agents.executor import execute_run as _execute_run


def execute_run(run_id: int) -> str:
    return _execute_run(run_id)


def execute_slot(slot_key: str) -> str:
    """A scheduled fire's task, signed before its run existed: it names the run's slot."""
    from agents.models import Run

    run_id = Run.objects.filter(slot_key=slot_key).values_list("id", flat=True).first()
    return _execute_run(run_id) if run_id is not None else "no such run"
