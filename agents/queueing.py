"""Bulk enqueue for django-q2.

django-q2 enqueues one task per `async_task` call; on its ORM broker that is one INSERT
(and one `close_old_connections()`) per task, which caps how fast a dispatcher tick can
hand thousands of due runs to the workers. `enqueue_many` builds the same signed package
`async_task` builds (id and name, func, args, kwargs, started, and the cluster-wide
cached / sync / ack_failure options) and, on the ORM broker, inserts every package in one
statement. Other brokers get `broker.enqueue` per package. tests/agents/test_start_runs.py
checks the packages against `async_task`'s own, so a django-q2 upgrade that changes the
format fails there, not in production. On the ORM broker the caller may enqueue inside
its own transaction (`atomic_with_the_database`), so a run and its task are committed
together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import uuid4

from django.db import connections
from django.utils import timezone


def atomic_with_the_database() -> bool:
    """True when tasks are rows of the default database (the ORM broker), so a run and its
    task can be committed together."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf

    return not Conf.SYNC and Conf.ORM == "default" and isinstance(get_broker(), ORM)


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


@dataclass(frozen=True)
class Prepared:
    """A task packaged and signed ahead of its enqueue (a schedule's fire is planned
    before its instant: its task names the slot, so it can be signed before the run
    exists). `func` and `args` are kept for django-q2's sync mode."""

    func: str
    args: tuple
    name: str | None
    pack: str


def prepare(func: str, args: tuple, name: str | None = None, *, started=None) -> Prepared:
    from django_q.signals import pre_enqueue
    from django_q.signing import SignedPackage

    task = package(func, args, name, started=started)
    pre_enqueue.send(sender="django_q", task=task)
    return Prepared(func, args, name, SignedPackage.dumps(task))


def enqueue_many(func: str, calls: Iterable[tuple[tuple, str | None]]) -> None:
    """Enqueue `func(*args)` for each (args, task name)."""
    now = timezone.now()  # one enqueue instant for the batch
    enqueue_prepared([prepare(func, args, name, started=now) for args, name in calls])


def enqueue_prepared(items: list[Prepared]) -> None:
    """Send prepared tasks: in one INSERT on the ORM broker, else one by one."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    if Conf.SYNC:  # tests and debugging: run each now, as async_task does
        for item in items:
            async_task(item.func, *item.args, task_name=item.name)
        return
    broker = get_broker()
    if isinstance(broker, ORM):
        connection = connections[Conf.ORM]
        lock = connection.ops.adapt_datetimefield_value(timezone.now())
        key = broker.list_key or Conf.CLUSTER_NAME
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {connection.ops.quote_name(OrmQ._meta.db_table)} (key, payload, lock) "  # noqa: S608
                "VALUES (%s, %s, %s)",
                [(key, item.pack, lock) for item in items],
            )
    else:
        for item in items:
            broker.enqueue(item.pack)
