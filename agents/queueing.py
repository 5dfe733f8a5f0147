"""Everything Gradent asks of django-q2, in one module: the only one that imports it.

The Run table is the truth and django-q2 only carries tasks to workers. Callers say what
to run (`enqueue`, `enqueue_many`); this module knows how the broker takes it, and answers
the health page's questions about the broker and the clusters.

django-q2 enqueues one task per `async_task` call; on its ORM broker that is one INSERT
(and one `close_old_connections()`) per task. `enqueue_many` builds the package
`async_task` builds (id and name, func, args, kwargs, started, and the cluster-wide
cached / sync / ack_failure options), signs it the same way, and on the ORM broker inserts
every package with one `OrmQ.objects.bulk_create`. On the ORM broker the caller may
enqueue inside its own transaction (`atomic_with_the_database`), so a run and its task are
committed together. tests/agents/test_start_runs.py checks the packages against
`async_task`'s own, so a django-q2 upgrade that changes the format fails there.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from uuid import uuid4

from django.utils import timezone

logger = logging.getLogger(__name__)


def atomic_with_the_database() -> bool:
    """True when tasks are rows of the default database (the ORM broker), so a run and its
    task can be committed together."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf

    return not Conf.SYNC and Conf.ORM == "default" and isinstance(get_broker(), ORM)


def runs_inline() -> bool:
    """True in django-q2's sync mode: a task runs in the caller, at once (tests)."""
    from django_q.conf import Conf

    return bool(Conf.SYNC)


def package(func: str, args: tuple, name: str | None = None, *, started=None) -> dict:
    """The task dict `async_task(func, *args, task_name=name)` would enqueue."""
    from django_q.conf import Conf
    from django_q.humanhash import uuid

    if name:  # the humanised name is only needed when there is none
        task = {"id": uuid4().hex, "name": name, "func": func, "args": args}
    else:
        tag = uuid()
        task = {"id": tag[1], "name": tag[0], "func": func, "args": args}
    if Conf.CACHED:
        task["cached"] = Conf.CACHED
    if Conf.SYNC:
        task["sync"] = Conf.SYNC
    if Conf.ACK_FAILURES:
        task["ack_failure"] = Conf.ACK_FAILURES
    task["kwargs"] = {}
    task["started"] = started or timezone.now()
    return task


def _signed(func: str, args: tuple, name: str | None, started) -> str:
    from django_q.signals import pre_enqueue
    from django_q.signing import SignedPackage

    task = package(func, args, name, started=started)
    pre_enqueue.send(sender="django_q", task=task)
    return SignedPackage.dumps(task)


def enqueue(func: str, *args, name: str | None = None) -> None:
    """Send one task (raises when the broker cannot take it)."""
    from django_q.tasks import async_task

    async_task(func, *args, task_name=name)


def enqueue_many(func: str, calls: Iterable[tuple[tuple, str | None]]) -> None:
    """Send `func(*args)` for each (args, task name): one INSERT on the ORM broker, one
    enqueue each on the others. Raises when the broker cannot take them."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf
    from django_q.models import OrmQ

    calls = list(calls)
    if Conf.SYNC:  # tests and debugging: run each now, as async_task does
        for args, name in calls:
            enqueue(func, *args, name=name)
        return
    now = timezone.now()  # one enqueue instant for the batch
    broker = get_broker()
    packs = [_signed(func, args, name, now) for args, name in calls]
    if isinstance(broker, ORM):
        key = broker.list_key or Conf.CLUSTER_NAME
        OrmQ.objects.using(Conf.ORM).bulk_create(
            [OrmQ(key=key, payload=pack, lock=now) for pack in packs], batch_size=500
        )
    else:
        for pack in packs:
            broker.enqueue(pack)


def on_worker_start(callback) -> None:
    """Call `callback()` in each worker process django-q2 spawns, before its first task."""
    from django_q.signals import post_spawn

    post_spawn.connect(lambda sender, **kwargs: callback(), weak=False, dispatch_uid="gradent.worker_start")


def on_task_boundaries(started, ended) -> None:
    """Call `started()` before and `ended()` after every task a worker of this process
    executes, whatever its function."""
    from django_q.signals import post_execute_in_worker, pre_execute

    pre_execute.connect(lambda sender, **kwargs: started(), weak=False, dispatch_uid="gradent.task_started")
    post_execute_in_worker.connect(lambda sender, **kwargs: ended(), weak=False, dispatch_uid="gradent.task_ended")


# --- what /healthz asks --------------------------------------------------------------------
def broker_status() -> dict:
    try:
        from django_q.brokers import get_broker

        broker = get_broker()
        if not broker.ping():
            return {"ok": False, "detail": "broker did not answer"}
        return {"ok": True, "detail": type(broker).__name__, "queued": broker.queue_size()}
    except Exception as exc:
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}


def cluster_state(pid: int) -> str | None:
    """What the django-q2 cluster whose main process is `pid`, on this machine, last
    reported ("Starting", "Idle", "Working", …), or None when it has reported nothing in
    the last 3 s (its sentinel reports every half second). Raises when the status store
    (the cache, or Redis) cannot be read."""
    from django_q.status import Stat

    host = socket.gethostname()
    return next((stat.status for stat in Stat.get_all() if stat.pid == pid and stat.host == host), None)


def cluster_reporting(pid: int) -> bool | None:
    """Whether the cluster whose main process is `pid` reports its status. False only when
    it is silent while the status store keeps what is written to it (so its sentinel has
    stopped: stuck or dead); None when that cannot be told."""
    from django_q.brokers import get_broker

    try:
        if cluster_state(pid) is not None:
            return True
        # Written and read back as the sentinel writes its status (not a signed status:
        # the clusters' list skips it).
        broker = get_broker()
        probe = f"gradent:status-probe:{socket.gethostname()}:{pid}"
        broker.set_stat(probe, "probe", 10)
        return False if broker.get_stat(probe) in ("probe", b"probe") else None
    except Exception:
        return None


def cluster_status() -> dict:
    try:
        from django_q.status import Stat

        clusters = [s for s in Stat.get_all() if s.status not in ("Stopped",)]
    except Exception as exc:
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}
    if not clusters:
        return {"ok": False, "detail": "no worker cluster is running"}
    return {
        "ok": True,
        "detail": f"{len(clusters)} cluster(s)",
        "workers": sum(len(s.workers) for s in clusters),
    }
