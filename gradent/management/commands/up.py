"""`manage.py up`: the whole product on one machine, as one process group.

Migrates, makes sure there is an admin, then forks two children, gunicorn (web) and a
django-q2 cluster, and runs the dispatcher loop in a thread of its own. The children share
the pages this process loaded (Django, the apps, their libraries) instead of loading their
own copies: idle, the whole group takes ~190 MB (PSS) against ~310 MB with children started
as new interpreters (bench/run_throughput.py). It supervises all three: one that dies is
restarted, one that keeps dying stops the group with a clear message. Ctrl-C / SIGTERM stop
everything cleanly; a `kill -9` of `up` stops the children too (they get SIGTERM from the
kernel: gradent.lib.procs.fork_child). In ps they are "gradent up", "gunicorn: master
[gradent web]", "gunicorn: worker [gradent web]" and django-q2's "qcluster …".

The terminal gets the start-up lines, warnings and errors; per-request and per-task lines
only with --verbose. "Gradent is up" is printed once the port answers, the admin's
credentials last, once the workers are ready.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from gradent.lib.procs import (
    ForkedChild,
    fork_child,
    limit_malloc_arenas,
    port_answers,
    port_in_use,
    port_owner,
    set_title,
)

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
STOP_TIMEOUT = 15.0
# The admin's credentials wait this long for the workers' start-up lines, then print anyway.
WORKERS_READY_TIMEOUT = 30.0


@dataclass
class Child:
    """A child forked from `up` (gradent.lib.procs.fork_child) that runs `main`."""

    name: str
    main: Callable[[], object]
    process: ForkedChild | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        connections.close_all()  # the child opens its own
        self.process = fork_child(self.main, title=f"gradent {self.name}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        # Only the leader: gunicorn's master and django-q2's main process stop their own
        # children in order; signalling the whole group would cut that short.
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def serve_web(bind: str, workers: int, access_log: bool) -> None:
    """gunicorn's master, in a child of `up`: its workers fork from it with the
    application `up` loaded already."""
    from gunicorn.app.base import BaseApplication

    from gradent import gunicorn_conf

    class Web(BaseApplication):
        def load_config(self) -> None:
            # What `gunicorn -c python:gradent.gunicorn_conf` reads, then `up`'s options.
            for key, value in vars(gunicorn_conf).items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", workers)
            self.cfg.set("proc_name", "gradent web")
            if access_log:
                self.cfg.set("accesslog", "-")

        def load(self):
            from gradent.wsgi import application

            return application

    Web().run()


def run_workers() -> None:
    """`manage.py qcluster` (gradent's: gradent/management/commands/qcluster.py), in a
    child of `up`: the cluster's own processes fork from it. It returns once the cluster
    has stopped."""
    from django.core.management import call_command

    call_command("qcluster")


class DispatcherThread:
    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.restarts: list[float] = []

    def start(self) -> None:
        self.stop_event.clear()
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

    @contextmanager
    def paused(self) -> Iterator[bool]:
        """Stopped while `up` forks a child again: a forked child gets a copy of every lock,
        and one the dispatcher held (in SQLite, in the safe client) would stay held there.
        Yields False when the thread did not stop in time (a tick longer than
        STOP_TIMEOUT): then do not fork now."""
        running = self.alive()
        if running:
            self.stop()
        try:
            yield not self.alive()
        finally:
            if running and not self.alive():
                self.start()


def serve_own_address(host: str, port: int) -> list[str]:
    """Tell this process and its children where the web server listens, so tools, probes and
    channels never reach it (gradent/lib/safehttp.py). Added to GRADENT_WEB_ADDRESSES when the
    operator set it (a proxy's address, say); instead of the default otherwise."""
    own = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    given = os.environ.get("GRADENT_WEB_ADDRESSES")
    addresses = [entry.strip() for entry in (given or "").split(",") if entry.strip()]
    addresses = list(dict.fromkeys([*addresses, own]))
    os.environ["GRADENT_WEB_ADDRESSES"] = ",".join(addresses)
    settings.GRADENT_WEB_ADDRESSES = addresses
    return addresses


class Command(BaseCommand):
    help = "Start Gradent: migrations, first admin, web server, dispatcher and workers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default=os.environ.get("GRADENT_HOST", "127.0.0.1"))
        parser.add_argument("--demo", action="store_true", help="Create example agents that need no API key.")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (threads: 4 each).")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Also log every request (gunicorn's access log) and every task.",
        )

    def handle(self, *args, port: int, host: str, demo: bool, web_workers: int, verbose: bool, **options) -> None:
        # A line is written when it ends, also into a pipe or a file (systemd's journal, a
        # log file): Python buffers 8 KiB there, and "Gradent is up" would wait for it.
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)
        if port_in_use(host, port):
            owner = port_owner(port)
            raise CommandError(
                f"Port {port} on {host} is already in use{f' by {owner}' if owner else ''}. "
                "Stop that process or start Gradent on another port (--port)."
            )
        if verbose:
            os.environ["GRADENT_VERBOSE"] = "true"  # the children
            settings.GRADENT_VERBOSE = True  # this process: the dispatcher's logging
        self.stdout.write(f"Gradent: data in {settings.DATA_DIR}")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        # In a process of its own: the migration graph would stay in this one's memory
        # for as long as Gradent runs (~30 MB).
        subprocess.run([sys.executable, manage, "migrate", "--no-input", "--verbosity", "0"], check=True)
        admin, admin_message = self.ensure_admin()
        if demo:
            from gradent.demo import create_demo

            created = create_demo(owner=admin)
            self.stdout.write(f"Demo: {len(created)} example agents in {admin.get_username()}'s workspace.")

        serve_own_address(host, port)
        if not settings.SITE_URL_SET:
            # Links in messages (no request to take the address from) point where we listen.
            shown = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a name, not a bind)
            os.environ["GRADENT_UP_URL"] = settings.SITE_URL = f"http://{shown}:{port}"
        set_title(f"gradent up {host}:{port}")
        limit_malloc_arenas()
        import gradent.wsgi  # noqa: F401  (loaded once here, shared with the web workers)

        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        children = [
            Child("web", partial(serve_web, bind, web_workers, verbose)),
            Child("workers", run_workers),
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
        watch = ClusterWatch()
        started = time.monotonic()
        announced = admin_shown = False

        failure = ""
        while not stopping and not failure:
            time.sleep(0.5 if admin_shown else 0.1)
            if not announced and port_answers(host, port):
                announced = True
                self.stdout.write(self.style.SUCCESS(f"Gradent is up: http://{host}:{port}/  (Ctrl-C stops it)"))
            if announced and not admin_shown:
                waited = time.monotonic() - started
                if workers_ready(children[1]) or waited > WORKERS_READY_TIMEOUT:
                    admin_shown = True
                    self.stdout.write(admin_message)
            if not dispatcher.alive():
                failure = dispatcher.restart_or_fail(self.stderr)
            if watch.stuck(children[1]):
                silent = settings.GRADENT_WORKER_WEDGED_SECONDS
                self.stderr.write(
                    f"workers: the cluster has not reported its status for {silent:.0f} s; "
                    "ending it (SIGKILL) to start it again."
                )
                children[1].kill()
                children[1].process.wait()
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
                with dispatcher.paused() as quiet:
                    if not quiet:
                        continue  # the next pass tries again
                    child.restarts.append(now)
                    self.stderr.write(f"{child.name} exited with code {code}; restarting it.")
                    child.start()

        if not admin_shown:
            # Stopped before the workers were ready: a generated password is shown only now.
            self.stdout.write(admin_message)
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
        """The first admin, and what to tell about it (printed last, once all is up)."""
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is not None:
            name = admin.get_username()
            return admin, (
                f"Admin account {name!r} exists. Forgot its password? python manage.py changepassword {name}"
            )
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            bar = "=" * 60
            return admin, (
                f"{bar}\nFirst admin account created. This password is shown once:\n"
                f"  username: {username}\n  password: {password}\n{bar}"
            )
        return admin, f"First admin account {username!r} created from DJANGO_SUPERUSER_*."


def workers_ready(child: Child) -> bool:
    """Whether this child's django-q2 cluster reports its workers started (Idle/Working)."""
    from agents import queueing

    if not child.alive():
        return False
    try:
        return queueing.cluster_state(child.process.pid) in ("Idle", "Working")
    except Exception:
        return False


class ClusterWatch:
    """A cluster whose main process lives but which has stopped reporting its status: its
    sentinel is stuck (django-q2's sentinel can block for good when a worker dies at the
    wrong moment, agents.pool) and no worker survived to notice. After
    GRADENT_WORKER_WEDGED_SECONDS of that, with the status store working, it is killed and
    `up` starts it again as it would a crashed one. Looked at every few seconds."""

    EVERY = 2.0

    def __init__(self) -> None:
        from agents.pool import Sustained

        self.looked = time.monotonic()
        self.pid: int | None = None
        self.silent = Sustained()

    def stuck(self, child: Child) -> bool:
        from agents import queueing

        limit = settings.GRADENT_WORKER_WEDGED_SECONDS
        now = time.monotonic()
        if not limit or not child.alive() or now - self.looked < self.EVERY:
            return False
        self.looked = now
        if child.process.pid != self.pid:  # a new cluster gets the whole period to report
            self.pid = child.process.pid
            self.silent.since = None
        return self.silent.held_for(limit, queueing.cluster_reporting(child.process.pid) is False)
