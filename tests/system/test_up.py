"""`manage.py up` as a person meets it in a terminal: a taken port said at once, "Gradent
is up" only once the port answers, the admin's credentials last, no line per request or
task unless --verbose, and nothing left running after a `kill -9`."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from gradent.lib.procs import port_answers, port_in_use
from tests.system.conftest import REPO_ROOT, free_port, wait_for
from tests.system.test_cluster import healthz, stop_and_check_group, up_env

pytestmark = pytest.mark.system


def cluster_and_web(up) -> list[psutil.Process] | None:
    """Every process of `up`'s group once the web server and the whole 2-worker cluster
    (main, sentinel, monitor, pusher, 2 workers) are there."""
    processes = up.descendants()
    commands = [" ".join(proc.cmdline()) for proc in processes if proc.is_running()]
    web = [c for c in commands if "gunicorn" in c]
    cluster = [c for c in commands if "qcluster" in c]
    return processes if web and len(cluster) >= 6 else None


def test_a_kill_9_of_up_leaves_nothing_running_and_the_port_free(tmp_path, start_service):
    port = free_port()
    env = up_env(tmp_path / "data", DJANGO_SUPERUSER_PASSWORD="x-Pw-1")
    up = start_service("up", "up", "--port", str(port), env=env)
    wait_for(lambda: up.alive() and (healthz(port) or {}).get("ok"), timeout=90, interval=0.25, what="/healthz 200")
    processes = wait_for(lambda: cluster_and_web(up), timeout=15, what="the web server and the cluster")

    up.process.send_signal(signal.SIGKILL)
    up.process.wait(5)
    killed_at = time.monotonic()
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"left running: {[(p.pid, ' '.join(p.cmdline())) for p in alive]}"
    assert time.monotonic() - killed_at < 10
    assert not port_in_use("127.0.0.1", port)

    # And so a new `up` starts on the same port at once.
    again = start_service("up", "up", "--port", str(port), env=env)
    wait_for(lambda: "Gradent is up" in again.output(), timeout=60, what="`up` to start again")
    assert "Address already in use" not in again.output()
    stop_and_check_group(again)


def test_up_says_at_once_that_the_port_is_taken_and_by_whom(tmp_path):
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        finished = subprocess.run(
            [sys.executable, "manage.py", "up", "--port", str(port)],
            cwd=REPO_ROOT,
            env=up_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert finished.returncode != 0
    output = finished.stdout + finished.stderr
    assert f"Port {port} on 127.0.0.1 is already in use by pid {psutil.Process().pid}" in output
    assert "Gradent is up" not in output
    assert "Address already in use" not in output  # gunicorn was never started
    assert not (data_dir / "gradent.sqlite3").exists()  # nor were the migrations
    assert time.monotonic() - started < 30


def test_up_prints_up_once_the_port_answers_and_the_credentials_last_and_quietly(tmp_path, start_service):
    port = free_port()
    data_dir = tmp_path / "data"
    up = start_service("up", "up", "--port", str(port), "--demo", env=up_env(data_dir))

    wait_for(lambda: "Gradent is up" in up.output(), timeout=90, interval=0.02, what="Gradent is up")
    assert port_answers("127.0.0.1", port, timeout=0.2), "announced before the port answers"

    wait_for(lambda: "password: " in up.output(), timeout=60, what="the admin's credentials")
    wait_for(lambda: (healthz(port) or {}).get("ok"), timeout=60, interval=0.25, what="/healthz 200")
    urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).read()
    time.sleep(2)  # the demo runs finish meanwhile
    output = up.output()
    lines = output.splitlines()
    credentials = next(i for i, line in enumerate(lines) if "password: " in line)
    ready = [i for i, line in enumerate(lines) if "ready for work" in line]
    up_line = next(i for i, line in enumerate(lines) if "Gradent is up" in line)
    assert ready and max(ready) < credentials and up_line < credentials, output
    # The demo's runs went through the workers, and said nothing about it.
    assert "Processed '" not in output and " processing " not in output, output
    assert '"GET /' not in output, output  # no access log
    stop_and_check_group(up)

    # A restart says the admin exists and how to set a new password.
    again = start_service("up", "up", "--port", str(port), env=up_env(data_dir))
    wait_for(lambda: "changepassword" in again.output(), timeout=90, what="the note about the admin")
    assert "Admin account 'admin' exists. Forgot its password? python manage.py changepassword admin" in again.output()
    assert not re.search(r"password: \S", again.output())
    stop_and_check_group(again)


def test_up_writes_each_line_at_once_and_once_into_a_file(tmp_path, start_service):
    """As under systemd or `up > log`: no PYTHONUNBUFFERED, the output a file. Lines come
    as they are written, and nothing buffered before the fork is written again by a child."""
    port = free_port()
    env = up_env(tmp_path / "data", DJANGO_SUPERUSER_PASSWORD="x-Pw-1")
    del env["PYTHONUNBUFFERED"]
    up = start_service("up", "up", "--port", str(port), "--demo", env=env)
    wait_for(lambda: "Gradent is up" in up.output(), timeout=90, interval=0.1, what="Gradent is up")
    wait_for(lambda: "First admin account" in up.output(), timeout=60, what="the admin line")
    stop_and_check_group(up)
    output = up.output()
    for line in ("Gradent: data in", "Demo: 3 example agents", "Gradent is up", "First admin account", "Stopped."):
        assert output.count(line) == 1, output


def test_up_verbose_logs_every_request_and_task(tmp_path, start_service):
    port = free_port()
    up = start_service("up", "up", "--port", str(port), "--demo", "--verbose", env=up_env(tmp_path / "data"))
    wait_for(lambda: (healthz(port) or {}).get("ok"), timeout=90, interval=0.25, what="/healthz 200")
    wait_for(lambda: '"GET /healthz' in up.output(), timeout=10, what="the access log line")
    wait_for(lambda: "Processed '" in up.output(), timeout=30, what="a task's log line")
    stop_and_check_group(up)


def test_up_restarts_a_cluster_that_stopped_reporting(tmp_path, start_service):
    """django-q2's sentinel can block for good when a worker dies at the wrong moment
    (agents.pool); when no worker survived to notice, `up` does: the cluster has not
    reported its status for GRADENT_WORKER_WEDGED_SECONDS while its main process lives.
    SIGSTOP of the sentinel and the workers stands in for that."""
    port = free_port()
    env = up_env(tmp_path / "data", DJANGO_SUPERUSER_PASSWORD="x-Pw-1", GRADENT_WORKER_WEDGED_SECONDS="3")
    up = start_service("up", "up", "--port", str(port), env=env)
    wait_for(lambda: up.alive() and (healthz(port) or {}).get("ok"), timeout=90, interval=0.25, what="/healthz 200")
    wait_for(lambda: cluster_and_web(up), timeout=15, what="the web server and the cluster")
    main = next(p for p in psutil.Process(up.pid).children() if "qcluster" in " ".join(p.cmdline()))
    sentinel = next(child for child in main.children() if child.children())
    stuck = [main, sentinel, *sentinel.children()]
    for process in stuck[1:]:
        process.send_signal(signal.SIGSTOP)

    wait_for(lambda: "has not reported its status" in up.output(), timeout=30, what="`up` to notice")
    _, alive = psutil.wait_procs(stuck, timeout=10)
    assert not alive, [(p.pid, p.status()) for p in alive]
    report = wait_for(
        lambda: (healthz(port) or {}).get("ok") and healthz(port), timeout=60, interval=0.25, what="/healthz 200 again"
    )
    assert report["cluster"]["workers"] == 2
    new_main = next(p for p in psutil.Process(up.pid).children() if "qcluster" in " ".join(p.cmdline()))
    assert new_main.pid != main.pid
    assert up.output().count("has not reported its status") == 1
    stop_and_check_group(up)
