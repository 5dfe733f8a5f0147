"""SQLite with one orderly queue of writers per database file.

SQLite lets one connection write at a time. A connection that finds the file locked sleeps
in SQLite's busy handler (1, 2, 5, 10, … up to 100 ms, growing with each try) and tries
again: under load the writer that keeps writing (the API inserting runs) keeps winning
and the others (a worker claiming a run) sleep ever longer. So before a write transaction
begins, a connection here queues on a lock of its own: a thread lock shared by the
process's connections to that file, then an advisory `flock` on `<database>-writer` shared
by every process, taken with short waits (at most 1 ms). Whoever waits is next within a
millisecond of the file being free, and a process brings one writer at a time to the file.

The lock is only a queue in front of SQLite's own: what is written, and when a
transaction is atomic, is SQLite's doing as before. A writer that cannot have the lock
within the connection's `timeout` goes ahead without it and meets SQLite's busy handler
("database is locked" after the same timeout, as before); a write this module does not
recognise as one just goes to SQLite's handler.

A closed connection is also kept open for the next thread of the process (up to
IDLE_CONNECTIONS per file): a worker runs each run on a new thread, and opening a
connection (Django's functions, the PRAGMAs) cost ~1 ms of a no-op run's ~5. Only a
connection outside any transaction, with no error, is kept.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref

from django.db.backends.sqlite3 import base

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "WITH")
IDLE_CONNECTIONS = 16  # per database file and process


class WriterLock:
    """The writers' queue of one database file, in one process."""

    def __init__(self, path: str):
        self.path = f"{path}-writer"
        self._after_fork()

    def _after_fork(self) -> None:
        # A fork copies the lock as it was (perhaps held by a thread the child does not
        # have) and shares the file's open description (and so its flock) with the parent.
        self._threads = threading.Lock()
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=max(timeout, 0)):
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            wait = 0.0001
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        self._threads.release()
                        return False
                    time.sleep(wait)
                    wait = min(wait * 2, 0.001)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_locks: dict[str, WriterLock] = {}
_locks_lock = threading.Lock()
_idle: dict[str, list] = {}  # database path and options -> open connections no thread uses
_inherited: list = []  # a parent's connections, never used nor closed by a forked child


def writer_lock(path: str) -> WriterLock:
    with _locks_lock:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = WriterLock(path)
        return lock


def _reset_after_fork() -> None:
    global _locks_lock
    _locks_lock = threading.Lock()
    # Closing a connection the parent opened could checkpoint and remove the WAL under the
    # parent (the child does not hold the parent's file locks): keep them, unused.
    for connections in _idle.values():
        _inherited.extend(connections)
    _idle.clear()
    for lock in _locks.values():
        fd = lock._fd
        lock._after_fork()
        if fd is not None:
            os.close(fd)  # the child's copy only: the parent's flock stays the parent's


os.register_at_fork(after_in_child=_reset_after_fork)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._holding: WriterLock | None = None  # the queue this connection is first in

    def take_writer_lock(self) -> bool:
        """Queue for the file (the one NAME names now); False when not taken: held already,
        an in-memory database, or not had within the connection's timeout."""
        if self._holding is not None or self.is_in_memory_db():
            return False
        queue = writer_lock(self._path())
        if queue.acquire(float(self.settings_dict["OPTIONS"].get("timeout", 5))):
            self._holding = queue
        return self._holding is not None

    def release_writer_lock(self) -> None:
        if self._holding is not None:
            queue, self._holding = self._holding, None
            queue.release()

    def _start_transaction_under_autocommit(self):
        self.take_writer_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.release_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self.release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self.release_writer_lock()

    def get_new_connection(self, conn_params):
        with _locks_lock:
            idle = _idle.get(self._idle_key())
            if idle:
                return idle.pop()
        return super().get_new_connection(conn_params)

    def _close(self):
        try:
            if self._keep_open():
                return None
            return super()._close()
        finally:
            self.release_writer_lock()

    def _keep_open(self) -> bool:
        """Give the connection to the next thread instead of closing it, when it is clean."""
        if self.in_atomic_block or self.errors_occurred or self.connection.in_transaction or self.is_in_memory_db():
            return False
        with _locks_lock:
            idle = _idle.setdefault(self._idle_key(), [])
            if len(idle) >= IDLE_CONNECTIONS:
                return False
            idle.append(self.connection)
            return True

    def _path(self) -> str:
        return os.path.abspath(str(self.settings_dict["NAME"]))

    def _idle_key(self) -> str:
        """The file and the options a connection was opened with (its timeout, PRAGMAs)."""
        return f"{self._path()}|{sorted(self.settings_dict['OPTIONS'].items())!r}"

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=Cursor)
        cursor.wrapper = weakref.ref(self)
        return cursor


class Cursor(base.SQLiteCursorWrapper):
    """A write outside a transaction (Django's autocommit) queues for itself."""

    wrapper = None

    def _queued_if_alone(self, call, query: str, *args):
        """call(query, *args), first in the writers' queue when it writes outside a transaction."""
        wrapper = None
        if not self.connection.in_transaction and query.lstrip()[:7].upper().startswith(_WRITES):
            wrapper = self.wrapper()
            if wrapper is not None and not wrapper.take_writer_lock():
                wrapper = None
        try:
            return call(query, *args)
        finally:
            if wrapper is not None:
                wrapper.release_writer_lock()

    def execute(self, query, params=None):
        return self._queued_if_alone(super().execute, query, params)

    def executemany(self, query, param_list):
        return self._queued_if_alone(super().executemany, query, param_list)
