"""`manage.py qcluster`: django-q2's command, stopped from its main loop instead of from
inside a signal handler.

django-q2 stops the cluster in its SIGTERM/SIGINT handler, wherever the signal finds the
main thread. While the cluster starts, that thread polls the start event, and a signal
that lands while it holds the event's lock (a window of a few bytecodes) stops the cluster
with the lock held: the sentinel needs that lock to start or stop, the handler waits for
the sentinel, and the whole cluster stays up for good. Under `up` that was a cluster left
running after a `kill -9` of `up` (CI saw it once in ~20 runs); under systemd, a stop that
ends in SIGKILL. Here the handler only takes note, and the main loop stops the cluster.
`up` runs this command in its workers child; the apps' order in INSTALLED_APPS ("gradent"
before "django_q") makes it the `qcluster` that `manage.py` runs.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands import qcluster

# How often the main loop looks for a stop request or a sentinel that died.
POLL_SECONDS = 0.2


class NotedCluster(Cluster):
    """A cluster whose signal handler only notes the request (django-q2 installs the
    handler in Cluster.__init__, so the subclass's is there from the start)."""

    stop_requested = False

    def sig_handler(self, signum, frame) -> None:
        self.stop_requested = True


class Command(qcluster.Command):
    help = "Starts the task workers (django-q2's qcluster); SIGTERM or Ctrl-C stops them gracefully."

    def handle(self, *args, **options) -> None:
        settings.SECRET_KEY  # noqa: B018 (django-q2 signs its tasks with it: fail before starting)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = NotedCluster()
        cluster.start()  # returns once the sentinel runs (or has exited)
        if not options.get("run_once"):
            while not cluster.stop_requested and cluster.sentinel.is_alive():
                time.sleep(POLL_SECONDS)
        cluster.stop()
