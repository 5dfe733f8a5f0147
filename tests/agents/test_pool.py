"""agents.pool in one process (the system tests drive it in real workers)."""

from __future__ import annotations

import threading

import pytest
from django.utils import timezone

from agents.models import Run, RunStatus, RunStep
from agents.pool import RunPool
from agents.services import start_run
from tests.helpers import make_agent

pytestmark = pytest.mark.django_db


def queued_run(agent=None):
    agent = agent or make_agent(
        provider="scripted", provider_settings={"steps": [], "answer": "ok"}, overlap_policy="allow"
    )
    run = start_run(agent)
    Run.objects.filter(pk=run.pk).update(enqueued_at=timezone.now())  # its task was sent
    return run


def test_a_run_that_gets_no_thread_is_queued_again_without_counting_the_attempt(monkeypatch):
    run = queued_run()
    pool = RunPool(capacity=1)

    def no_thread(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    assert pool.submit(run.pk) == "handed back"
    run.refresh_from_db()
    assert (run.status, run.attempt, run.enqueued_at) == (RunStatus.QUEUED, 0, None)
    assert RunStep.objects.filter(run=run, name="handed back").exists()
    assert pool.held() == [] and pool._slots.acquire(blocking=False)  # the slot is free again


def test_a_stopping_pool_gives_the_run_back_unclaimed():
    run = queued_run()
    pool = RunPool(capacity=1)
    pool.stopping.set()
    assert pool.submit(run.pk) == "worker stopping"
    run.refresh_from_db()
    assert (run.status, run.attempt, run.enqueued_at) == (RunStatus.QUEUED, 0, None)  # the dispatcher resends it


def test_a_task_of_several_runs_starts_what_fits_and_gives_back_the_rest_when_the_worker_stops(monkeypatch):
    """A task carries up to GRADENT_RUNS_PER_TASK runs. The worker takes a slot for each;
    when it stops while waiting for one, the runs not yet taken go back unclaimed."""
    agent = make_agent(provider="scripted", provider_settings={"steps": [], "answer": "ok"}, overlap_policy="allow")
    first, second, third = (queued_run(agent) for _ in range(3))
    pool = RunPool(capacity=1)
    # The first run takes the only slot and never gives it back (its thread is not
    # started); the stop comes while the task waits for a slot for the second.
    threading.Timer(0.3, pool.stopping.set).start()
    started: list[int] = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread._args[0].pk))
    assert pool.submit(first.pk, second.pk, third.pk) == "1 of 3 started (worker stopping)"
    assert started == [first.pk]
    first.refresh_from_db()
    assert (first.status, first.attempt) == (RunStatus.RUNNING, 1)
    for run in (second, third):
        run.refresh_from_db()
        assert (run.status, run.attempt, run.enqueued_at) == (RunStatus.QUEUED, 0, None)  # sent again


def running_on(worker: str, beat_seconds_ago: float, agent=None) -> Run:
    from datetime import timedelta

    from agents.models import WorkerHeartbeat

    run = queued_run(agent)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, attempt=1, worker=worker, deadline_at=timezone.now() + timedelta(hours=1)
    )
    WorkerHeartbeat.objects.create(name=worker, last_beat=timezone.now() - timedelta(seconds=beat_seconds_ago))
    return run


def test_a_silent_worker_s_runs_are_handed_back_once_the_dispatcher_has_watched_long_enough(settings):
    from datetime import timedelta

    from agents.dispatcher import StuckRunsSource

    settings.GRADENT_WORKER_LOST_SECONDS = 15
    run = running_on("host:1:dead", beat_seconds_ago=60)
    source, now = StuckRunsSource(), timezone.now()
    for seconds in (0, 4, 8, 12):  # a dispatcher that has just started knows nothing yet
        assert source.tick(now + timedelta(seconds=seconds)).done == 0
    assert source.tick(now + timedelta(seconds=16)).done == 1
    run.refresh_from_db()
    assert (run.status, run.attempt) == (RunStatus.QUEUED, 1)
    assert "Worker host:1:dead was lost during attempt 1" in run.reason


def test_after_a_gap_in_its_ticks_the_dispatcher_waits_before_calling_a_worker_lost(settings):
    """The database was down (or the dispatcher was): no worker could beat meanwhile."""
    from datetime import timedelta

    from agents.dispatcher import StuckRunsSource

    settings.GRADENT_WORKER_LOST_SECONDS = 15
    run = running_on("host:2:alive", beat_seconds_ago=30)
    source, now = StuckRunsSource(), timezone.now()
    for seconds in (0, 4, 8, 12, 16):
        source.tick(now + timedelta(seconds=seconds))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED  # handed back after 16 s of watching
    run2 = running_on("host:3:alive", beat_seconds_ago=30, agent=run.agent)
    assert source.tick(now + timedelta(seconds=60)).done == 0  # a 44 s gap: watching starts again
    run2.refresh_from_db()
    assert run2.status == RunStatus.RUNNING


def test_a_task_waiting_behind_a_backlog_is_not_lost_until_a_worker_has_waited_for_tasks(settings):
    """A worker with free slots may still be working through thousands of tasks in the
    broker (a tick's 10,000 fires): those tasks are late, not lost. Only a worker that has
    waited for a task, and got none, for GRADENT_WORKER_LOST_SECONDS shows that a task
    sent before then was lost (an emptied Redis, a cluster killed after fetching it)."""
    from datetime import timedelta

    from agents.dispatcher import DueRunsSource
    from agents.models import WorkerHeartbeat

    settings.GRADENT_WORKER_LOST_SECONDS = 15
    now = timezone.now()
    run = queued_run()
    Run.objects.filter(pk=run.pk).update(enqueued_at=now - timedelta(seconds=60))  # sent a minute ago
    worker = WorkerHeartbeat.objects.create(name="host:1:busy", last_beat=now, capacity=100, waiting_since=None)
    source = DueRunsSource()
    for waiting_since in (None, now - timedelta(seconds=5)):  # executing a task; took one 5 s ago
        WorkerHeartbeat.objects.filter(pk=worker.pk).update(waiting_since=waiting_since)
        assert source.tick(now).done == 0
        run.refresh_from_db()
        assert run.enqueued_at == now - timedelta(seconds=60)
    WorkerHeartbeat.objects.filter(pk=worker.pk).update(waiting_since=now - timedelta(seconds=20))
    assert source.tick(now).done == 1  # 20 s without a task: the run's task was lost
    run.refresh_from_db()
    assert run.enqueued_at == now


def test_the_heartbeat_says_whether_the_worker_is_waiting_for_a_task():
    from agents.models import WorkerHeartbeat

    pool = RunPool(capacity=3)
    pool.beat()
    first = WorkerHeartbeat.objects.get(name=pool.name).waiting_since
    assert first is not None  # a new worker waits for its first task
    pool._task_started()
    pool.beat()
    assert WorkerHeartbeat.objects.get(name=pool.name).waiting_since is None
    pool._task_ended()
    pool.beat()
    assert WorkerHeartbeat.objects.get(name=pool.name).waiting_since > first


# --- a task's runs claimed together ----------------------------------------------------------
def claimed_queries(run_ids) -> tuple[list[Run], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents.executor import claim_many

    with CaptureQueriesContext(connection) as queries:
        runs = claim_many(run_ids)
    return runs, len(queries)


def test_a_task_s_runs_are_claimed_with_the_same_few_queries_however_many_they_are(settings):
    from datetime import timedelta

    agent = make_agent()
    two = [queued_run(agent).pk for _ in range(2)]
    twenty = [queued_run(agent).pk for _ in range(20)]
    runs_of_two, queries_for_two = claimed_queries(two)
    runs_of_twenty, queries_for_twenty = claimed_queries(twenty)
    assert [run.pk for run in runs_of_twenty] == twenty and len(runs_of_two) == 2
    assert queries_for_twenty == queries_for_two == 2  # one read, one conditional update
    for run in Run.objects.filter(pk__in=twenty):
        assert (run.status, run.attempt, run.worker) == (RunStatus.RUNNING, 1, runs_of_twenty[0].worker)
        grace = settings.GRADENT_RUN_GRACE_SECONDS
        assert run.deadline_at == runs_of_twenty[0].started_at + timedelta(seconds=agent.max_seconds + grace)


def test_a_run_another_worker_claims_between_the_read_and_the_update_stays_its_own():
    """The claim is conditional per run: when another worker took one of the task's runs
    first (a task delivered twice), this worker gets only the rest."""
    from django.db import connection

    agent = make_agent()
    ids = [queued_run(agent).pk for _ in range(5)]
    theirs = ids[2]

    def the_other_worker_first(execute, sql, params, many, context):
        if sql.startswith('UPDATE "agents_run"') and not getattr(the_other_worker_first, "done", False):
            the_other_worker_first.done = True
            Run.objects.filter(pk=theirs).update(status=RunStatus.RUNNING, attempt=1, worker="host:9:other")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(the_other_worker_first):
        from agents.executor import claim_many

        ours = claim_many(ids)
    assert [run.pk for run in ours] == [pk for pk in ids if pk != theirs]
    assert Run.objects.get(pk=theirs).worker == "host:9:other"
    assert set(Run.objects.filter(pk__in=ids).exclude(pk=theirs).values_list("worker", flat=True)) == {ours[0].worker}


def test_a_queue_one_run_in_the_same_task_waits_for_the_run_claimed_with_it():
    from agents.executor import claim_many

    agent = make_agent(overlap_policy="queue_one")
    waiting = start_run(agent)  # queue_one, and no run is running yet
    other = start_run(agent, overlap_policy="allow")  # a manual start that allows overlap
    assert (waiting.status, other.status) == (RunStatus.QUEUED, RunStatus.QUEUED)
    # The older queue_one run is looked at last, once the other is running.
    assert [run.pk for run in claim_many([waiting.pk, other.pk])] == [other.pk]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.enqueued_at) == (RunStatus.QUEUED, None)  # released when the first ends


def test_a_run_out_of_attempts_is_quarantined_and_the_others_of_its_task_still_claimed():
    from agents.executor import claim_many

    agent = make_agent()
    spent, fresh = queued_run(agent), queued_run(agent)
    Run.objects.filter(pk=spent.pk).update(attempt=3, max_attempts=3)
    assert [run.pk for run in claim_many([spent.pk, fresh.pk])] == [fresh.pk]
    spent.refresh_from_db()
    assert spent.status == RunStatus.FAILED and spent.reason.startswith("Quarantined")


def test_the_runs_of_a_task_are_announced_together_and_each_channel_hears_of_each(monkeypatch):
    """run_started of a task's runs: one look-up of the workspace's channels for the lot."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.models import Notification
    from tests.notifications.helpers import make_channel

    agent = make_agent()
    make_channel("webhook", {"url": "https://hooks.example.com/a"}, workspace=agent.workspace, events=["run_started"])
    ids = [queued_run(agent).pk for _ in range(4)]
    pool = RunPool(capacity=10)
    monkeypatch.setattr(threading.Thread, "start", lambda thread: None)  # announced, not executed
    with CaptureQueriesContext(connection) as queries:
        assert pool.submit(*ids) == "4 of 4 started"
    assert sorted(Notification.objects.filter(event="run_started").values_list("run_id", flat=True)) == ids
    assert sum('FROM "notifications_channel"' in q["sql"] for q in queries.captured_queries) == 1
    assert pool.held() == ids
