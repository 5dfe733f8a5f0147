"""django-q2 entry points: take ids, call the executor."""

from __future__ import annotations

from agents import queueing
from agents.executor import execute_run as _execute_run


def execute_run(run_id: int) -> str:
    """In a worker, claim the run and hand it to the process's pool (agents.pool), which
    holds many runs at once; elsewhere (django-q2's sync mode, tests) run it here and now."""
    from agents import pool

    running = pool.current()
    if running is None or queueing.runs_inline():
        return _execute_run(run_id)
    return running.submit(run_id)
