"""gradent.db.sqlite3: SQLite's writers queue in order, across threads and processes.

Each test opens its own SQLite file through the backend (a connection alias of its own), so
it runs the same whatever the suite's database is. "Another process" is a second open of the
lock file: flock treats it exactly as another process's."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from django.db import connections, transaction

from gradent.db.sqlite3.base import writer_lock


@pytest.fixture
def database(tmp_path, django_db_blocker):
    """(alias, path) of a fresh SQLite file with a table t(v), behind the writers' queue."""
    path = tmp_path / "writers.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (v INTEGER)")
    aliases = []

    def open_alias(timeout: float = 5) -> str:
        alias = f"writers_{uuid.uuid4().hex[:8]}"
        settings = {
            "ENGINE": "gradent.db.sqlite3",
            "NAME": str(path),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": timeout},
        }
        connections.settings[alias] = connections.configure_settings({"default": {}, alias: settings})[alias]
        aliases.append(alias)
        return alias

    with django_db_blocker.unblock():
        yield open_alias, path
        for alias in aliases:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


@contextmanager
def another_process_writing(path):
    """Hold the writers' queue as another process would, for as long as the block runs."""
    fd = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def queue_is_free(path) -> bool:
    fd = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def values(path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [v for (v,) in db.execute("SELECT v FROM t ORDER BY v")]


def test_a_transaction_holds_the_queue_from_begin_to_commit_or_rollback(database):
    open_alias, path = database
    alias = open_alias()
    with transaction.atomic(using=alias):
        connections[alias].cursor().execute("INSERT INTO t (v) VALUES (1)")
        assert not queue_is_free(path)
    assert queue_is_free(path)
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=alias):
        connections[alias].cursor().execute("INSERT INTO t (v) VALUES (2)")
        assert not queue_is_free(path)
        1 / 0  # noqa: B018
    assert queue_is_free(path)
    assert values(path) == [1]


def test_a_writer_waits_for_the_process_ahead_of_it_and_goes_as_soon_as_it_is_done(database):
    open_alias, path = database
    alias = open_alias()
    wrote = threading.Event()

    def write():
        connections[alias].cursor().execute("INSERT INTO t (v) VALUES (7)")  # autocommit
        wrote.set()
        connections[alias].close()

    with another_process_writing(path):
        writer = threading.Thread(target=write)
        writer.start()
        assert not wrote.wait(0.5)  # SQLite itself is free: only the queue holds it back
        assert values(path) == []
    assert wrote.wait(2)
    writer.join()
    assert values(path) == [7]


def test_reads_do_not_queue(database):
    open_alias, path = database
    alias = open_alias()
    with another_process_writing(path):
        started = time.monotonic()
        rows = connections[alias].cursor().execute("SELECT count(*) FROM t").fetchall()
        assert time.monotonic() - started < 0.4
    assert rows == [(0,)]


def test_a_writer_that_cannot_have_the_queue_in_time_goes_to_sqlite_itself(database):
    open_alias, path = database
    alias = open_alias(timeout=0.3)
    with another_process_writing(path):  # holds the queue, not SQLite's lock: a stuck peer
        started = time.monotonic()
        with transaction.atomic(using=alias):
            connections[alias].cursor().execute("INSERT INTO t (v) VALUES (3)")
        waited = time.monotonic() - started
    assert 0.3 <= waited < 3
    assert values(path) == [3]


def test_threads_of_one_process_write_in_turn_and_every_write_lands(database):
    open_alias, path = database
    alias = open_alias()
    errors = []

    def write(start: int):
        try:
            for v in range(start, start + 50):
                with transaction.atomic(using=alias):
                    connections[alias].cursor().execute("INSERT INTO t (v) VALUES (%s)", [v])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections[alias].close()

    threads = [threading.Thread(target=write, args=(k * 100,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert values(path) == [k * 100 + i for k in range(8) for i in range(50)]
    assert queue_is_free(path)


def test_a_forked_child_queues_behind_its_parent_and_gets_its_turn(database):
    """A fork copies the process's thread lock as it was (held, by a thread of the parent)
    and shares the parent's open lock file: the child must start afresh, or it would wait
    for a thread it does not have, or think it holds what its parent holds."""
    open_alias, path = database
    alias = open_alias()
    lock = writer_lock(os.path.abspath(path))
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    with transaction.atomic(using=alias):
        connections[alias].cursor().execute("INSERT INTO t (v) VALUES (1)")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's verdict is its exit code
            code = 2
            try:
                behind = not lock.acquire(0.3)  # the parent holds the queue
                os.write(ready_write, b"x")
                os.read(go_read, 1)  # the parent has committed
                code = 0 if behind and lock.acquire(5) else 1
            finally:
                os._exit(code)
        os.read(ready_read, 1)
    os.write(go_write, b"x")
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    for fd in (ready_read, ready_write, go_read, go_write):
        os.close(fd)


def raw_connection_of(alias, *, then=None):
    """The raw SQLite connection a new thread gets for the alias (and closes at its end)."""
    seen = []

    def work():
        connections[alias].ensure_connection()
        seen.append(connections[alias].connection)
        if then:
            then(alias)
        connections[alias].close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen[0]


def test_the_next_thread_gets_the_connection_a_finished_thread_closed(database):
    open_alias, path = database
    alias = open_alias()
    first = raw_connection_of(alias)
    second = raw_connection_of(alias)
    assert second is first  # not opened again
    cursor = second.cursor()
    assert cursor.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert cursor.execute("PRAGMA foreign_keys").fetchone() == (1,)
    other = open_alias(timeout=3)  # other options: a connection of its own
    assert raw_connection_of(other) is not first


def test_a_connection_closed_inside_a_transaction_or_after_an_error_is_closed_for_real(database):
    open_alias, path = database
    alias = open_alias()

    def close_in_transaction(alias):
        transaction.atomic(using=alias).__enter__()  # left open: the thread ends inside it

    first = raw_connection_of(alias, then=close_in_transaction)
    assert raw_connection_of(alias) is not first

    def fail(alias):
        with pytest.raises(Exception, match="no such table"):
            connections[alias].cursor().execute("SELECT * FROM missing")

    failed = raw_connection_of(alias, then=fail)
    assert raw_connection_of(alias) is not failed
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        failed.execute("SELECT 1")


def test_a_forked_child_opens_its_own_connections(database):
    """A child must not use (nor close) a connection its parent opened."""
    open_alias, path = database
    alias = open_alias()
    parents = raw_connection_of(alias)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's verdict is its exit code
        code = 2
        try:
            code = 0 if raw_connection_of(alias) is not parents else 1
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert raw_connection_of(alias) is parents  # still the parent's, and open
