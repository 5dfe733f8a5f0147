"""System test: the scale-out path (PostgreSQL + Redis) loses no run and runs none twice
when a whole worker cluster is SIGKILLed and Redis restarts empty, mid-burst.

Separate processes on the test database, all with REDIS_URL (django-q2's Redis broker and
the Redis cache): a gunicorn web process (as `up` starts it), two `dispatch` and two
`qcluster`. 200 runs of a scripted agent whose one tool call sleeps 1 s are started
through the API. Once 50 have succeeded, one cluster is killed outright (its process
group) and redis-server is killed and started again, empty, on the same port. The
dispatchers hand back the dead cluster's runs once its heartbeats go silent
(GRADENT_WORKER_LOST_SECONDS) and send again the tasks Redis lost; every run must end
`succeeded`, at attempt 1 or 2, with exactly one `sleep` step in its last attempt.

Skipped unless the suite runs on PostgreSQL (DATABASE_URL) and redis-server is on PATH;
CI installs Debian's redis-server and runs it with DATABASE_URL set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.db import connection

from agents.models import FINAL_STATUSES, Run, RunStatus, RunStep, WorkerHeartbeat
from tests.helpers import make_user, token_for
from tests.system.conftest import FAST_ENV, Service, base_env, free_port, wait_for
from tests.system.conftest import test_database_env as database_env
from tests.system.test_cluster import make_system_agent
from workspaces.models import personal_workspace_for

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

RUNS = 200
SCALE_ENV = {
    "GRADENT_WORKER_LOST_SECONDS": "5",
    # 2 clusters x 2 workers x 4 runs: most of the burst waits in Redis, so Redis loses tasks.
    "GRADENT_RUNS_PER_WORKER": "4",
    # Above the 10 s django-q2's pusher sleeps after losing Redis: with FAST_ENV's 5 s the
    # surviving cluster, idle while the dispatchers refill the new Redis, may take that
    # for a wedged task queue and stop itself.
    "GRADENT_WORKER_WEDGED_SECONDS": "20",
    "GRADENT_THROTTLE_RUN_START": "100000/minute",
    "GRADENT_THROTTLE_USER": "100000/minute",
}
NEEDS_POSTGRESQL = "needs PostgreSQL: set DATABASE_URL (CI runs it)"
NEEDS_REDIS = "needs redis-server on PATH (CI installs Debian's redis-server)"


def start_redis(start_service, port: int, directory, name: str) -> Service:
    """An empty, non-persistent redis-server on 127.0.0.1:port."""
    args = ["--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--dir", str(directory)]
    server = start_service(name, *args, env=base_env(), program=[shutil.which("redis-server")])
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)

    def answers() -> bool:
        assert server.alive(), server.output()
        try:
            return client.ping()
        except redis.RedisError:
            return False

    wait_for(answers, timeout=10, what=f"{name} to answer")
    return server


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, {"error": str(exc)}


def post_run(port: int, token: str, agent_id: int, n: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/agents/{agent_id}/run",
        data=json.dumps({"input": {"n": n}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202, response.status
        return json.loads(response.read())["id"]


def pid_of(worker: str) -> int:
    return int(worker.split(":")[1])  # host:pid:token


def test_200_runs_survive_a_killed_cluster_and_an_emptied_redis(transactional_db, extra_tools, start_service, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip(NEEDS_POSTGRESQL)
    if not shutil.which("redis-server"):
        pytest.skip(NEEDS_REDIS)

    redis_port, web_port = free_port(), free_port()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_server = start_redis(start_service, redis_port, redis_dir, "redis")
    env = base_env(**{**FAST_ENV, **SCALE_ENV}, **database_env(), REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")

    web = start_service(
        "web",
        *("-m", "gunicorn", "gradent.wsgi:application", "--bind", f"127.0.0.1:{web_port}"),
        *("--workers", "1", "--worker-class", "gthread", "--threads", "4", "--no-control-socket"),
        env=env,
        program=[sys.executable],
    )
    dispatchers = [start_service(f"dispatch-{n}", "dispatch", env=env) for n in (1, 2)]
    clusters = {name: start_service(name, "qcluster", env=env) for name in ("qcluster-a", "qcluster-b")}
    killed: set[str] = set()

    def check_alive() -> None:
        """Every process but the one the test killed must live (none stops itself)."""
        for service in (web, *dispatchers, *clusters.values()):
            if service.name not in killed and not service.alive():
                code, output = service.process.returncode, service.output()[-5000:]
                raise AssertionError(f"{service.name} exited with {code}:\n{output}")

    def workers_of(name: str) -> set[str]:
        pids = {proc.pid for proc in clusters[name].descendants()}
        return {w for w in WorkerHeartbeat.objects.values_list("name", flat=True) if pid_of(w) in pids}

    def ready() -> bool:
        check_alive()
        beating = all(len(workers_of(name)) >= int(FAST_ENV["GRADENT_WORKERS"]) for name in clusters)
        return beating and healthz(web_port)[0] == 200

    wait_for(ready, timeout=90, interval=0.5, what="both clusters' worker heartbeats and /healthz")

    user = make_user("scaler")
    agent = make_system_agent(
        steps=[{"tool": "sleep", "args": {"seconds": 1}}],
        tools=["sleep"],
        workspace=personal_workspace_for(user),
        max_attempts=3,
        max_seconds=60,
    )
    token = token_for(user)
    began = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        run_ids = list(pool.map(lambda n: post_run(web_port, token, agent.pk, n), range(RUNS)))
    posted = time.monotonic() - began
    assert len(set(run_ids)) == RUNS

    def statuses() -> Counter:
        return Counter(Run.objects.filter(pk__in=run_ids).values_list("status", flat=True).order_by())

    # In the middle of the burst: some finished, some running, the rest waiting in Redis.
    def midway() -> bool:
        check_alive()
        counts = statuses()
        return counts[RunStatus.SUCCEEDED] >= 50 and counts[RunStatus.RUNNING] > 0

    wait_for(midway, timeout=60, interval=0.05, what="50 runs to succeed")
    pids = {name: {proc.pid for proc in service.descendants()} for name, service in clusters.items()}
    running = Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING).values_list("worker", flat=True)
    busiest = Counter(name for worker in running for name in pids if pid_of(worker) in pids[name])
    victim_name = busiest.most_common(1)[0][0] if busiest else "qcluster-a"
    victim = clusters[victim_name]
    victim_workers = workers_of(victim_name)
    at_kill = statuses()
    killed.add(victim_name)
    os.killpg(victim.pid, signal.SIGKILL)
    os.killpg(redis_server.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.process.wait(5)
    redis_server.process.wait(5)
    # A dead cluster writes nothing more: what its workers hold now is what they left.
    held = set(
        Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING, worker__in=victim_workers).values_list(
            "id", flat=True
        )
    )
    time.sleep(1.5)
    start_redis(start_service, redis_port, redis_dir, "redis-again")
    redis_back = time.monotonic() - killed_at

    def handed_back() -> bool:
        check_alive()
        return not Run.objects.filter(pk__in=held, status=RunStatus.RUNNING, worker__in=victim_workers).exists()

    wait_for(handed_back, timeout=60, interval=0.1, what="the killed cluster's runs to be handed back")
    hand_back = time.monotonic() - killed_at

    def all_final() -> list[Run] | None:
        check_alive()
        runs = list(Run.objects.filter(pk__in=run_ids))
        return runs if all(run.status in FINAL_STATUSES for run in runs) else None

    runs = wait_for(all_final, timeout=180, interval=0.5, what=f"{RUNS} runs to finish")
    finished = time.monotonic() - killed_at
    total = time.monotonic() - began

    def health_ok() -> bool:
        check_alive()
        return healthz(web_port)[0] == 200

    wait_for(health_ok, timeout=30, interval=0.5, what="/healthz to answer 200 again")
    attempts = Counter(run.attempt for run in runs)
    print(
        f"\nscale-out: posted {RUNS} runs in {posted:.1f} s; at the kill {dict(at_kill)}; killed {victim_name} "
        f"holding {len(held)} run(s); Redis back after {redis_back:.1f} s; handed back after {hand_back:.1f} s; "
        f"all final {finished:.1f} s after the kill ({total:.1f} s after the first start); "
        f"attempts {dict(attempts)}"
    )

    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}, Counter((r.status, r.reason) for r in runs)
    assert max(attempts) <= 2, attempts
    assert {run.attempt for run in runs if run.pk in held} <= {2}
    assert not WorkerHeartbeat.objects.filter(name__in=victim_workers).exists()  # the lost workers' rows are gone
    # None ran twice: one `sleep` step in the attempt that finished, and at most one in a
    # killed attempt (which may have left none).
    sleeps: dict[int, Counter] = defaultdict(Counter)
    for run_id, attempt in RunStep.objects.filter(run__in=run_ids, name="sleep").values_list("run", "attempt"):
        sleeps[run_id][attempt] += 1
    for run in runs:
        counts = sleeps[run.pk]
        if run.attempt == 1:
            assert counts == Counter({1: 1}), (run.pk, counts)
        else:
            assert counts[2] == 1 and counts.total() <= 2, (run.pk, counts)
