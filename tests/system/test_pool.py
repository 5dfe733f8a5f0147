"""Many runs in flight in one worker process (agents.pool), with real qcluster and
dispatch processes: no cross-talk between concurrent runs, budgets and cancel per run,
and what happens to the runs a worker holds when it is killed or stopped."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from types import SimpleNamespace

import psutil
import pytest

from agents.models import FINAL_STATUSES, Agent, Run, RunStatus, RunStep, WorkerHeartbeat
from agents.services import run_cancel, start_run
from tests.fakes.llm_servers import FakeOpenAI, Reply, openai_text_response, openai_tool_call_response
from tests.helpers import make_user
from tests.system import conftest
from tests.system.conftest import FAST_ENV, base_env, wait_for
from tests.system.test_cluster import make_system_agent, wait_until_final
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.system
UNWATCHED = SimpleNamespace(check_alive=lambda: None)  # the test watches its processes itself


def start_cluster(start_service, name="qcluster", **env):
    return start_service(name, "qcluster", env=base_env(**{**FAST_ENV, **env}, **conftest.test_database_env()))


def by_worker(run_ids) -> Counter:
    return Counter(
        Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING).values_list("worker", flat=True).order_by()
    )


def sleeping(seconds: float, steps: int = 1, **fields) -> Agent:
    step = {"tool": "sleep", "args": {"seconds": seconds}}
    fields.setdefault("max_attempts", 3)
    fields.setdefault("max_seconds", 120)
    return make_system_agent(steps=[step] * steps, tools=["sleep"], **fields)


class EchoModel:
    """An OpenAI-compatible model that answers after `delay` seconds: first a call of the
    `remember` tool with the run's own number, then, once it sees the tool's result, a
    final answer naming that number. Usage tokens are the number too, so each run's
    totals are its own."""

    def __init__(self, delay: float):
        self.delay = delay
        self.calls = Counter()

    def __call__(self, request):
        messages = request.json["messages"]
        user = [m["content"] for m in messages if m["role"] == "user"][-1]  # this run's (after history)
        n = int(json.loads(user.split("Run input:\n", 1)[1].split("\n\n")[0])["n"])
        self.calls[n] += 1
        if any(m["role"] == "tool" for m in messages):
            body = openai_text_response(f"run {n} done", prompt_tokens=n, completion_tokens=1)
        else:
            body = openai_tool_call_response([("remember", {"key": "n", "value": n})], prompt_tokens=n)
        return Reply(200, body, delay=self.delay)


def llm_agent(server, workspace=None, **fields) -> Agent:
    return Agent.objects.create(
        workspace=workspace or personal_workspace_for(make_user()),
        name="llm agent",
        provider="openai",
        model="fake-model",
        provider_settings={"base_url": server.base_url, "timeout": 30},
        api_key="sk-test",
        allowed_tools=["remember"],
        overlap_policy="allow",
        auto_pause_after=0,
        max_seconds=fields.pop("max_seconds", 60),
        **fields,
    )


@pytest.mark.django_db(transaction=True)
def test_one_worker_runs_100_model_runs_at_once_without_cross_talk(transactional_db, extra_tools, start_service):
    model = EchoModel(delay=1.0)
    with FakeOpenAI(handler=model) as server:
        agent = llm_agent(server)
        workers = start_cluster(start_service, GRADENT_WORKERS="1", GRADENT_ALLOW_PRIVATE_URLS="127.0.0.1")
        dispatcher = start_service("dispatch", "dispatch", env=base_env(**FAST_ENV, **conftest.test_database_env()))
        wait_for(lambda: "ready for work" in workers.output(), timeout=60, what="the worker")
        started = time.monotonic()
        run_ids = [start_run(agent, input={"n": n}).pk for n in range(1, 101)]
        peak = 0

        def done():
            nonlocal peak
            peak = max(peak, Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING).count())
            finals = Run.objects.filter(pk__in=run_ids, status__in=FINAL_STATUSES).count()
            return finals == len(run_ids)

        wait_for(done, timeout=90, interval=0.05, what="100 runs")
        wall = time.monotonic() - started
        assert workers.alive() and dispatcher.alive()

    runs = {run.input["n"]: run for run in Run.objects.filter(pk__in=run_ids)}
    assert {run.status for run in runs.values()} == {RunStatus.SUCCEEDED}
    assert len({run.worker for run in runs.values()}) == 1  # one worker process held them all
    for n, run in runs.items():
        assert run.output == f"run {n} done"
        assert (run.input_tokens, run.output_tokens, run.tool_call_count, run.attempt) == (2 * n, 6, 1, 1)
        steps = list(run.steps.order_by("index").values_list("kind", "name", "input"))
        assert [kind for kind, _, _ in steps] == ["llm_call", "tool_call", "llm_call"]
        assert steps[1][2]["value"] == n  # its own tool call, not another run's
    assert all(count == 2 for count in model.calls.values()) and len(model.calls) == 100
    # Two model calls of 1 s each: one at a time would take 200 s.
    assert peak >= 50, peak
    assert wall < 60, wall


@pytest.mark.django_db(transaction=True)
def test_a_run_over_its_time_budget_ends_on_time_and_a_cancel_touches_only_its_run(
    transactional_db, extra_tools, start_service
):
    # A model that always asks for another tool call: only the budget ends the run.
    def forever(request):
        return Reply(200, openai_tool_call_response([("remember", {"key": "k", "value": 1})]), delay=0.5)

    with FakeOpenAI(handler=forever) as server:
        waiting = llm_agent(server, max_seconds=120, max_steps=10_000, max_tokens=10**9)
        short = llm_agent(server, max_seconds=3, workspace=waiting.workspace)
        workers = start_cluster(start_service, GRADENT_WORKERS="1", GRADENT_ALLOW_PRIVATE_URLS="127.0.0.1")
        start_service("dispatch", "dispatch", env=base_env(**FAST_ENV, **conftest.test_database_env()))
        wait_for(lambda: "ready for work" in workers.output(), timeout=60, what="the worker")
        others = [start_run(waiting, input={"n": n}).pk for n in range(50)]
        wait_for(lambda: by_worker(others).total() == 50, timeout=30, what="50 runs in flight")
        over = start_run(short, input={"n": 99})
        began = time.monotonic()
        (over,) = wait_until_final([over.pk], timeout=30, cluster=UNWATCHED)
        took = time.monotonic() - began
        assert over.status == RunStatus.TIMED_OUT and "max time (3 s)" in over.reason
        assert took < 3 + 3, took  # within a step (0.5 s) of the budget, plus dispatch and claim

        victim = Run.objects.get(pk=others[0])
        run_cancel(victim)
        (victim,) = wait_until_final([victim.pk], timeout=10, cluster=UNWATCHED)
        assert victim.status == RunStatus.CANCELLED
        time.sleep(1)
        assert Run.objects.filter(pk__in=others[1:], status=RunStatus.RUNNING).count() == 49
        for run_id in others[1:]:
            run_cancel(Run.objects.get(pk=run_id))
        wait_until_final(others, timeout=20, cluster=UNWATCHED)


@pytest.mark.django_db(transaction=True)
def test_sigkill_of_a_worker_hands_its_runs_back_within_30_s(cluster):
    """With the default heartbeat (5 s) and lost-worker (15 s) settings."""
    agent = sleeping(4, steps=2)
    run_ids = [start_run(agent, input={"n": n}).pk for n in range(60)]
    victim = wait_for(
        lambda: next((w for w, n in by_worker(run_ids).items() if n >= 20), None), timeout=30, what="a busy worker"
    )
    pid = int(victim.split(":")[1])
    assert pid in cluster.worker_pids()
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", timeout=5)
    # What the dead worker held, now frozen (it may have claimed more since it was chosen).
    held = set(Run.objects.filter(status=RunStatus.RUNNING, worker=victim).values_list("id", flat=True))
    assert len(held) >= 20

    def handed_back():
        still = Run.objects.filter(pk__in=held, status=RunStatus.RUNNING, worker=victim).count()
        return still == 0

    wait_for(handed_back, timeout=30, interval=0.2, what="the killed worker's runs to be handed back")
    assert time.monotonic() - killed_at <= 30
    runs = wait_until_final(run_ids, timeout=120, cluster=cluster)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}, Counter((r.status, r.reason) for r in runs)
    attempts = {run.pk: run.attempt for run in runs}
    assert {attempts[pk] for pk in held} == {2}
    if not cluster.restarts:
        assert {attempts[pk] for pk in set(run_ids) - held} == {1}
    else:  # the kill wedged the task queue: the cluster stopped itself, with its runs
        assert {attempts[pk] for pk in set(run_ids) - held} <= {1, 2}
    assert not WorkerHeartbeat.objects.filter(name=victim).exists()  # the lost worker's row is gone
    # None ran twice: the attempt that finished ran the whole script once; an attempt cut
    # short by the kill left at most its first step and a "worker lost" step.
    for pk in run_ids:
        steps = list(RunStep.objects.filter(run=pk).order_by("index").values_list("attempt", "name"))
        assert [n for a, n in steps if a == attempts[pk]] == ["sleep", "sleep"], (pk, steps)
        if attempts[pk] == 2:
            assert [n for a, n in steps if a == 1][-1] == "worker lost", (pk, steps)


@pytest.mark.django_db(transaction=True)
def test_sigterm_of_the_cluster_loses_no_run_and_runs_none_twice(transactional_db, extra_tools, start_service):
    env = {"GRADENT_WORKER_STOP_GRACE_SECONDS": "3"}
    workers = start_cluster(start_service, **env)
    start_service("dispatch", "dispatch", env=base_env(**FAST_ENV, **conftest.test_database_env()))
    wait_for(lambda: "ready for work" in workers.output(), timeout=60, what="the workers")
    quick = sleeping(1)
    slow = sleeping(20, workspace=quick.workspace)
    short = [start_run(quick, input={"n": n}).pk for n in range(10)]
    long = [start_run(slow, input={"n": n}).pk for n in range(10)]
    wait_for(lambda: by_worker(short + long).total() == 20, timeout=30, what="20 runs in flight")

    began = time.monotonic()
    workers.stop(timeout=20)  # SIGTERM to the cluster, as `up` sends it
    assert time.monotonic() - began < 3 + 10  # stopped by itself, not killed
    # The short runs finished within the grace period; the long ones were handed back.
    assert set(Run.objects.filter(pk__in=short).values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    handed = list(Run.objects.filter(pk__in=long))
    assert {(run.status, run.attempt) for run in handed} == {(RunStatus.QUEUED, 0)}, [
        (r.status, r.attempt, r.reason) for r in handed
    ]
    assert all("does not count" in run.reason for run in handed)
    assert not WorkerHeartbeat.objects.exists()

    start_cluster(start_service, name="qcluster-again", **env)
    runs = wait_until_final(long, timeout=90, cluster=UNWATCHED)
    assert {(run.status, run.attempt) for run in runs} == {(RunStatus.SUCCEEDED, 1)}
    for run in runs:
        names = list(RunStep.objects.filter(run=run).order_by("index").values_list("name", flat=True))
        assert names == ["handed back", "sleep"]  # the cut-short attempt left no sleep step


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_it_waits_for_a_task_wedges_no_cluster_for_long(
    transactional_db, extra_tools, start_service
):
    """django-q2's workers share one task queue whose read lock the idle worker holds. A
    worker killed outright while it waits there (an idle pool worker: the common case)
    leaves the lock held; the replacement worker notices tasks waiting in the broker with
    none reaching it, and kills the cluster so its supervisor starts a fresh one."""
    env = {"GRADENT_WORKERS": "1", "GRADENT_WORKER_HEARTBEAT_SECONDS": "1", "GRADENT_WORKER_WEDGED_SECONDS": "3"}
    workers = start_cluster(start_service, **env)
    start_service("dispatch", "dispatch", env=base_env(**FAST_ENV, **conftest.test_database_env()))
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=60, what="the worker's heartbeat")
    agent = sleeping(0.1)
    (first,) = wait_until_final([start_run(agent).pk], timeout=30, cluster=UNWATCHED)
    assert first.status == RunStatus.SUCCEEDED
    idle_worker = int(first.worker.split(":")[1])
    time.sleep(0.5)  # back in django-q2's loop, waiting for a task with the queue's lock held
    os.kill(idle_worker, signal.SIGKILL)

    wedged = start_run(agent, input={"n": "after the kill"})
    wait_for(lambda: not workers.alive(), timeout=60, what="the wedged cluster to stop itself")
    assert "task queue is wedged" in workers.output()
    assert Run.objects.get(pk=wedged.pk).status == RunStatus.QUEUED  # not lost, not started

    start_cluster(start_service, name="qcluster-again", **env)  # what `up` or systemd does
    (wedged,) = wait_until_final([wedged.pk], timeout=60, cluster=UNWATCHED)
    assert (wedged.status, wedged.attempt) == (RunStatus.SUCCEEDED, 1)


@pytest.mark.django_db(transaction=True)
def test_a_worker_busy_with_a_long_task_is_not_taken_for_a_wedged_queue(transactional_db, extra_tools, start_service):
    """A monitor check or an autonomy cycle runs in the worker's own thread; while it does,
    tasks wait in the broker and the pool has free slots, yet nothing is wedged."""
    from agents import queueing

    env = {"GRADENT_WORKERS": "1", "GRADENT_WORKER_HEARTBEAT_SECONDS": "1", "GRADENT_WORKER_WEDGED_SECONDS": "2"}
    workers = start_cluster(start_service, **env)
    start_service("dispatch", "dispatch", env=base_env(**FAST_ENV, **conftest.test_database_env()))
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=60, what="the worker's heartbeat")
    queueing.enqueue("tests.system.tools.sleep_task", 8)
    time.sleep(0.5)
    agent = sleeping(0.1)
    # More runs than django-q2's fetcher holds: some wait in the broker behind the long task.
    waiting = [start_run(agent, input={"n": n}).pk for n in range(6)]
    runs = wait_until_final(waiting, timeout=60, cluster=UNWATCHED)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}
    assert workers.alive() and "wedged" not in workers.output()


def sentinel_of(cluster_main: int) -> psutil.Process:
    """django-q2's sentinel: the cluster's main process's child that has children (the
    pusher, the monitor and the workers)."""
    return next(child for child in psutil.Process(cluster_main).children() if child.children())


@pytest.mark.django_db(transaction=True)
def test_a_stuck_sentinel_gets_its_cluster_restarted_by_a_worker_and_loses_no_run(
    transactional_db, extra_tools, start_service
):
    """django-q2's sentinel blocks for good when a worker dies holding the lock the
    sentinel takes to look at it (agents.pool); SIGSTOP stands in for that. The cluster
    stops reporting its status, a worker that survived notices, lets its runs finish and
    kills the cluster, so its supervisor starts a new one."""
    env = {
        "GRADENT_WORKER_HEARTBEAT_SECONDS": "1",
        "GRADENT_WORKER_WEDGED_SECONDS": "3",
        "GRADENT_WORKER_STOP_GRACE_SECONDS": "5",
    }
    workers = start_cluster(start_service, **env)
    start_service("dispatch", "dispatch", env=base_env(**FAST_ENV, **conftest.test_database_env()))
    wait_for(lambda: WorkerHeartbeat.objects.count() == 2, timeout=60, what="both workers' heartbeats")
    agent = sleeping(1)
    before = [start_run(agent, input={"n": n}).pk for n in range(10)]
    wait_for(lambda: by_worker(before).total() >= 5, timeout=30, what="runs in flight")
    sentinel = sentinel_of(workers.pid)
    cluster_processes = [psutil.Process(workers.pid), sentinel, *sentinel.children()]
    sentinel.send_signal(signal.SIGSTOP)
    after = [start_run(agent, input={"n": n}).pk for n in range(10, 15)]

    wait_for(lambda: not workers.alive(), timeout=60, what="the cluster with a stuck sentinel to stop")
    assert "has not reported its status" in workers.output()
    _, alive = psutil.wait_procs(cluster_processes, timeout=10)
    assert not alive, [(p.pid, p.status()) for p in alive]  # the stopped sentinel too

    start_cluster(start_service, name="qcluster-again", **env)  # what `up` or systemd does
    runs = wait_until_final(before + after, timeout=90, cluster=UNWATCHED)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}, [(r.status, r.reason) for r in runs]
    for run in runs:  # none ran twice
        assert list(RunStep.objects.filter(run=run, name="sleep").values_list("attempt", flat=True)) == [run.attempt]
