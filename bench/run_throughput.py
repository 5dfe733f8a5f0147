"""How much does Gradent's run bookkeeping cost over bare django-q2, and how big is `up` idle?

    python bench/run_throughput.py [--n 300] [--repeat 3]

Prints one JSON object. Everything runs on fresh temporary data directories with the
default settings (SQLite in WAL/IMMEDIATE mode, the django-q2 ORM broker, 2 workers), with
one real `qcluster` and one real `dispatch` process:

(a) bare: N `async_task("bench.run_throughput.noop")`, timed from the first enqueue until
    the broker has acknowledged the last one (django-q2 saves the result, then acknowledges;
    results themselves are pruned at Q_CLUSTER["save_limit"]).
(b) gradent: N scripted runs that call no tool (`start_run`), timed from the first start
    until all N have succeeded.
    (a) and (b) alternate `--repeat` times after a short warm-up; medians are reported.
(c) idle memory: `manage.py up` on another data directory, RSS of its whole process tree
    once /healthz answers 200 and it has been idle for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.5
RSS_TARGET_MB = 400
WARMUP = 5


def noop() -> None:
    """The bare task: nothing, so only django-q2's own cost is measured."""


# --- processes -----------------------------------------------------------------------------
class Service:
    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-5000:]}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # it stops its own children
            try:
                self.process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                print(f"{self.name} did not stop in {timeout:.0f} s; killing it", file=sys.stderr)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.05, services=()):
    deadline = time.monotonic() + timeout
    while True:
        for service in services:
            service.check()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    """`/healthz` of a server on this port answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


# --- (a) bare django-q2 ---------------------------------------------------------------------
def bare_batch(n: int, services) -> tuple[float, float]:
    """(seconds until all done, seconds spent enqueueing)"""
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    started = time.perf_counter()
    for _ in range(n):
        async_task("bench.run_throughput.noop")
    enqueued = time.perf_counter() - started
    # The monitor acknowledges (deletes the OrmQ row) right after saving the result.
    wait_for(lambda: not OrmQ.objects.exists(), timeout=600, what=f"{n} bare tasks", services=services)
    return time.perf_counter() - started, enqueued


# --- (b) gradent runs ------------------------------------------------------------------------
def make_agent(n: int):
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from workspaces.models import personal_workspace_for

    user = get_user_model().objects.create_user(username="bench", password=None)
    workspace = personal_workspace_for(user)
    workspace.runs_per_hour = max(1000, 4 * (n + WARMUP))  # the quota is not what is measured
    workspace.save(update_fields=["runs_per_hour"])
    return Agent.objects.create(
        workspace=workspace,
        name="Bench no-op",
        provider="scripted",
        provider_settings={"steps": [], "answer": "ok"},
        overlap_policy="allow",
    )


def gradent_batch(agent, n: int, services) -> tuple[float, float]:
    """(seconds until all succeeded, seconds spent in start_run)"""
    from django.db.models import Count

    from agents.models import Run, RunStatus
    from agents.services import start_run

    started = time.perf_counter()
    ids = [start_run(agent, input={"i": i}).pk for i in range(n)]
    enqueued = time.perf_counter() - started

    def finished() -> bool:
        counts = dict(Run.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")))
        unexpected = {
            s: c for s, c in counts.items() if s not in (RunStatus.SUCCEEDED, RunStatus.QUEUED, RunStatus.RUNNING)
        }
        if unexpected:
            raise RuntimeError(f"runs ended otherwise than succeeded: {unexpected}")
        return counts.get(RunStatus.SUCCEEDED, 0) == n

    wait_for(finished, timeout=600, what=f"{n} runs", services=services)
    return time.perf_counter() - started, enqueued


def throughput(n: int, work_dir: Path, repeat: int) -> dict:
    """Alternate bare and gradent batches `repeat` times; report the medians."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    workers = Service("qcluster", ["qcluster"], work_dir)
    # The dispatcher runs throughout, as under `up`; idle, it writes one heartbeat a second.
    dispatcher = Service("dispatch", ["dispatch"], work_dir)
    services = [workers, dispatcher]
    bare, gradent = [], []
    try:
        wait_for(lambda: "running." in workers.output(), timeout=60, what="qcluster to start", services=services)
        agent = make_agent(n * repeat)
        bare_batch(WARMUP, services)
        gradent_batch(agent, WARMUP, services)
        for _ in range(repeat):
            bare.append(bare_batch(n, services))
            gradent.append(gradent_batch(agent, n, services))
    finally:
        for service in (dispatcher, workers):
            service.stop()
    bare_seconds = statistics.median(total for total, _ in bare)
    gradent_seconds = statistics.median(total for total, _ in gradent)
    bare_rate = n / bare_seconds
    gradent_rate = n / gradent_seconds
    ratio = gradent_rate / bare_rate
    return {
        "repeat": repeat,
        # Per batch: [seconds until all done, seconds spent enqueueing / in start_run].
        "bare_batches": [[round(total, 3), round(enqueue, 3)] for total, enqueue in bare],
        "gradent_batches": [[round(total, 3), round(enqueue, 3)] for total, enqueue in gradent],
        "bare_tasks_per_s": round(bare_rate, 1),
        "gradent_runs_per_s": round(gradent_rate, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }


# --- (c) idle memory of `up` -----------------------------------------------------------------
def describe(proc, root_pid: int) -> str:
    """A short label, from the process titles `up`, gunicorn and django-q2 set; django-q2's
    main process and its sentinel share one, so use the tree there."""
    if proc.pid == root_pid:
        return "up (supervisor, dispatcher)"
    text = " ".join(proc.cmdline())
    if "gunicorn: worker" in text:
        return "web: gunicorn worker"
    if "gunicorn: master" in text:
        return "web: gunicorn master"
    if "manage.py dispatch" in text:
        return "dispatcher"
    if "qcluster" in text:
        role = text.split()[-1]
        if role in ("monitor", "pusher"):
            return f"qcluster: {role}"
        if proc.ppid() == root_pid:
            return "qcluster: main"
        parent = proc.parent()
        return "qcluster: sentinel" if parent and parent.ppid() == root_pid else "qcluster: worker"
    return text[:60] or proc.name()


def idle_memory(data_dir: Path, log_dir: Path, idle_seconds: float) -> dict:
    import psutil

    port = free_port()
    env = dict(
        os.environ,
        GRADENT_DATA_DIR=str(data_dir),
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD="bench-" + os.urandom(8).hex(),
    )
    up = Service("up", ["up", "--port", str(port)], log_dir, env=env)

    try:
        wait_for(lambda: healthy(port), timeout=90, interval=0.25, what="up's /healthz to answer 200", services=[up])
        time.sleep(idle_seconds)
        root = psutil.Process(up.process.pid)
        processes = []
        for proc in [root, *root.children(recursive=True)]:
            try:
                info = proc.memory_full_info()
                processes.append(
                    {
                        "pid": proc.pid,
                        "ppid": proc.ppid(),
                        "process": describe(proc, root.pid),
                        "rss_mb": round(info.rss / 2**20, 1),
                        "pss_mb": round(getattr(info, "pss", info.rss) / 2**20, 1),
                    }
                )
            except psutil.NoSuchProcess:
                pass
    finally:
        up.stop()
    rss = sum(p["rss_mb"] for p in processes)
    return {
        "idle_rss_mb_up_group": round(rss, 1),
        # RSS counts pages shared by forked processes once per process; PSS splits them.
        "idle_pss_mb_up_group": round(sum(p["pss_mb"] for p in processes), 1),
        "rss_target_mb": RSS_TARGET_MB,
        "rss_meets_target": rss <= RSS_TARGET_MB,
        "idle_processes": processes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="tasks and runs per batch (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="batches of each kind; medians are reported")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle time before measuring memory")
    parser.add_argument("--skip-memory", action="store_true")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gradent-bench-") as tmp:
        tmp_path = Path(tmp)
        # Default settings on a fresh data directory; subprocesses inherit this environment.
        for name in ("DATABASE_URL", "REDIS_URL", "GRADENT_SQLITE_PATH", "GRADENT_Q_NAME", "GRADENT_WORKERS"):
            os.environ.pop(name, None)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="gradent.settings",
            GRADENT_DATA_DIR=str(tmp_path / "throughput"),
            PYTHONUNBUFFERED="1",
        )
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        # Quiet this process only ("Enqueued …" per task); the services log as configured.
        logging.getLogger("django-q").setLevel(logging.WARNING)
        from django.conf import settings

        result = {"n": options.n, "workers": settings.Q_CLUSTER["workers"], "database": "sqlite", "broker": "orm"}
        try:
            result.update(throughput(options.n, tmp_path, options.repeat))
            if not options.skip_memory:
                result.update(idle_memory(tmp_path / "idle", tmp_path, options.idle_seconds))
        except Exception:
            for log in sorted(tmp_path.glob("*.log")):
                print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-5000:]}", file=sys.stderr)
            raise
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
