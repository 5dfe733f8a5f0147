"""gradent.lib.groupcommit: every item is written once, waiters are batched behind a
busy leader, and each submitter hears only its own item's error."""

from __future__ import annotations

import threading
import time

import pytest

from gradent.lib.groupcommit import GroupCommit


def test_concurrent_submits_are_written_once_each_in_fewer_batches():
    written: list[int] = []
    batches: list[int] = []

    def write(batch):
        time.sleep(0.02)  # a slow write: others queue up behind it
        batches.append(len(batch))
        written.extend(batch)
        return [None] * len(batch)

    group = GroupCommit(write)
    threads = [threading.Thread(target=group.submit, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(written) == list(range(40))
    assert len(batches) < 40 and max(batches) > 1


def test_an_items_error_reaches_only_its_submitter():
    def write(batch):
        return [ValueError(f"bad {item}") if item == "bad" else None for item in batch]

    group = GroupCommit(write)
    group.submit("good")
    with pytest.raises(ValueError, match="bad bad"):
        group.submit("bad")


def test_a_failed_write_reaches_every_waiter_and_the_next_batch_still_runs():
    calls = []

    def write(batch):
        calls.append(list(batch))
        if len(calls) == 1:
            raise OSError("disk full")
        return [None] * len(batch)

    group = GroupCommit(write)
    with pytest.raises(OSError, match="disk full"):
        group.submit(1)
    group.submit(2)
    assert calls == [[1], [2]]
