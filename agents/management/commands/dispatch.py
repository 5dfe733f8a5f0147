from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from agents import dispatcher


class Command(BaseCommand):
    help = "Run the dispatcher: sends due runs, schedules and cycles to the workers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one tick and exit (for system cron).")

    def handle(self, *args, once: bool = False, **options) -> None:
        if once:
            result = dispatcher.tick()
            dispatcher.beat("cron", 0, {"done": result.done})
            self.stdout.write(f"dispatched {result.done}")
            return
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        dispatcher.run_forever(stop)
