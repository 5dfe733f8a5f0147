"""Fixtures that start real Gradent processes (qcluster, dispatch, up) for system tests.

The processes are pointed at the test database: SQLite's test database is a file (see
DATABASES["default"]["TEST"]), PostgreSQL's is a database of its own. Their output goes to
files that are attached to the report of a failed test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from agents.tools import TOOLS
from tests.system.tools import EXTRA_TOOLS

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_SECTIONS = "_system_logs"

# Small timing knobs so recovery happens within seconds, not minutes.
FAST_ENV = {
    "GRADENT_RUN_GRACE_SECONDS": "2",
    "GRADENT_RETRY_BASE_SECONDS": "0.2",
    "GRADENT_QUEUED_STALE_SECONDS": "30",
    "GRADENT_DISPATCHER_MAX_SLEEP": "0.2",
    "GRADENT_WORKERS": "2",
    "GRADENT_WORKER_WEDGED_SECONDS": "5",
    "GRADENT_WORKER_HEARTBEAT_SECONDS": "1",
    "GRADENT_EXTRA_TOOLS": ",".join(EXTRA_TOOLS),
    "PYTHONUNBUFFERED": "1",
}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for name, path in getattr(item, LOG_SECTIONS, []):
            try:
                text = Path(path).read_text(errors="replace")
            except OSError as exc:
                text = f"(cannot read {path}: {exc})"
            report.sections.append((f"output of {name} ({path})", text[-20_000:]))
    return report


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "gradent.settings"
    env.update(extra)
    return env


def test_database_env() -> dict[str, str]:
    """Environment that points a Gradent process at the database this test uses."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"GRADENT_SQLITE_PATH": str(db["NAME"])}
    if connection.vendor == "postgresql":
        credentials = ""
        if db.get("USER"):
            credentials = quote(db["USER"], safe="")
            if db.get("PASSWORD"):
                credentials += ":" + quote(db["PASSWORD"], safe="")
            credentials += "@"
        host = db.get("HOST") or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return {"DATABASE_URL": f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"}
    raise RuntimeError(f"system tests do not know how to share a {connection.vendor} test database")


@dataclass
class Service:
    """One started process (and its process group)."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process, then SIGKILL its group after `timeout` seconds.

        Only the top process gets SIGTERM: it stops its own children. (A qcluster whose
        sentinel receives SIGTERM too never finishes stopping.)
        """
        try:
            members = [psutil.Process(self.pid), *self.descendants()]
        except psutil.NoSuchProcess:
            members = []
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.pid, signal.SIGKILL)
                self.process.wait(5)
        # Descendants that left the group (or outlived their parent) are ours too.
        _, alive = psutil.wait_procs(members, timeout=3)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        return self.process.returncode


def _killpg(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def start_service(request, tmp_path) -> Iterator[Callable[..., Service]]:
    """Start `python manage.py <args>` (or `program <args>`) from the repository root in its
    own process group; every started service is stopped at teardown and its output kept for
    the report."""
    services: list[Service] = []
    sections = getattr(request.node, LOG_SECTIONS, [])
    setattr(request.node, LOG_SECTIONS, sections)

    def start(name: str, *args: str, env: dict[str, str], program: list[str] | None = None) -> Service:
        log_path = tmp_path / f"{name}-{len(services)}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [*(program or [sys.executable, "manage.py"]), *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        service = Service(name, process, log_path)
        services.append(service)
        sections.append((name, str(log_path)))
        return service

    yield start
    for service in reversed(services):
        service.stop()


@pytest.fixture
def extra_tools() -> Iterator[None]:
    """Register the test-only tools in this process too (agents are validated here)."""
    with override_settings(GRADENT_EXTRA_TOOLS=[*settings.GRADENT_EXTRA_TOOLS, *EXTRA_TOOLS]):
        TOOLS.clear()
        yield
    TOOLS.clear()


# What a cluster says as it kills itself to be started again (agents.pool).
CLUSTER_STOPS_ITSELF = ("task queue is wedged", "has not reported its status")


@dataclass
class Cluster:
    workers: Service
    dispatcher: Service
    # Starts the qcluster again, as `up` or systemd would.
    restart_workers: Callable[[], Service] | None = None
    restarts: int = 0

    def worker_pids(self) -> set[int]:
        return {proc.pid for proc in self.workers.descendants()}

    def check_alive(self) -> None:
        stopped_itself = any(why in self.workers.output() for why in CLUSTER_STOPS_ITSELF)
        if not self.workers.alive() and self.restart_workers and stopped_itself:
            # A worker killed outright can leave django-q2's task queue locked, or its
            # sentinel blocked; the cluster then stops itself (agents.pool) and its
            # supervisor starts it again.
            self.workers = self.restart_workers()
            self.restarts += 1
        for service in (self.workers, self.dispatcher):
            if not service.alive():
                raise AssertionError(f"{service.name} exited with {service.process.returncode}:\n{service.output()}")


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


@pytest.fixture
def cluster(transactional_db, extra_tools, start_service) -> Cluster:
    """A real `qcluster` and a real `dispatch`, on the test database.

    Depends on transactional_db so the processes are stopped before the database is
    flushed, and on extra_tools so agents using the test tools validate here too.
    """
    from agents.models import DispatcherHeartbeat

    env = base_env(**FAST_ENV, **test_database_env())
    workers = start_service("qcluster", "qcluster", env=env)
    dispatcher = start_service("dispatch", "dispatch", env=env)
    running = Cluster(
        workers=workers, dispatcher=dispatcher, restart_workers=lambda: start_service("qcluster", "qcluster", env=env)
    )

    def ready() -> bool:
        running.check_alive()
        return "ready for work" in workers.output() and DispatcherHeartbeat.objects.exists()

    wait_for(ready, timeout=60, what="qcluster workers and a dispatcher heartbeat")
    return running
