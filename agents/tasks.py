"""django-q2 entry points: take ids, call the executor."""

from __future__ import annotations

from agents import queueing
from agents.executor import execute_run as _execute_run


def execute_run(*run_ids: int) -> str:
    """In a worker, claim the runs and hand them to the process's pool (agents.pool), which
    holds many runs at once; elsewhere (django-q2's sync mode, tests) run them here and now.
    A task carries one run or several started together (GRADENT_RUNS_PER_TASK)."""
    from agents import pool

    running = pool.current()
    if running is None or queueing.runs_inline():
        return ", ".join(_execute_run(run_id) for run_id in run_ids)
    return running.submit(*run_ids)
