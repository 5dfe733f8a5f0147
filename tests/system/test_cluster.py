"""System tests: real qcluster, dispatch and `up` processes, real SIGKILLs.

Nothing is lost when a worker dies: the dispatcher finds the run stuck `running` past its
deadline and retries it, and a run that kills its worker every time is quarantined after
its last attempt instead of looping.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import psutil
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db.models import Count

from agents.models import FINAL_STATUSES, Agent, Run, RunStatus, RunStep
from agents.services import start_run
from agents.validation import validate_agent_config
from tests.helpers import make_user
from tests.system.conftest import base_env, free_port, wait_for
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.system

SLEEP_STEPS = 3
SLEEP_SECONDS = 0.3  # steps are written together within half a second (executor.STEP_FLUSH_SECONDS)


def make_system_agent(*, steps: list[dict], tools: list[str], workspace=None, **fields) -> Agent:
    settings_ = {"steps": steps, "answer": "done"}
    cleaned = validate_agent_config(
        provider="scripted",
        provider_settings=settings_,
        allowed_tools=tools,
        max_seconds=fields.get("max_seconds"),
    )
    return Agent.objects.create(
        workspace=workspace or personal_workspace_for(make_user()),
        name="System agent",
        provider="scripted",
        provider_settings=cleaned,
        allowed_tools=tools,
        overlap_policy="allow",
        auto_pause_after=0,
        **fields,
    )


def sleeping_agent(**fields) -> Agent:
    step = {"tool": "sleep", "args": {"seconds": SLEEP_SECONDS}}
    return make_system_agent(steps=[step] * SLEEP_STEPS, tools=["sleep"], max_attempts=3, max_seconds=5, **fields)


def wait_until_final(run_ids, *, timeout: float, cluster) -> list[Run]:
    def all_final():
        cluster.check_alive()
        runs = list(Run.objects.filter(pk__in=run_ids))
        return runs if all(run.status in FINAL_STATUSES for run in runs) else None

    return wait_for(all_final, timeout=timeout, interval=0.2, what=f"{len(run_ids)} runs to finish")


def worker_pid(run: Run) -> int:
    return int(run.worker.split(":")[1])  # host:pid:token


@pytest.mark.django_db(transaction=True)
def test_it_finishes_every_run_when_a_worker_is_killed_mid_run(cluster):
    agent = sleeping_agent()
    first_cluster = cluster.workers
    run_ids = [start_run(agent, input={"n": n}).pk for n in range(50)]

    # Catch a run in the middle of its sleeps and SIGKILL the worker running it.
    killed_worker = ""
    deadline = time.monotonic() + 60
    while not killed_worker:
        assert time.monotonic() < deadline, "no run was ever seen in the middle of its steps"
        cluster.check_alive()
        victim = Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING, step_count__gte=1).first()
        if victim is None:
            time.sleep(0.01)
            continue
        pid = worker_pid(victim)
        # Only ever kill a process this test started: a worker, forked by the sentinel (a
        # child of qcluster), not the sentinel itself (which would report its own pid if
        # the executor module were imported before the fork).
        assert pid in cluster.worker_pids(), f"{victim.worker} is not a process of the started qcluster"
        assert psutil.Process(pid).ppid() != cluster.workers.pid, f"{victim.worker} is the sentinel"
        os.kill(pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(pid)], timeout=5)
        killed_worker = victim.worker

    # A dead worker writes nothing more: what it had running is what it left behind.
    killed = Run.objects.get(pk=victim.pk)
    assert (killed.status, killed.worker) == (RunStatus.RUNNING, killed_worker)
    held = set(Run.objects.filter(status=RunStatus.RUNNING, worker=killed_worker).values_list("id", flat=True))
    steps_before_kill = list(
        RunStep.objects.filter(run=killed).order_by("index").values_list("attempt", "index", "name")
    )
    assert steps_before_kill, "the killed run had recorded no step"

    # Watch the killed run closely: the dispatcher's recovery verdict lasts only until a
    # worker claims the run again.
    reasons = set()
    statuses = []
    deadline = time.monotonic() + 60
    while True:
        cluster.check_alive()  # restarts a cluster that stopped itself (a wedged task queue)
        row = Run.objects.filter(pk=killed.pk).values("status", "reason", "attempt").get()
        reasons.add(row["reason"])
        if not statuses or statuses[-1] != (row["status"], row["attempt"]):
            statuses.append((row["status"], row["attempt"]))
        if row["status"] in FINAL_STATUSES:
            break
        assert time.monotonic() < deadline, f"the killed run did not finish: {statuses}"
        time.sleep(0.005)

    runs = wait_until_final(run_ids, timeout=120, cluster=cluster)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}, {
        run.pk: (run.status, run.reason) for run in runs if run.status != RunStatus.SUCCEEDED
    }

    killed.refresh_from_db()
    assert killed.attempt == 2
    assert killed.worker != killed_worker
    assert statuses[:3] == [(RunStatus.RUNNING, 1), (RunStatus.QUEUED, 1), (RunStatus.RUNNING, 2)], statuses
    assert f"Worker {killed_worker} was lost during attempt 1; retrying." in reasons, reasons
    assert "after death" in first_cluster.output()  # django-q2 replaced the killed worker
    # The first attempt's steps are kept; the second attempt ran the whole script again.
    steps = list(RunStep.objects.filter(run=killed).order_by("index").values_list("attempt", "index", "name"))
    assert steps[: len(steps_before_kill)] == steps_before_kill
    assert all(attempt == 1 for attempt, _, _ in steps_before_kill)
    after_kill = steps[len(steps_before_kill) :]
    # The dispatcher's recovery leaves a log step on attempt 1, then attempt 2 runs in full.
    assert after_kill[0][0] == 1 and after_kill[0][2] == "worker lost"
    assert [attempt for attempt, _, _ in after_kill[1:]] == [2] * SLEEP_STEPS
    assert killed.step_count == len(steps)
    assert killed.output == "done"

    assert {run.attempt for run in runs if run.pk in held} == {2}  # every run the worker held
    others = [run for run in runs if run.pk not in held]
    assert {run.attempt for run in others} == {1}
    # No other run was executed twice: exactly one script's worth of steps each.
    step_counts = dict(RunStep.objects.filter(run__in=others).values_list("run").annotate(n=Count("id")))
    assert set(step_counts.values()) == {SLEEP_STEPS}
    assert len(step_counts) == len(others)


@pytest.mark.django_db(transaction=True)
def test_it_quarantines_a_run_that_kills_its_worker_every_time(cluster):
    agent = make_system_agent(steps=[{"tool": "kill_worker"}], tools=["kill_worker"], max_attempts=2, max_seconds=3)
    run = start_run(agent)

    (run,) = wait_until_final([run.pk], timeout=60, cluster=cluster)
    assert run.status == RunStatus.FAILED
    assert run.reason.startswith("Quarantined"), run.reason
    assert "the last of 2 attempts" in run.reason
    assert run.attempt == run.max_attempts == 2

    # It does not loop: well past another deadline, nothing has touched it.
    time.sleep(3 + 2 + 1)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.attempt == 2

    # The cluster replaced its killed workers and still runs work.
    healthy = start_run(sleeping_agent(workspace=agent.workspace))
    (healthy,) = wait_until_final([healthy.pk], timeout=60, cluster=cluster)
    assert (healthy.status, healthy.attempt) == (RunStatus.SUCCEEDED, 1)


# --- manage.py up ---------------------------------------------------------------------
def up_env(data_dir, **extra: str) -> dict[str, str]:
    """`up` on a fresh data directory of its own: always SQLite, whatever the suite uses
    (it does not touch the test database)."""
    env = base_env(GRADENT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra)
    unset = ("DATABASE_URL", "GRADENT_SQLITE_PATH", "REDIS_URL", "SECRET_KEY", "DJANGO_SUPERUSER_USERNAME")
    for name in (*unset, "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL"):
        if name not in extra:
            env.pop(name, None)
    return env


def healthz(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def stop_and_check_group(up) -> None:
    """SIGTERM `up` alone: it must stop its whole group and exit 0."""
    children = up.descendants()
    up.process.send_signal(signal.SIGTERM)
    try:
        code = up.process.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail("`up` did not exit within 20 s of SIGTERM")
    assert code == 0, f"`up` exited with {code}"
    output = up.output()
    assert "Stopped." in output
    # Every child stopped on its own: none had to be killed (which kills running runs).
    assert "killing it" not in output, output[-3000:]
    _, alive = psutil.wait_procs(children, timeout=2)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"


def test_up_starts_and_stops_the_process_group(tmp_path, start_service):
    password = "Pw-" + secrets.token_urlsafe(16)
    port = free_port()
    up = start_service(
        "up",
        "up",
        "--port",
        str(port),
        env=up_env(tmp_path / "data", DJANGO_SUPERUSER_USERNAME="boss", DJANGO_SUPERUSER_PASSWORD=password),
    )

    def healthy():
        assert up.alive(), f"`up` exited with {up.process.returncode}"
        report = healthz(port)
        return report if report and report["ok"] else None

    report = wait_for(healthy, timeout=60, interval=0.25, what="/healthz to answer 200")
    for part in ("database", "broker", "cluster", "dispatcher"):
        assert report[part]["ok"], report

    # The web server and a 2-worker cluster (main, sentinel, monitor, pusher, 2 workers);
    # where the dispatcher runs is up to `up`: /healthz said it beats.
    def group_complete():
        commands = [" ".join(proc.cmdline()) for proc in up.descendants()]
        web = [c for c in commands if "gunicorn" in c]
        cluster = [c for c in commands if "qcluster" in c]
        return web and len(cluster) >= 6 and commands

    wait_for(group_complete, timeout=15, what="the web server and all cluster processes")

    stop_and_check_group(up)
    output = up.output()
    assert "First admin account 'boss' created from DJANGO_SUPERUSER_*." in output
    assert password not in output


def test_up_prints_a_generated_admin_password_once(tmp_path, start_service):
    data_dir = tmp_path / "data"

    def start_until_up():
        up = start_service("up", "up", "--port", str(free_port()), env=up_env(data_dir))

        def started():
            assert up.alive(), f"`up` exited with {up.process.returncode}"
            return "Gradent is up" in up.output()

        wait_for(started, timeout=60, what="`up` to start its children")
        return up

    first = start_until_up()
    stop_and_check_group(first)
    printed = re.findall(r"password: (\S+)", first.output())
    assert len(printed) == 1, first.output()
    assert first.output().count("This password is shown once") == 1
    with sqlite3.connect(data_dir / "gradent.sqlite3") as db:
        ((username, encoded),) = db.execute("SELECT username, password FROM auth_user WHERE is_superuser").fetchall()
    assert username == "admin"
    # The suite hashes with MD5 for speed; `up` used the production hasher.
    assert PBKDF2PasswordHasher().verify(printed[0], encoded)

    second = start_until_up()
    stop_and_check_group(second)
    assert not re.search(r"password: \S", second.output())


def test_up_restarts_a_crashed_child(tmp_path, start_service):
    port = free_port()
    up = start_service(
        "up", "up", "--port", str(port), env=up_env(tmp_path / "data", DJANGO_SUPERUSER_PASSWORD="x-Pw-1")
    )

    def healthy():
        assert up.alive(), f"`up` exited with {up.process.returncode}"
        report = healthz(port)
        return report if report and report["ok"] else None

    wait_for(healthy, timeout=60, interval=0.25, what="/healthz to answer 200")
    web = next(p for p in psutil.Process(up.pid).children() if "gunicorn" in " ".join(p.cmdline()))
    os.killpg(web.pid, signal.SIGKILL)  # the web server's master and its worker
    wait_for(lambda: "web exited with code" in up.output(), timeout=10, what="`up` to notice the crash")
    noticed = datetime.now(UTC)
    wait_for(healthy, timeout=60, interval=0.25, what="/healthz to answer 200 again")
    # `up` paused its dispatcher thread to fork the web server again: it beats again.
    wait_for(
        lambda: datetime.fromisoformat(healthy()["dispatcher"]["last_beat"]) > noticed,
        timeout=30,
        interval=0.25,
        what="the dispatcher to beat after the restart",
    )
    assert up.output().count("web exited with code") == 1, up.output()
    assert "the dispatcher stopped" not in up.output(), up.output()
    assert up.alive()
    stop_and_check_group(up)
