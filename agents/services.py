"""Writes on agents, runs and threads. `start_run` is the only way a run begins."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agents import events
from agents.models import (
    ACTIVE_STATUSES,
    Agent,
    OverlapPolicy,
    Run,
    RunSource,
    RunStatus,
    Thread,
)
from workspaces.models import RunCounter

logger = logging.getLogger(__name__)

TASK_PATH = "agents.tasks.execute_run"


def enqueue_run(run_id: int) -> bool:
    """Send the run's task to the broker. If the broker is down the run stays queued with
    no task, and the dispatcher sends it again: nothing is lost."""
    from django_q.tasks import async_task

    try:
        async_task(TASK_PATH, run_id, task_name=f"run-{run_id}")
    except Exception:
        logger.exception("could not enqueue run %s; the dispatcher will retry", run_id)
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(enqueued_at=None)
        return False
    return True


def _create_run(**fields) -> tuple[Run, bool]:
    """Create a run; when its slot already has one (another dispatcher or a re-delivered
    fire got there first), return that one instead, with created=False."""
    slot_key = fields.get("slot_key")
    if not slot_key:
        return Run.objects.create(**fields), True
    try:
        with transaction.atomic():
            return Run.objects.create(**fields), True
    except IntegrityError:
        return Run.objects.get(slot_key=slot_key), False


def _skip(
    agent: Agent,
    *,
    thread,
    source: str,
    source_ref: str,
    input: dict,
    payload: dict,
    reason: str,
    policy: str,
    scheduled_for=None,
    slot_key=None,
) -> Run:
    now = timezone.now()
    run, created = _create_run(
        workspace_id=agent.workspace_id,
        agent=agent,
        thread=thread,
        source=source,
        source_ref=source_ref,
        input=input,
        payload=payload,
        status=RunStatus.SKIPPED,
        reason=reason,
        max_attempts=agent.max_attempts,
        overlap_policy=policy,
        finished_at=now,
        scheduled_for=scheduled_for,
        slot_key=slot_key,
    )
    if created:
        transaction.on_commit(lambda: events.publish(events.RUN_SKIPPED, run=run))
    return run


@transaction.atomic
def start_run(
    agent: Agent,
    *,
    source: str = RunSource.MANUAL,
    source_ref: str = "",
    input: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    thread: Thread | None = None,
    overlap_policy: str | None = None,
    scheduled_for: datetime | None = None,
    slot_key: str | None = None,
) -> Run:
    """Create a Run and send it to the workers after commit.

    Returns the Run, which is `skipped` (with the reason) when the agent is paused, the
    overlap policy says so, or the workspace's hourly quota is used up. With a `slot_key`
    (a schedule's fire slot) the call is idempotent: the slot's existing run is returned.
    """
    if slot_key:
        existing = Run.objects.filter(slot_key=slot_key).first()
        if existing is not None:
            return existing
    input = dict(input or {})
    payload = dict(payload or {})
    policy = overlap_policy or agent.overlap_policy
    # Serialise starts per agent so two concurrent starters agree on the overlap decision
    # (SQLite's IMMEDIATE transactions already serialise every writer).
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    thread = thread or agent.primary_thread()
    common = dict(
        thread=thread,
        source=source,
        source_ref=source_ref,
        input=input,
        payload=payload,
        policy=policy,
        scheduled_for=scheduled_for,
        slot_key=slot_key,
    )

    if not agent.enabled:
        return _skip(agent, reason="Agent is disabled.", **common)
    if agent.state == Agent.State.PAUSED:
        return _skip(agent, reason=f"Agent is paused: {agent.state_reason or 'paused by a user'}", **common)

    # Read only what the policy needs: an agent may have thousands of queued runs.
    active_runs = agent.runs.filter(status__in=ACTIVE_STATUSES).order_by("id")
    waiting = False
    if policy == OverlapPolicy.SKIP:
        first = active_runs.values_list("id", "status").first()
        if first:
            return _skip(agent, reason=f"Overlap policy 'skip': run #{first[0]} is still {first[1]}.", **common)
    if policy == OverlapPolicy.QUEUE_ONE:
        queued = active_runs.filter(status=RunStatus.QUEUED).values_list("id", flat=True).first()
        if queued:
            return _skip(agent, reason=f"Overlap policy 'queue one': run #{queued} is already waiting.", **common)
        waiting = active_runs.filter(status=RunStatus.RUNNING).exists()

    if not RunCounter.take_slot(agent.workspace):
        return _skip(
            agent, reason=f"Workspace quota of {agent.workspace.run_quota} run starts per hour is used up.", **common
        )

    if policy == OverlapPolicy.REPLACE:
        for run in active_runs:
            run_cancel(run, reason="Replaced by a newer run (overlap policy 'replace').")

    now = timezone.now()
    delayed = not_before is not None and not_before > now
    run, created = _create_run(
        workspace_id=agent.workspace_id,
        agent=agent,
        thread=thread,
        source=source,
        source_ref=source_ref,
        input=input,
        payload=payload,
        status=RunStatus.QUEUED,
        reason="Waiting for the running run to finish." if waiting else "",
        max_attempts=agent.max_attempts,
        overlap_policy=policy,
        not_before=not_before,
        enqueued_at=None if (delayed or waiting) else now,
        scheduled_for=scheduled_for,
        slot_key=slot_key,
    )
    if created and not (delayed or waiting):
        transaction.on_commit(lambda: enqueue_run(run.pk))
    return run


def record_missed_run(
    agent: Agent,
    *,
    source: str,
    source_ref: str,
    reason: str,
    scheduled_for: datetime | None = None,
    slot_key: str | None = None,
    input: dict | None = None,
) -> Run:
    """A fire that did not happen (the dispatcher was down), kept so history says why."""
    run, _ = _create_run(
        workspace_id=agent.workspace_id,
        agent=agent,
        source=source,
        source_ref=source_ref,
        input=input or {},
        status=RunStatus.MISSED,
        reason=reason[:500],
        max_attempts=agent.max_attempts,
        finished_at=timezone.now(),
        scheduled_for=scheduled_for,
        slot_key=slot_key,
    )
    return run


def run_cancel(run: Run, *, reason: str = "Cancelled by a user.") -> Run:
    """Cancel a queued run at once; ask a running one to stop at its next step."""
    now = timezone.now()
    if Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, reason=reason, finished_at=now
    ):
        pass
    else:
        Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True, reason=reason)
    run.refresh_from_db()
    return run


def agent_pause(*, agent: Agent, reason: str = "") -> Agent:
    agent.state = Agent.State.PAUSED
    agent.state_reason = reason or "Paused by a user."
    agent.save(update_fields=["state", "state_reason", "updated"])
    return agent


def agent_resume(*, agent: Agent) -> Agent:
    agent.state = Agent.State.ACTIVE
    agent.state_reason = ""
    agent.consecutive_failures = 0
    agent.save(update_fields=["state", "state_reason", "consecutive_failures", "updated"])
    return agent


def agent_record_outcome(*, agent_id: int, succeeded: bool) -> None:
    """Count consecutive failures; pause the agent when it reaches auto_pause_after."""
    if succeeded:
        Agent.objects.filter(pk=agent_id, consecutive_failures__gt=0).update(consecutive_failures=0)
        return
    Agent.objects.filter(pk=agent_id).update(consecutive_failures=F("consecutive_failures") + 1)
    agent = Agent.objects.get(pk=agent_id)
    if agent.auto_pause_after and agent.consecutive_failures >= agent.auto_pause_after:
        reason = f"Auto-paused after {agent.consecutive_failures} consecutive failed runs."
        paused = Agent.objects.filter(pk=agent_id, state=Agent.State.ACTIVE).update(
            state=Agent.State.PAUSED, state_reason=reason
        )
        if paused:
            agent.refresh_from_db()
            events.publish(events.AGENT_AUTO_PAUSED, agent=agent, reason=reason)


def release_waiting_run(*, agent_id: int) -> None:
    """After a run ends, send the one run that waited for it (overlap policy queue_one)."""
    if Run.objects.filter(agent_id=agent_id, status=RunStatus.RUNNING).exists():
        return
    waiting = (
        Run.objects.filter(agent_id=agent_id, status=RunStatus.QUEUED, enqueued_at__isnull=True)
        .filter(not_before__isnull=True)
        .order_by("id")
        .first()
    )
    if waiting and Run.objects.filter(pk=waiting.pk, enqueued_at__isnull=True).update(
        enqueued_at=timezone.now(), reason=""
    ):
        enqueue_run(waiting.pk)


@transaction.atomic
def thread_state_set(*, thread: Thread, key: str, value: Any) -> None:
    locked = Thread.objects.select_for_update().get(pk=thread.pk)
    state = dict(locked.agent_state or {})
    state[key] = value
    locked.agent_state = state
    locked.save(update_fields=["agent_state", "updated"])
    thread.agent_state = state
