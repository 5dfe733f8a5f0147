"""Group commit for SQLite writes from many threads of one process.

SQLite has one writer at a time, and each write transaction pays a fixed price (the lock,
the WAL append, the commit, and the GIL handed back and forth around each call) that is
larger than a small INSERT. When several threads of a web process write at once, the
first becomes the leader and writes everything waiting, in one transaction; the others
sleep until their row is written (or has failed) and return. With one thread writing, a
batch is that one row. Used by the webhook receiver on SQLite (proactive/hooks.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class _Waiting:
    __slots__ = ("done", "error", "item")

    def __init__(self, item: Any):
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """`submit(item)` returns once `write(batch)` has written the item: `write` gets every
    item waiting at that moment and returns one error (or None) per item, in order."""

    def __init__(self, write: Callable[[list[Any]], list[BaseException | None]]):
        self._write = write
        self._cond = threading.Condition()
        self._queue: list[_Waiting] = []
        self._writing = False

    def submit(self, item: Any) -> None:
        mine = _Waiting(item)
        with self._cond:
            self._queue.append(mine)
            while self._writing and not mine.done:
                self._cond.wait()
            if not mine.done:  # lead: take everything waiting, ours included
                self._writing = True
                batch, self._queue = self._queue, []
        if not mine.done:
            try:
                errors = self._write([waiting.item for waiting in batch])
            except BaseException as exc:  # the whole batch failed: every waiter hears why
                errors = [exc] * len(batch)
            with self._cond:
                for waiting, error in zip(batch, errors, strict=True):
                    waiting.error, waiting.done = error, True
                self._writing = False
                self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
