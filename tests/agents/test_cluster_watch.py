"""Whether a django-q2 cluster still reports its status (agents.queueing.cluster_reporting),
what a worker (agents.pool) and `up` (ClusterWatch) act on: a cluster is silent only when
the status store keeps what is written to it, so a broken cache never gets a healthy
cluster killed. The processes themselves: tests/system/test_pool.py and test_up.py."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest
from django.test import override_settings
from django_q.status import Stat

from agents import queueing
from gradent.management.commands import up

NO_STORE = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}


class FakeSentinel:
    """What django_q.status.Stat reads off a sentinel."""

    def __init__(self, main_pid: int):
        self.parent_pid, self.pid, self.cluster_id = main_pid, main_pid + 1, f"test-{main_pid}"
        self.broker, self.tob, self.reincarnations = None, None, 0
        self.monitor = self.pusher = None
        self.pool = []
        self.result_queue = self.task_queue = SimpleNamespace(qsize=lambda: 0)

    def status(self) -> str:
        return "Idle"


@pytest.fixture
def own_cache(tmp_path):
    with override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
        }
    ):
        yield


@pytest.mark.django_db
def test_a_cluster_that_saves_its_status_is_reporting_and_one_that_does_not_is_silent(own_cache):
    Stat(FakeSentinel(main_pid=4242)).save()
    assert queueing.cluster_state(4242) == "Idle"
    assert queueing.cluster_reporting(4242) is True
    assert queueing.cluster_state(4243) is None
    assert queueing.cluster_reporting(4243) is False
    # The probe written to tell a silent cluster from a broken store is not a cluster.
    assert [stat.pid for stat in Stat.get_all()] == [4242]


@pytest.mark.django_db
def test_a_store_that_keeps_nothing_or_fails_says_nothing_about_the_cluster(own_cache, monkeypatch):
    with override_settings(CACHES=NO_STORE):
        assert queueing.cluster_reporting(4243) is None

    def broken(*args, **kwargs):
        raise ConnectionError("the cache is down")

    monkeypatch.setattr("django_q.status.Stat.get_all", broken)
    assert queueing.cluster_reporting(4243) is None


def test_up_ends_a_cluster_only_after_it_was_silent_for_the_whole_period(monkeypatch, settings):
    settings.GRADENT_WORKER_WEDGED_SECONDS = 0.3
    monkeypatch.setattr(up.ClusterWatch, "EVERY", 0.0)
    child = SimpleNamespace(alive=lambda: True, process=SimpleNamespace(pid=os.getpid()))
    answers = iter([False, None, False, False, False, False])
    monkeypatch.setattr(queueing, "cluster_reporting", lambda pid: next(answers))

    watch = up.ClusterWatch()
    assert not watch.stuck(child)  # silent
    time.sleep(0.2)
    assert not watch.stuck(child)  # the store could not tell: not counted as silence
    assert not watch.stuck(child)  # silent again, since just now
    time.sleep(0.35)
    assert watch.stuck(child)
    child.process.pid += 1  # a new cluster gets the whole period again
    assert not watch.stuck(child)
