"""Test-only tools, loaded in the worker processes through GRADENT_EXTRA_TOOLS.

They misbehave on purpose so the system tests can reproduce what happens in production
when a worker process dies in the middle of a run.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from rest_framework import serializers

from agents.tools.base import Tool, ToolContext

KILL_WORKER = "tests.system.tools.KillWorkerTool"
SLEEP = "tests.system.tools.SlowTool"
EXTRA_TOOLS = [KILL_WORKER, SLEEP]


class KillWorkerTool(Tool):
    """Kills the worker process that runs it, every time (an OOM kill, a segfault...)."""

    name = "kill_worker"
    description = "Test only: SIGKILL the worker process running this tool."

    def run(self, args: dict, ctx: ToolContext) -> Any:
        # Mid-run, as an OOM kill comes: not within the millisecond after the run's task
        # returned, while the worker's main thread still holds django-q2's per-worker timer
        # lock for its bookkeeping. A worker killed there leaves the lock held and
        # django-q2's sentinel blocks on it for good (it replaces no worker again); runs
        # that reach their first tool in under a millisecond made that likely here.
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # never reached: SIGKILL cannot be caught
        return {"alive": True}


class SlowTool(Tool):
    """Sleeps, so a test can catch a worker in the middle of a run."""

    name = "sleep"
    description = "Test only: sleep for the given number of seconds."

    class InputSerializer(serializers.Serializer):
        seconds = serializers.FloatField(min_value=0, max_value=60, default=0.1)

    def run(self, args: dict, ctx: ToolContext) -> Any:
        time.sleep(args["seconds"])
        return {"slept": args["seconds"], "pid": os.getpid()}


def sleep_task(seconds: float) -> str:
    """Test only: a django-q2 task (not a run) that keeps its worker busy."""
    time.sleep(seconds)
    return "slept"
