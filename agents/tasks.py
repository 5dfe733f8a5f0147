"""django-q2 entry points: take ids, call the executor."""

from __future__ import annotations

from agents.executor import execute_run as _execute_run


def execute_run(run_id: int) -> str:
    return _execute_run(run_id)
