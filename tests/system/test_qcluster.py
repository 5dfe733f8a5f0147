"""`manage.py qcluster` stops on SIGTERM whenever the signal comes, also while the cluster
starts (gradent/management/commands/qcluster.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from tests.system.test_cluster import up_env

pytestmark = pytest.mark.system

# The cluster's main process gets SIGTERM while it holds the start event's lock, the
# window a signal rarely hits (CI saw a `kill -9` of `up` land there once), made certain:
# Event.is_set sends it from inside its lock, once, in the main process only.
SIGNAL_INSIDE_THE_LOCK = """
import os, signal
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import multiprocessing.synchronize as synchronize
main = os.getpid()
signalled = []

def is_set(self):
    with self._cond:
        if os.getpid() == main and not signalled:
            signalled.append(True)
            os.kill(main, signal.SIGTERM)
        if self._flag.acquire(False):
            self._flag.release()
            return True
        return False

synchronize.Event.is_set = is_set
call_command("qcluster")
print("qcluster returned", flush=True)
"""


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != pgid and proc.status() != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (psutil.Error, ProcessLookupError):
            continue
    return members


def test_a_sigterm_while_the_cluster_starts_stops_it(tmp_path, start_service):
    probe = start_service(
        "qcluster", "-c", SIGNAL_INSIDE_THE_LOCK, env=up_env(tmp_path / "data"), program=[sys.executable]
    )
    try:
        code = probe.process.wait(30)
    except subprocess.TimeoutExpired:
        left = [" ".join(proc.cmdline()).strip() for proc in [psutil.Process(probe.pid), *probe.descendants()]]
        pytest.fail(f"qcluster did not stop within 30 s of its SIGTERM; running: {left}")
    output = probe.output()
    assert code == 0, output[-3000:]
    assert "has stopped" in output
    assert "qcluster returned" in output
    assert not group_members(probe.pid), "the cluster's processes outlived it"
