"""`manage.py up`: the whole product on one machine, as one process group.

Migrates, makes sure there is an admin, then starts gunicorn (web) and a django-q2 cluster
as children and runs the dispatcher loop in a thread of its own (this process has Django
loaded already; a separate dispatcher process would cost ~80 MB more at idle). It
supervises all three: one that dies is restarted, one that keeps dying stops the group
with a clear message. Ctrl-C / SIGTERM stop everything cleanly.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
STOP_TIMEOUT = 15.0


def child_env() -> dict[str, str]:
    """The children's environment. A worker holds many runs on threads, and glibc gives
    threads arenas of their own (up to 8 per core), which keep freed memory: two arenas
    cost little speed and save ~100 MB per busy worker (bench/llm_concurrency.py)."""
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        # Own process group: a child's own children (gunicorn and qcluster workers) are
        # stopped together, and a terminal's Ctrl-C reaches them only through us.
        self.process = subprocess.Popen(self.argv, start_new_session=True, env=child_env())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        # Only the leader: gunicorn's master and django-q2's sentinel stop their own
        # children in order; signalling the whole group would cut that short.
        if self.alive():
            self.process.terminate()

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class DispatcherThread:
    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.restarts: list[float] = []

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from django.db import connection

        from agents.dispatcher import run_forever

        try:
            run_forever(self.stop_event)
        finally:
            connection.close()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def restart_or_fail(self, stderr) -> str:
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW]
        if len(self.restarts) >= MAX_RESTARTS:
            return f"the dispatcher stopped {MAX_RESTARTS} times within {RESTART_WINDOW:.0f} s; stopping Gradent."
        self.restarts.append(now)
        stderr.write("the dispatcher stopped; restarting it.")
        self.start()
        return ""

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=STOP_TIMEOUT)


class Command(BaseCommand):
    help = "Start Gradent: migrations, first admin, web server, dispatcher and workers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default=os.environ.get("GRADENT_HOST", "127.0.0.1"))
        parser.add_argument("--demo", action="store_true", help="Create example agents that need no API key.")
        parser.add_argument("--web-workers", type=int, default=1, help="gunicorn processes (threads: 4 each).")

    def handle(self, *args, port: int, host: str, demo: bool, web_workers: int, **options) -> None:
        self.stdout.write(f"Gradent: data in {settings.DATA_DIR}")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        # In a process of its own: the migration graph would stay in this one's memory
        # for as long as Gradent runs (~30 MB).
        subprocess.run([sys.executable, manage, "migrate", "--no-input", "--verbosity", "0"], check=True)
        admin = self.ensure_admin()
        if demo:
            from gradent.demo import create_demo

            created = create_demo(owner=admin)
            self.stdout.write(f"Demo: {len(created)} example agents in {admin.get_username()}'s workspace.")

        if not settings.SITE_URL_SET:
            # Links in messages (no request to take the address from) point where we listen.
            shown = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a name, not a bind)
            os.environ["GRADENT_UP_URL"] = settings.SITE_URL = f"http://{shown}:{port}"
        web = [sys.executable, "-m", "gunicorn", "gradent.wsgi:application", "--bind", f"{host}:{port}"]
        web += ["--workers", str(web_workers), "--worker-class", "gthread", "--threads", "4"]
        web += ["--access-logfile", "-", "--graceful-timeout", "10", "--no-control-socket"]
        children = [
            Child("web", web),
            Child("workers", [sys.executable, manage, "qcluster"]),
        ]
        stopping = False

        def on_signal(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        for child in children:
            child.start()
        dispatcher = DispatcherThread()
        dispatcher.start()
        self.stdout.write(self.style.SUCCESS(f"Gradent is up: http://{host}:{port}/  (Ctrl-C stops it)"))

        failure = ""
        while not stopping and not failure:
            time.sleep(0.5)
            if not dispatcher.alive():
                failure = dispatcher.restart_or_fail(self.stderr)
            for child in children:
                if child.alive():
                    continue
                code = child.process.returncode
                now = time.monotonic()
                child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW]
                if len(child.restarts) >= MAX_RESTARTS:
                    failure = (
                        f"{child.name} exited (code {code}) {MAX_RESTARTS} times within "
                        f"{RESTART_WINDOW:.0f} s; stopping Gradent. See its output above."
                    )
                    break
                child.restarts.append(now)
                self.stderr.write(f"{child.name} exited with code {code}; restarting it.")
                child.start()

        self.stdout.write("Stopping…")
        dispatcher.stop()
        for child in children:
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            while child.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if child.alive():
                self.stderr.write(f"{child.name} did not stop in {STOP_TIMEOUT:.0f} s; killing it.")
                child.kill()
                child.process.wait()
        if failure:
            raise CommandError(failure)
        self.stdout.write("Stopped.")

    def ensure_admin(self):
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is not None:
            return admin
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            bar = "=" * 60
            self.stdout.write(
                f"{bar}\nFirst admin account created. This password is shown once:\n"
                f"  username: {username}\n  password: {password}\n{bar}"
            )
        else:
            self.stdout.write(f"First admin account {username!r} created from DJANGO_SUPERUSER_*.")
        return admin
