"""How many runs wait on a model at once on the default `up`, and what does it cost in memory?

    python bench/llm_concurrency.py [--n 1000] [--latency 2] [--baseline-n 20]

Prints one JSON object. A local OpenAI-compatible server answers every call after
`--latency` seconds. `manage.py up` runs on a fresh data directory with the default
settings (SQLite, the django-q2 ORM broker, 2 workers, GRADENT_RUNS_PER_WORKER as set, by
default 64), and N runs are started through the API (JWT, POST /api/agents/{id}/run):

- *model*: one model call per run (a final answer). Latency per run: `latency`.
- *tool*: model call → `http_request` to a loopback server that answers after 1 s →
  model call. Latency per run: 2 × `latency` + 1.

Runs in flight = N × latency per run / wall time (from the first start to the last
success). While a scenario runs, the RSS and PSS of `up` and all its processes are summed
every half second; the peaks are reported. Targets: in flight ≥ 100 and peak PSS ≤ 400 MB.

Baseline, measured in the same run: the *model* scenario with GRADENT_RUNS_PER_WORKER=1
(one run per worker process, as before runs waited concurrently), with `--baseline-n` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from run_throughput import Service, free_port, healthy, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.fakes.llm_servers import (  # noqa: E402
    FakeOpenAI,
    Reply,
    openai_text_response,
    openai_tool_call_response,
)

TARGET_IN_FLIGHT = 100
TARGET_PSS_MB = 400
PASSWORD = "bench-" + os.urandom(8).hex()


class SlowPage(BaseHTTPRequestHandler):
    """The tool's target: answers after one second."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(1.0)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return


class Page(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def model(latency: float, page_url: str):
    def answer(request):
        messages = request.json["messages"]
        if any(m["role"] == "tool" for m in messages) or "tool" not in (messages[-1].get("content") or ""):
            return Reply(200, openai_text_response("done"), delay=latency)
        return Reply(200, openai_tool_call_response([("http_request", {"url": page_url})]), delay=latency)

    return answer


class Api:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.token = self.call("POST", "/api/auth/token", {"username": "admin", "password": PASSWORD}, auth=False)[
            "access"
        ]

    def call(self, method: str, path: str, body: dict | None = None, *, auth: bool = True) -> dict:
        request = urllib.request.Request(self.base + path, method=method, data=json.dumps(body or {}).encode())
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


def sample_memory(root_pid: int, peaks: dict, stop: threading.Event) -> None:
    import psutil
    from run_throughput import describe

    cpu: dict[int, tuple[str, float, float]] = {}  # pid: (label, CPU seconds at the first and last sample)
    while not stop.wait(0.5):
        rss = pss = 0.0
        parts = []
        try:
            root = psutil.Process(root_pid)
            for proc in [root, *root.children(recursive=True)]:
                try:
                    info = proc.memory_full_info()
                    label = describe(proc, root_pid)
                    threads = proc.num_threads()
                    times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                seconds = times.user + times.system
                cpu[proc.pid] = (label, cpu.get(proc.pid, (label, seconds))[1], seconds)
                rss += info.rss / 2**20
                pss += getattr(info, "pss", info.rss) / 2**20
                parts.append([label, threads, round(getattr(info, "pss", info.rss) / 2**20, 1)])
        except psutil.NoSuchProcess:
            return
        by_label: dict[str, float] = {}
        for label, first, last in cpu.values():
            by_label[label] = by_label.get(label, 0.0) + last - first
        # CPU seconds each kind of process spent during the scenario (a process that
        # exited counts up to its last sample).
        peaks["cpu_s"] = {label: round(seconds, 1) for label, seconds in sorted(by_label.items())}
        peaks["rss_mb"] = max(peaks.get("rss_mb", 0), round(rss, 1))
        if pss > peaks.get("pss_mb", 0):
            peaks["pss_mb"] = round(pss, 1)
            peaks["processes"] = parts  # [process, threads, PSS MB] at the PSS peak


def p50_p90_max(values: list[float]) -> list[float]:
    return [round(values[len(values) // 2], 2), round(values[int(len(values) * 0.9)], 2), round(values[-1], 2)]


def scenario(api: Api, agent_id: int, n: int, per_run: float, up: Service, task: str = "answer") -> dict:
    from django.db.models import Count

    from agents.models import Run, RunStatus

    peaks: dict = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(up.process.pid, peaks, stop), daemon=True)
    sampler.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as starters:  # a program starting runs, as fast as the API takes them
        ids = list(starters.map(lambda i: api.call("POST", f"/api/agents/{agent_id}/run", {"task": task})["id"],
                                range(n)))  # fmt: skip
    started_all = time.perf_counter() - started
    most_running = 0

    def finished() -> bool:
        nonlocal most_running
        counts = dict(Run.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")))
        most_running = max(most_running, counts.get(RunStatus.RUNNING, 0))
        unexpected = {s: c for s, c in counts.items() if s not in ("succeeded", "queued", "running")}
        if unexpected:
            raise RuntimeError(f"runs ended otherwise than succeeded: {unexpected}")
        return counts.get(RunStatus.SUCCEEDED, 0) == n

    wait_for(finished, timeout=max(600, n * per_run), interval=0.2, what=f"{n} runs", services=[up])
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    in_flight = n * per_run / wall
    times = list(Run.objects.filter(pk__in=ids).values_list("created", "started_at", "finished_at"))
    held = sorted((finished - started).total_seconds() for _, started, finished in times)
    queued = sorted((started - created).total_seconds() for created, started, _ in times)
    # Claims a second while the API was still starting runs: the workers' claims compete
    # with the API's inserts for SQLite's one writer (docs/decisions.md, "writers queue").
    first_start, last_start = min(t[0] for t in times), max(t[0] for t in times)
    starting_s = max((last_start - first_start).total_seconds(), 0.001)
    claimed_while_starting = sum(1 for _, claimed, _ in times if claimed <= last_start)
    return {
        "n": n,
        "seconds_per_run_waiting": per_run,
        "wall_s": round(wall, 2),
        "api_starts_s": round(started_all, 2),
        "in_flight": round(in_flight, 1),
        "most_running_seen": most_running,
        # How long each run held its worker slot (claimed → finished), against per_run.
        "running_s_p50_p90_max": p50_p90_max(held),
        # How long each run waited in the queue (created → claimed).
        "queued_s_p50_p90_max": p50_p90_max(queued),
        "claimed_per_s_while_starting": round(claimed_while_starting / starting_s, 1),
        "peak_rss_mb_up_group": peaks.get("rss_mb"),
        "peak_pss_mb_up_group": peaks.get("pss_mb"),
        "at_peak_process_threads_pss_mb": peaks.get("processes"),
        "cpu_s_by_process": peaks.get("cpu_s"),
    }


def run_up(work: Path, name: str, model_url: str, runs_per_worker: int | None) -> tuple[Service, Api]:
    port = free_port()
    env = dict(
        os.environ,
        GRADENT_DATA_DIR=str(work / name),
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        GRADENT_ALLOW_PRIVATE_URLS_MODELS="127.0.0.1",
        GRADENT_ALLOW_PRIVATE_URLS_TOOLS="127.0.0.1",  # the tool mode's page is on loopback
        GRADENT_THROTTLE_RUN_START="100000/minute",
        GRADENT_THROTTLE_USER="100000/minute",
        GRADENT_RUNS_PER_HOUR="1000000",
    )
    if runs_per_worker:
        env["GRADENT_RUNS_PER_WORKER"] = str(runs_per_worker)
    up = Service(name, ["up", "--port", str(port)], work, env=env)

    wait_for(lambda: healthy(port), timeout=90, interval=0.25, what="up's /healthz", services=[up])
    from django.db import connections

    connections.close_all()  # this process reads that instance's database
    connections["default"].settings_dict["NAME"] = str(work / name / "gradent.sqlite3")
    return up, Api(port)


def make_agent(api: Api, model_url: str, *, tool: bool) -> int:
    agent = {
        "name": "bench model" + (" + tool" if tool else ""),
        "provider": "openai",
        "model": "fake-model",
        "provider_settings": {"base_url": model_url, "timeout": 60},
        "api_key": "sk-bench",
        "allowed_tools": ["http_request"] if tool else [],
        "overlap_policy": "allow",
        "max_seconds": 600,
    }
    return api.call("POST", "/api/agents/", agent)["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="runs per scenario (default 1,000)")
    parser.add_argument("--latency", type=float, default=2.0, help="the model's answer time in seconds (default 2)")
    parser.add_argument("--baseline-n", type=int, default=20, help="runs of the one-run-per-worker baseline")
    parser.add_argument("--skip-tool", action="store_true")
    options = parser.parse_args()

    page = Page(("127.0.0.1", 0), SlowPage)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    page_url = f"http://127.0.0.1:{page.server_address[1]}/slow"
    result: dict = {"latency_s": options.latency, "database": "sqlite", "broker": "orm"}
    with (
        tempfile.TemporaryDirectory(prefix="gradent-bench-") as tmp,
        FakeOpenAI(handler=model(options.latency, page_url)) as server,
    ):
        work = Path(tmp)
        for name in ("DATABASE_URL", "REDIS_URL", "GRADENT_SQLITE_PATH", "GRADENT_WORKERS", "GRADENT_RUNS_PER_WORKER"):
            os.environ.pop(name, None)
        os.environ.update(DJANGO_SETTINGS_MODULE="gradent.settings", GRADENT_DATA_DIR=str(work / "bench"))
        import django

        django.setup()
        from django.conf import settings

        result["runs_per_worker"] = settings.GRADENT_RUNS_PER_WORKER
        result["workers"] = settings.Q_CLUSTER["workers"]
        try:
            up, api = run_up(work, "pool", server.base_url, None)
            try:
                agent = make_agent(api, server.base_url, tool=False)
                result["model"] = scenario(api, agent, options.n, options.latency, up)
                if not options.skip_tool:
                    agent = make_agent(api, server.base_url, tool=True)
                    result["tool"] = scenario(api, agent, options.n, 2 * options.latency + 1, up, task="use the tool")
                # Concurrent writers on one SQLite file: any "database is locked" in the log
                # (a failed run would already have stopped the benchmark).
                result["database_locked_lines_in_log"] = up.output().count("database is locked")
            finally:
                up.stop()
            up, api = run_up(work, "baseline", server.base_url, 1)
            try:
                agent = make_agent(api, server.base_url, tool=False)
                result["baseline_one_run_per_worker"] = scenario(api, agent, options.baseline_n, options.latency, up)
            finally:
                up.stop()
        except Exception:
            for log in sorted(work.glob("*.log")):
                print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-5000:]}", file=sys.stderr)
            raise
    worst = min(result[s]["in_flight"] for s in ("model", "tool") if s in result)
    peak = max(result[s]["peak_pss_mb_up_group"] or 0 for s in ("model", "tool") if s in result)
    result.update(
        target_in_flight=TARGET_IN_FLIGHT,
        target_pss_mb=TARGET_PSS_MB,
        meets_target=worst >= TARGET_IN_FLIGHT and peak <= TARGET_PSS_MB,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
