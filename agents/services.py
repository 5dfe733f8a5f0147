"""Writes on agents, runs and threads. `start_run` is the only way a run begins."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from agents import events, queueing, skips
from agents.inputs import input_errors, input_errors_text
from agents.models import (
    ACTIVE_STATUSES,
    Agent,
    OverlapPolicy,
    Run,
    RunSource,
    RunStatus,
    Thread,
)
from agents.skips import SkipCode
from gradent.lib.fastinsert import bulk_insert
from gradent.lib.orm import one_or_none
from workspaces.models import RunCounter

logger = logging.getLogger(__name__)

TASK_PATH = "agents.tasks.execute_run"


def _task_name(run_ids: Sequence[int]) -> str:
    return f"run-{run_ids[0]}" if len(run_ids) == 1 else f"runs-{run_ids[0]}-{run_ids[-1]}"


def enqueue_runs(run_ids: Sequence[int]) -> int:
    """Send the runs to the broker, GRADENT_RUNS_PER_TASK to a task; returns how many runs
    were sent. If the broker is down the runs stay queued with no task, and the dispatcher
    sends them again: nothing is lost."""
    if not run_ids:
        return 0
    size = settings.GRADENT_RUNS_PER_TASK
    chunks = [tuple(run_ids[i : i + size]) for i in range(0, len(run_ids), size)]
    try:
        with transaction.atomic():
            queueing.enqueue_many(TASK_PATH, [(chunk, _task_name(chunk)) for chunk in chunks])
    except Exception:
        logger.exception("could not enqueue %s run(s); the dispatcher will retry", len(run_ids))
        Run.objects.filter(pk__in=run_ids, status=RunStatus.QUEUED).update(enqueued_at=None)
        return 0
    return len(run_ids)


def enqueue_run(run_id: int) -> bool:
    return enqueue_runs([run_id]) == 1


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


@dataclass
class RunRequest:
    """One run to start: the arguments of start_run (the agent, or its id)."""

    agent: Agent | int
    source: str = RunSource.MANUAL
    source_ref: str = ""
    input: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    not_before: datetime | None = None
    thread: Thread | None = None
    overlap_policy: str | None = None
    scheduled_for: datetime | None = None
    slot_key: str | None = None

    @property
    def agent_id(self) -> int:
        return self.agent if isinstance(self.agent, int) else self.agent.pk


def start_run(agent: Agent, **request: Any) -> Run:
    """Create a Run and send it to the workers after commit.

    Returns the Run, which is `skipped` (with the reason) when the agent is paused, the
    overlap policy says so, or the workspace's hourly quota is used up. With a `slot_key`
    (a schedule's fire slot) the call is idempotent: the slot's existing run is returned.
    """
    return start_runs([RunRequest(agent, **request)])[0]


class _Overlap:
    """What the overlap policies of one agent need to know about its active runs, kept
    up to date as a batch adds runs."""

    def __init__(self, first_queued: int | Run | None = None, first_running: int | None = None):
        self.first_queued = first_queued
        self.first_running = first_running

    @property
    def first_active(self) -> tuple[Any, str] | None:
        """The oldest active run and its status. Running runs already exist (ids); a
        queued one may be the batch's own (a Run), which is newer than any id."""
        queued, running = self.first_queued, self.first_running
        if running is not None and (queued is None or isinstance(queued, Run) or running < queued):
            return running, RunStatus.RUNNING
        return (queued, RunStatus.QUEUED) if queued is not None else None


def _overlaps(agent_ids: set[int]) -> dict[int, _Overlap]:
    state = {agent_id: _Overlap() for agent_id in agent_ids}
    if agent_ids:
        rows = (
            Run.objects.filter(agent_id__in=agent_ids, status__in=ACTIVE_STATUSES)
            .order_by()
            .values("agent_id", "status")
            .annotate(first=Min("id"))
        )
        for row in rows:
            if row["status"] == RunStatus.QUEUED:
                state[row["agent_id"]].first_queued = row["first"]
            else:
                state[row["agent_id"]].first_running = row["first"]
    return state


def _quota_available(workspace, hour: datetime) -> tuple[RunCounter | None, int]:
    """The workspace's counter row for this hour (locked) and how many starts it allows."""
    limit = workspace.run_quota
    if limit == 0:
        return None, 0
    for _ in range(2):
        counter = one_or_none(RunCounter.objects.select_for_update().filter(workspace=workspace, hour=hour))
        if counter is not None:
            return counter, max(0, limit - counter.count)
        try:
            with transaction.atomic():
                RunCounter.objects.create(workspace=workspace, hour=hour, count=0)
        except IntegrityError:
            continue  # another starter created it first: go round and lock it
    raise RuntimeError(f"could not lock the run counter of workspace {workspace.pk}")  # pragma: no cover


@transaction.atomic
def start_runs(requests: Sequence[RunRequest]) -> list[Run]:
    """Start many runs at once: a tick's due schedules, a batch of webhook deliveries.

    Each request gets exactly the decision start_run would give it if the requests were
    started one after another (slot already taken, agent disabled or paused, overlap
    policy, hourly quota), with a fixed number of queries per batch instead of per run.
    Agents and quota counters are locked in id order, so concurrent batches cannot
    deadlock. Returns one Run per request; the new queued ones go to the workers after
    commit, in bulk.
    """
    if not requests:
        return []
    now = timezone.now()
    results: list[Run | None] = [None] * len(requests)

    keys = {r.slot_key for r in requests if r.slot_key}
    taken: dict[str, Run] = {run.slot_key: run for run in Run.objects.filter(slot_key__in=keys)} if keys else {}

    # Serialise starts per agent so concurrent starters agree on the overlap decision
    # (SQLite's IMMEDIATE transactions already serialise every writer).
    agent_ids = sorted({r.agent_id for r in requests})
    agents = {
        agent.pk: agent
        for agent in Agent.objects.select_for_update(of=("self",))
        .select_related("workspace")
        .filter(pk__in=agent_ids)
        .order_by("pk")
    }
    missing = set(agent_ids) - set(agents)
    if missing:
        raise Agent.DoesNotExist(f"agents {sorted(missing)} no longer exist")
    threads = {
        thread.agent_id: thread
        for thread in Thread.objects.filter(agent_id__in=agent_ids, is_primary=True).order_by("-pk")
    }
    policies = [r.overlap_policy or agents[r.agent_id].overlap_policy for r in requests]
    overlap = _overlaps({r.agent_id for r, p in zip(requests, policies, strict=True) if p != OverlapPolicy.ALLOW})
    hour = now.replace(minute=0, second=0, microsecond=0)
    quota: dict[int, list] = {}  # workspace id -> [counter, available, taken]

    new: list[tuple[int, Run]] = []
    blocked: list[tuple[Run, int | Run]] = []  # skipped for overlap, and the run in the way
    replaced: set[int] = set()
    for index, (request, policy) in enumerate(zip(requests, policies, strict=True)):
        if request.slot_key and request.slot_key in taken:
            results[index] = taken[request.slot_key]
            continue
        agent = agents[request.agent_id]
        thread = request.thread
        if thread is None:
            thread = threads.get(agent.pk) or agent.primary_thread()
            threads[agent.pk] = thread
        run = Run(
            workspace_id=agent.workspace_id,
            agent=agent,
            thread=thread,
            source=request.source,
            source_ref=request.source_ref,
            input=dict(request.input or {}),
            payload=dict(request.payload or {}),
            max_attempts=agent.max_attempts,
            overlap_policy=policy,
            scheduled_for=request.scheduled_for,
            slot_key=request.slot_key or None,
        )
        results[index] = run
        new.append((index, run))
        if request.slot_key:
            taken[request.slot_key] = run
        state = overlap.get(agent.pk)
        code, reason, blocker = _refusal(agent, policy, state)
        if not reason and agent.input_schema:
            errors = input_errors(agent.input_schema, run.input)
            if errors:
                # Kept as a skipped run, never dropped: the schedule, trigger or webhook
                # that started it shows why in its run list.
                code = SkipCode.INPUT_INVALID
                reason = f"{skips.INPUT_INVALID_OPENING} {input_errors_text(errors)}"[:500]
        if not reason:
            workspace = agent.workspace
            if workspace.pk not in quota:
                quota[workspace.pk] = [*_quota_available(workspace, hour), 0]
            counter, available, used = quota[workspace.pk]
            if used >= available:
                code = SkipCode.QUOTA
                reason = f"Workspace quota of {workspace.run_quota} run starts per hour is used up."
            else:
                quota[workspace.pk][2] += 1
        if reason:
            run.status, run.reason, run.finished_at = RunStatus.SKIPPED, reason, now
            run.skip_code = code  # in memory, for the caller to branch on (agents.skips)
            if isinstance(blocker, int):
                run.reason = reason.format(blocker=blocker)
            elif blocker is not None:
                blocked.append((run, blocker))
            continue

        if policy == OverlapPolicy.REPLACE:
            why = "Replaced by a newer run (overlap policy 'replace')."
            if agent.pk not in replaced:
                replaced.add(agent.pk)
                _cancel_active(agent.pk, reason=why, now=now)
            for _, earlier in new[:-1]:
                if earlier.agent_id == agent.pk and earlier.status == RunStatus.QUEUED:
                    earlier.status, earlier.reason, earlier.finished_at, earlier.enqueued_at = (
                        RunStatus.CANCELLED, why, now, None,
                    )  # fmt: skip
        waiting = policy == OverlapPolicy.QUEUE_ONE and state.first_running is not None
        delayed = request.not_before is not None and request.not_before > now
        run.status = RunStatus.QUEUED
        run.reason = "Waiting for the running run to finish." if waiting else ""
        run.not_before = request.not_before
        run.enqueued_at = None if (delayed or waiting) else now
        if state is not None:
            if state.first_queued is None:
                state.first_queued = run
            if policy == OverlapPolicy.REPLACE:
                state.first_queued, state.first_running = run, None

    for counter, _, used in quota.values():
        if used:
            RunCounter.objects.filter(pk=counter.pk).update(count=F("count") + used)
    _insert(new, results)
    for run, blocker in blocked:  # the run in the way was one of this batch's
        run.reason = run.reason.format(blocker=blocker.pk)
    if blocked:
        Run.objects.bulk_update([run for run, _ in blocked if run.pk], ["reason"], batch_size=500)
    skipped = [run for _, run in new if run.status == RunStatus.SKIPPED and run.pk]
    send = [run.pk for _, run in new if run.status == RunStatus.QUEUED and run.enqueued_at and run.pk]
    if skipped:
        transaction.on_commit(lambda: _announce_skipped(skipped))
    if send:
        if queueing.atomic_with_the_database():
            enqueue_runs(send)  # the runs and their tasks are committed together
        else:
            transaction.on_commit(lambda: enqueue_runs(send))
    return results  # type: ignore[return-value]


def _announce_skipped(runs: list[Run]) -> None:
    with events.batch():  # subscribers look up their channels once for the lot
        for run in runs:
            events.publish(events.RUN_SKIPPED, run=run)


def _refusal(agent: Agent, policy: str, state: _Overlap | None) -> tuple[SkipCode | None, str, int | Run | None]:
    """Why this agent must not start a run now (None, "" if it may), and the run in the way
    (its id goes where the reason says {blocker} once the batch is inserted)."""
    if not agent.enabled:
        return SkipCode.DISABLED, "Agent is disabled.", None
    if agent.state == Agent.State.PAUSED:
        return SkipCode.PAUSED, f"Agent is paused: {agent.state_reason or 'paused by a user'}", None
    if policy == OverlapPolicy.SKIP and state.first_active:
        ref, status = state.first_active
        return SkipCode.OVERLAP_SKIP, f"Overlap policy 'skip': run #{{blocker}} is still {status}.", ref
    if policy == OverlapPolicy.QUEUE_ONE and state.first_queued is not None:
        why = "Overlap policy 'queue one': run #{blocker} is already waiting."
        return SkipCode.OVERLAP_QUEUE_ONE, why, state.first_queued
    return None, "", None


def _cancel_active(agent_id: int, *, reason: str, now: datetime) -> None:
    """The database side of overlap policy 'replace' (as run_cancel does for one run)."""
    active = Run.objects.filter(agent_id=agent_id)
    active.filter(status=RunStatus.QUEUED).update(status=RunStatus.CANCELLED, reason=reason, finished_at=now)
    active.filter(status=RunStatus.RUNNING).update(cancel_requested=True, reason=reason)


def _insert(new: list[tuple[int, Run]], results: list[Run | None]) -> None:
    """Insert the batch's runs (gradent.lib.fastinsert: what bulk_create writes, in a
    fraction of its time). If a slot was taken meanwhile (a concurrent starter on
    PostgreSQL), fall back to one insert each, which returns the slot's existing run."""
    runs = [run for _, run in new]
    try:
        with transaction.atomic():
            bulk_insert(runs)
    except IntegrityError:
        for index, run in new:
            fields = {f.attname: getattr(run, f.attname) for f in Run._meta.concrete_fields if not f.primary_key}
            for auto in ("created", "updated"):
                fields.pop(auto, None)
            created, was_new = _create_run(**fields)
            if not was_new:
                run.status = ""  # not ours: neither announced nor sent
            else:
                run.pk = created.pk
            results[index] = created


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
    # Usually none waits: look for it first (one query per finished run, not two).
    waiting = Run.objects.waiting(agent_id).only("pk").first()
    if waiting is None or Run.objects.filter(agent_id=agent_id, status=RunStatus.RUNNING).exists():
        return
    if Run.objects.filter(pk=waiting.pk, enqueued_at__isnull=True).update(enqueued_at=timezone.now(), reason=""):
        enqueue_run(waiting.pk)


@transaction.atomic
def thread_state_set(*, thread: Thread, key: str, value: Any) -> None:
    locked = Thread.objects.select_for_update().get(pk=thread.pk)
    state = dict(locked.agent_state or {})
    state[key] = value
    locked.agent_state = state
    locked.save(update_fields=["agent_state", "updated"])
    thread.agent_state = state
