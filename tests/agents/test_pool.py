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


def queued_run():
    agent = make_agent(provider="scripted", provider_settings={"steps": [], "answer": "ok"}, overlap_policy="allow")
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
