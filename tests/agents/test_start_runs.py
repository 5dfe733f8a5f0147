"""start_runs: a batch gets exactly the decisions start_run gives one request after
another, and the batch's tasks reach the broker as django-q2 would have sent them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from agents.models import Agent, OverlapPolicy, Run, RunStatus
from agents.queueing import enqueue_many
from agents.services import RunRequest, start_run, start_runs
from tests.helpers import make_agent as make_agent_for
from tests.helpers import make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_agent():
    workspace = personal_workspace_for(make_user())
    return lambda **fields: make_agent_for(workspace=workspace, **fields)


def outcome(run: Run) -> tuple:
    run.refresh_from_db()
    return run.status, run.reason, run.enqueued_at is None


def test_a_batch_decides_like_one_start_after_another(django_capture_on_commit_callbacks, make_agent):
    """Every overlap policy, with runs already active and with the batch's own runs in the
    way, against the same requests started one by one on a twin set of agents."""
    cases = []
    for policy in OverlapPolicy.values:
        for pre_existing in (None, RunStatus.QUEUED, RunStatus.RUNNING):
            cases.append((policy, pre_existing))

    def build(tag):
        agents = []
        for policy, pre in cases:
            agent = make_agent(name=f"{tag} {policy} {pre}", overlap_policy=policy)
            if pre:
                Run.objects.create(workspace_id=agent.workspace_id, agent=agent, status=pre)
            agents.append(agent)
        return agents

    one_by_one, batched = build("seq"), build("bulk")
    with django_capture_on_commit_callbacks(execute=True):
        sequential = [start_run(agent, input={"n": n}) for agent in one_by_one for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        bulk = start_runs([RunRequest(agent, input={"n": n}) for agent in batched for n in range(3)])

    assert len(bulk) == len(sequential) == 3 * len(cases)

    def normalised(run):
        status, reason, unsent = outcome(run)
        # Reasons name the run in the way, whose ids differ between the twins.
        first = Run.objects.filter(agent_id=run.agent_id).order_by("id").values_list("id", flat=True)
        ids = {str(pk): f"<{i}>" for i, pk in enumerate(first)}
        for pk, label in sorted(ids.items(), key=lambda item: -len(item[0])):
            reason = reason.replace(f"#{pk} ", f"#{label} ")
        # A run replaced within the batch was never sent (one by one, it was sent, then
        # cancelled): the same outcome for the worker, which claims only queued runs.
        return status, reason, None if status == "cancelled" else unsent

    assert [normalised(r) for r in bulk] == [normalised(r) for r in sequential]
    # Replace cancelled what was there, in both worlds.
    assert (
        Run.objects.filter(agent__name__startswith="bulk", status="cancelled").count()
        == Run.objects.filter(agent__name__startswith="seq", status="cancelled").count()
    )
    assert Run.objects.filter(agent__name__startswith="bulk", status="cancelled").count() > 0


def test_a_taken_slot_returns_its_run_and_a_slot_twice_in_a_batch_makes_one_run(make_agent):
    agent = make_agent(overlap_policy="allow")
    earlier = start_run(agent, slot_key="s:1")
    runs = start_runs([RunRequest(agent, slot_key="s:1"), RunRequest(agent, slot_key="s:2"),
                       RunRequest(agent, slot_key="s:2")])  # fmt: skip
    assert runs[0].pk == earlier.pk
    assert runs[1].pk == runs[2].pk
    assert Run.objects.filter(agent=agent).count() == 2


def test_the_quota_admits_the_first_requests_of_a_batch_and_skips_the_rest(make_agent):
    agent = make_agent(overlap_policy="allow")
    agent.workspace.runs_per_hour = 3
    agent.workspace.save()
    start_run(agent)
    runs = start_runs([RunRequest(agent) for _ in range(4)])
    assert [r.status for r in runs] == ["queued", "queued", "skipped", "skipped"]
    assert "quota of 3" in runs[3].reason


def test_a_paused_agent_in_a_batch_does_not_stop_the_others(make_agent):
    paused = make_agent(name="paused", state=Agent.State.PAUSED, state_reason="maintenance")
    active = make_agent(name="active", overlap_policy="allow")
    runs = start_runs([RunRequest(paused), RunRequest(active), RunRequest(paused)])
    assert [r.status for r in runs] == ["skipped", "queued", "skipped"]
    assert runs[0].reason == "Agent is paused: maintenance"


def test_a_batch_costs_a_fixed_number_of_queries(django_capture_on_commit_callbacks, make_agent):
    agents = [make_agent(name=f"a{i}", overlap_policy="allow") for i in range(3)]
    for agent in agents:
        agent.primary_thread()

    def count(n):
        requests = [RunRequest(agents[i % 3], slot_key=f"k:{n}:{i}") for i in range(n)]
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            start_runs(requests)
        return len(queries)

    small, large = count(30), count(300)
    # Not one query per run: SQLite takes ~33 runs per INSERT (999 parameters).
    assert large <= small + 300 // 25, (small, large)
    # Every run is sent once, in bulk, GRADENT_RUNS_PER_TASK (20) to a task.
    carried = [run_id for task in OrmQ.objects.all() for run_id in task.task["args"]]
    assert sorted(carried) == sorted(Run.objects.values_list("pk", flat=True))
    assert OrmQ.objects.count() == 2 + 15


def test_bulk_packages_are_what_async_task_enqueues():
    from django_q.tasks import async_task

    async_task("agents.tasks.execute_run", 7, task_name="run-7")
    enqueue_many("agents.tasks.execute_run", [((8,), "run-8"), ((9,), "run-9")])
    packages = [SignedPackage.loads(q.payload) for q in OrmQ.objects.order_by("id")]
    reference, *bulk = packages
    assert [p["args"] for p in packages] == [(7,), (8,), (9,)]
    assert [p["name"] for p in packages] == ["run-7", "run-8", "run-9"]
    for package in bulk:
        assert set(package) == set(reference)
        assert {k: v for k, v in package.items() if k not in ("id", "name", "args", "started")} == {
            k: v for k, v in reference.items() if k not in ("id", "name", "args", "started")
        }
        assert package["id"] != reference["id"]


def test_a_batch_and_its_tasks_are_committed_together_or_not_at_all(make_agent):
    """On the ORM broker the tasks are rows of the same transaction as the runs."""
    from django.db import transaction

    agent = make_agent(overlap_policy="allow")
    with pytest.raises(RuntimeError), transaction.atomic():
        start_runs([RunRequest(agent), RunRequest(agent)])
        assert OrmQ.objects.count() == 1  # both runs' task, sent inside the transaction, not after it
        raise RuntimeError("the caller fails after starting")
    assert (Run.objects.count(), OrmQ.objects.count()) == (0, 0)
