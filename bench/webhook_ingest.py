"""How fast does the production server take signed webhook deliveries, next to a bare view?

    python bench/webhook_ingest.py [--seconds 10] [--clients 8] [--rate 50] [--repeat 2]

Prints one JSON object. On a fresh temporary data directory (SQLite in WAL/IMMEDIATE mode),
the production web server runs as `manage.py up` runs it (gunicorn, 1 gthread worker with 4
threads, access log on) on a free loopback port, with DJANGO_SETTINGS_MODULE=
bench.settings_bench: Gradent's settings and URLs plus `POST /bench/bare`, a view that reads
the body and answers 202 (bench/urls_bench.py). The baseline is that bare view in the same
server, measured in the same run.

A webhook (Standard Webhooks scheme, rate limit off) fires a trigger of a no-op scripted
agent; every delivery is signed with a unique webhook-id (signed before the clock starts),
so each one is verified, de-duplicated and stored (WebhookDelivery) before the 202. A real
`manage.py dispatch` runs meanwhile, as under `up`, and starts the deliveries' runs in
batches (queued: no workers run); `delivery_to_run_lag_s` is Run.created -
WebhookDelivery.received_at, and the bench waits until every accepted delivery has its
run.

(a) max rate: `--clients` threads, each with a keep-alive connection, send as fast as they
    get answers for `--seconds` (at most `--max-requests`), bare and webhook alternately
    `--repeat` times; deliveries/s are the medians. Target: webhook >= 50 % of bare.
(b) fixed rate: `--rate` requests/s for `--seconds`, open loop (request i is due at
    start + i / rate; its latency is counted from when it was due, so a slow answer delays
    nothing unseen); p50/p99/max latency for both. Target: webhook p99 < 100 ms.

The load generator runs on the same machine, in this Python process: on a small machine
it takes CPU from the server, more so at the bare view's rate (its `client_cpu_s` is
reported).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
WARMUP = 50


def percentiles_ms(values: list[float]) -> dict:
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 2)

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": rank(100)}


# --- requests ------------------------------------------------------------------------------------
class Target:
    """Pre-built requests for one URL: (path, body, headers)."""

    def __init__(self, name: str, path: str, secret: str | None = None):
        self.name = name
        self.path = path
        self.secret = secret

    def build(self, count: int) -> list[tuple[bytes, dict[str, str]]]:
        from proactive.signatures import get_scheme

        scheme = get_scheme("standard_webhooks")()
        built = []
        for i in range(count):
            body = json.dumps(
                {"type": "bench.event", "id": i, "data": {"repository": "acme/widgets", "status": "ok", "n": i}}
            ).encode()
            headers = {"content-type": "application/json", "user-agent": "gradent-bench"}
            if self.secret:
                headers.update(scheme.sign(secret=self.secret, body=body, msg_id=f"msg_{uuid.uuid4().hex}"))
            built.append((body, headers))
        return built


class Client:
    """One keep-alive connection; reconnects if the server closed it."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def max_rate(port: int, target: Target, *, clients: int, seconds: float, max_requests: int) -> dict:
    requests = target.build(max_requests)
    lock = threading.Lock()
    next_index = 0
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors: list[str] = []
    deadline = 0.0

    def work() -> None:
        nonlocal next_index
        client = Client(port)
        try:
            while True:
                with lock:
                    i = next_index
                    next_index += 1
                if i >= len(requests) or time.perf_counter() > deadline:
                    return
                body, headers = requests[i]
                sent = time.perf_counter()
                status = client.post(target.path, body, headers)
                took = time.perf_counter() - sent
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    latencies.append(took)
        except Exception as exc:
            errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            client.close()

    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done = len(latencies)
    return {
        "requests": done,
        "seconds": round(elapsed, 2),
        "per_s": round(done / elapsed, 1),
        "statuses": statuses,
        "latency_ms": percentiles_ms(latencies) if latencies else None,
        "client_cpu_s": round(time.process_time() - cpu, 2),
        "errors": errors[:5],
    }


def fixed_rate(port: int, target: Target, *, rate: float, seconds: float, clients: int) -> dict:
    count = int(rate * seconds)
    requests = target.build(count)
    lock = threading.Lock()
    next_index = 0
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    late_sends: list[float] = []
    errors: list[str] = []
    start = 0.0

    def work() -> None:
        nonlocal next_index
        client = Client(port)
        try:
            while True:
                with lock:
                    i = next_index
                    next_index += 1
                if i >= count:
                    return
                due = start + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                else:
                    late_sends.append(-wait)
                body, headers = requests[i]
                status = client.post(target.path, body, headers)
                took = time.perf_counter() - due  # from when it was due: no coordinated omission
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    latencies.append(took)
        except Exception as exc:
            errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            client.close()

    start = time.perf_counter() + 0.05
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {
        "rate_per_s": rate,
        "requests": len(latencies),
        "achieved_per_s": round(len(latencies) / elapsed, 1),
        "statuses": statuses,
        "latency_ms": percentiles_ms(latencies) if latencies else None,
        "sent_late": len([x for x in late_sends if x > 0.005]),
        "errors": errors[:5],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lag_percentiles() -> dict:
    from proactive.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(run__isnull=False).values_list("received_at", "run__created")
    lags = sorted((created - received).total_seconds() for received, created in rows)
    if not lags:
        return {}

    def rank(p: float) -> float:
        return round(lags[max(0, math.ceil(p / 100 * len(lags)) - 1)], 3)

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": rank(100), "runs": len(lags)}


# --- setup ----------------------------------------------------------------------------------------
def make_webhook():
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from proactive.models import Trigger, Webhook
    from proactive.signatures import get_scheme
    from workspaces.models import personal_workspace_for

    user = get_user_model().objects.create_user(username="bench", password=None)
    workspace = personal_workspace_for(user)
    workspace.runs_per_hour = 10_000_000  # the hourly quota is not what is measured
    workspace.save(update_fields=["runs_per_hour"])
    agent = Agent.objects.create(
        workspace=workspace,
        name="Bench no-op",
        provider="scripted",
        provider_settings={"steps": [], "answer": "ok"},
        overlap_policy="allow",
        auto_pause_after=0,
    )
    trigger = Trigger.objects.create(
        workspace=workspace,
        agent=agent,
        name="Bench hook",
        trigger_type=Trigger.Type.WEBHOOK,
        task_template="Event {{ type }} #{{ id }} from {{ data.repository }}",
    )
    secret = get_scheme("standard_webhooks").generate_secret()
    webhook = Webhook.objects.create(
        workspace=workspace,
        trigger=trigger,
        name="Bench",
        scheme="standard_webhooks",
        secret=secret,
        rate_limit_per_minute=0,  # the per-webhook limit is a knob, not the cost measured
    )
    return webhook, secret


def start_server(port: int, log_dir: Path):
    from bench.run_throughput import Service

    class Gunicorn(Service):
        def __init__(self):
            self.name = "gunicorn"
            self.log_path = log_dir / "gunicorn.log"
            env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings_bench")
            # The command line of `manage.py up` (gradent/management/commands/up.py).
            argv = [sys.executable, "-m", "gunicorn", "gradent.wsgi:application", "--bind", f"127.0.0.1:{port}"]
            argv += ["--workers", "1", "--worker-class", "gthread", "--threads", "4"]
            argv += ["--access-logfile", "-", "--graceful-timeout", "10", "--no-control-socket"]

            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    argv,
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

    return Gunicorn()


def measure(options, tmp: Path) -> dict:
    from django.core.management import call_command
    from django.db.models import Count

    from agents.models import Run
    from bench.run_throughput import Service, free_port, wait_for
    from proactive.models import WebhookDelivery

    call_command("migrate", interactive=False, verbosity=0)
    webhook, secret = make_webhook()
    port = free_port()
    server = start_server(port, tmp)
    # As `up` runs it: the dispatcher starts the runs of accepted deliveries meanwhile.
    dispatcher = Service("dispatch", ["dispatch"], tmp)
    bare = Target("bare", "/bench/bare")
    hook = Target("webhook", f"/api/hooks/{webhook.url_path}", secret=secret)

    def up() -> bool:
        try:
            return Client(port).post("/bench/bare", b"", {}) == 202
        except OSError:
            return False

    result: dict = {"server": "gunicorn gthread, 1 worker x 4 threads", "database": "sqlite"}
    result["clients"] = options.clients
    try:
        wait_for(up, timeout=60, interval=0.25, what="gunicorn to answer", services=[server])
        for target in (bare, hook):  # warm-up: imports, connections, caches
            warm = max_rate(port, target, clients=2, seconds=30, max_requests=WARMUP)
            assert set(warm["statuses"]) == {202}, (target.name, warm)

        runs = {"bare": [], "webhook": []}
        for _ in range(options.repeat):
            for target in (bare, hook):
                server.check()
                cpu = cpu_seconds(dispatcher.process.pid)
                phase = max_rate(
                    port, target, clients=options.clients, seconds=options.seconds, max_requests=options.max_requests
                )
                phase["dispatcher_cpu_s"] = round(cpu_seconds(dispatcher.process.pid) - cpu, 2)
                runs[target.name].append(phase)
        fixed = {}
        for target in (bare, hook):
            server.check()
            fixed[target.name] = fixed_rate(
                port, target, rate=options.rate, seconds=options.seconds, clients=options.clients
            )
        server.check()
        pending = WebhookDelivery.objects.filter(pending=True)
        wait_for(lambda: not pending.exists(), timeout=120, interval=0.2, what="every run", services=[dispatcher])
    except Exception:
        print(f"--- gunicorn.log ---\n{server.output()[-5000:]}", file=sys.stderr)
        print(f"--- dispatch.log ---\n{dispatcher.output()[-5000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()
        dispatcher.stop()

    bare_rate = statistics.median(r["per_s"] for r in runs["bare"])
    hook_rate = statistics.median(r["per_s"] for r in runs["webhook"])
    ratio = hook_rate / bare_rate
    hook_requests = WARMUP + sum(r["requests"] for r in runs["webhook"]) + fixed["webhook"]["requests"]
    stored = dict(WebhookDelivery.objects.values_list("verdict").annotate(n=Count("id")))
    result.update(
        max_rate={
            "bare_per_s": round(bare_rate, 1),
            "webhook_deliveries_per_s": round(hook_rate, 1),
            "ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO,
            "bare_runs": runs["bare"],
            "webhook_runs": runs["webhook"],
        },
        fixed_rate={
            "bare": fixed["bare"],
            "webhook": fixed["webhook"],
            "target_p99_ms": TARGET_P99_MS,
            "meets_target": bool(fixed["webhook"]["latency_ms"])
            and fixed["webhook"]["latency_ms"]["p99"] < TARGET_P99_MS,
        },
        # Every 202 is a stored, accepted delivery that started a run.
        check={
            "webhook_requests": hook_requests,
            "deliveries_stored": stored,
            "runs_started": Run.objects.count(),
        },
        # Answered first; the dispatcher (one process, as in `up`) starts the runs.
        delivery_to_run_lag_s=lag_percentiles(),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--rate", type=float, default=50.0, help="fixed request rate per second (default 50)")
    parser.add_argument("--repeat", type=int, default=2, help="max-rate phases per target (default 2)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap per max-rate phase")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gradent-bench-") as tmp:
        tmp_path = Path(tmp)
        for name in ("DATABASE_URL", "REDIS_URL", "GRADENT_SQLITE_PATH"):
            os.environ.pop(name, None)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="gradent.settings",
            GRADENT_DATA_DIR=str(tmp_path / "data"),
            GRADENT_MINING_INTERVAL="0",
            # One load generator on one address, far above the endpoint's per-address
            # default: the limit is still counted (its cost is measured), never reached.
            # The webhook's own limit stays off (GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE=0
            # lets rate_limit_per_minute=0 mean "no limit").
            GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE="100000000",
            GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE="0",
            PYTHONUNBUFFERED="1",
        )
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        result = measure(options, tmp_path)
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
