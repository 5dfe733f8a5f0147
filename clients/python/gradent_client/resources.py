"""One class per kind of object the API serves. Every method is one request (lists page
through with `iter()`); answers are `Record`s, so `run.status` and `run["status"]` both work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gradent_client.errors import RunNotFinished

if TYPE_CHECKING:
    from gradent_client.client import Client, Record

Id = int | str
FINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "cancelled", "timed_out", "skipped", "missed"})


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments as a request body, leaving out the ones not given (None)."""
    return {key: value for key, value in fields.items() if value is not None}


class Collection:
    """The list / create / get / update / delete a collection path serves."""

    path = ""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _item(self, id: Id, *rest: str) -> str:
        return "/".join([self.path, str(id), *rest])

    def list(self, *, limit: int | None = None, offset: int | None = None, **filters: Any) -> Record:
        """One page: `{count, next, previous, results}`."""
        return self.client.get(self.path, limit=limit, offset=offset, **filters)

    def iter(self, **filters: Any) -> Iterator[Record]:
        """Every object, page after page."""
        return self.client.paginate(self.path, **filters)

    def all(self, **filters: Any) -> list[Record]:
        return list(self.iter(**filters))

    def get(self, id: Id) -> Record:
        return self.client.get(self._item(id))

    def create(self, **fields: Any) -> Record:
        return self.client.post(self.path, _fields(fields))

    def update(self, id: Id, **fields: Any) -> Record:
        """PATCH: only the fields given change."""
        return self.client.patch(self._item(id), _fields(fields))

    def delete(self, id: Id) -> None:
        self.client.delete(self._item(id))


class Workspaces(Collection):
    """Your workspaces and your role in each (read-only)."""

    path = "/api/workspaces"


class Tokens(Collection):
    """Your API tokens; `create(name=..., scope="read" | "write")` answers the key (`token`), once."""

    path = "/api/tokens"


class Agents(Collection):
    path = "/api/agents"

    def run(
        self,
        id: Id,
        *,
        task: str | None = None,
        input: Any = None,
        payload: Any = None,
        thread_id: Id | None = None,
    ) -> Record:
        """Start a run now (202 + the queued run). A refused start raises `Conflict` (overlap,
        paused) or `RateLimited` (hourly quota) with the skipped run in `body["run"]`."""
        return self.client.post(
            self._item(id, "run"), _fields({"task": task, "input": input, "payload": payload, "thread_id": thread_id})
        )

    def pause(self, id: Id) -> Record:
        return self.client.post(self._item(id, "pause"))

    def resume(self, id: Id) -> Record:
        return self.client.post(self._item(id, "resume"))

    def runs(self, id: Id, **filters: Any) -> Iterator[Record]:
        return self.client.paginate(self._item(id, "runs"), **filters)

    def threads(self, id: Id) -> Iterator[Record]:
        return self.client.paginate(self._item(id, "threads"))


class Runs(Collection):
    path = "/api/runs"

    def create(self, **fields: Any) -> Record:
        raise TypeError("runs are started with client.agents.run(agent_id, ...)")

    def update(self, id: Id, **fields: Any) -> Record:
        raise TypeError("a run is not edited; cancel it with client.runs.cancel(run_id)")

    def delete(self, id: Id) -> None:
        raise TypeError("runs are kept as history; they are not deleted through the API")

    def cancel(self, id: Id) -> Record:
        return self.client.post(self._item(id, "cancel"))

    def wait(self, id: Id, *, timeout: float = 120.0, interval: float = 0.5) -> Record:
        """Poll the run until it reaches a final status; raise `RunNotFinished` after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(id)
            if run["status"] in FINAL_RUN_STATUSES:
                return run
            if time.monotonic() >= deadline:
                raise RunNotFinished(run, timeout)
            time.sleep(interval)


class Threads(Collection):
    path = "/api/threads"


class Schedules(Collection):
    path = "/api/proactive/schedules"

    def run(self, id: Id) -> Record:
        """Run now, outside the schedule's slots."""
        return self.client.post(self._item(id, "run"))

    def pause(self, id: Id) -> Record:
        return self.client.post(self._item(id, "pause"))

    def resume(self, id: Id) -> Record:
        return self.client.post(self._item(id, "resume"))

    def preview(self, id: Id, count: int = 10) -> Any:
        """The next `count` fires in the schedule's zone."""
        return self.client.get(self._item(id, "preview"), count=count)

    def preview_unsaved(self, **fields: Any) -> Any:
        return self.client.post(f"{self.path}/preview", _fields(fields))


class Monitors(Collection):
    path = "/api/proactive/monitors"

    def pause(self, id: Id) -> Record:
        return self.client.post(self._item(id, "pause"))

    def resume(self, id: Id) -> Record:
        return self.client.post(self._item(id, "resume"))

    def check(self, id: Id) -> Record:
        """Check now; answers the check."""
        return self.client.post(self._item(id, "check"))

    def history(self, id: Id) -> Any:
        return self.client.get(self._item(id, "history"))


class Triggers(Collection):
    path = "/api/proactive/triggers"

    def fire(self, id: Id, payload: Any = None, event_type: str | None = None) -> Record:
        return self.client.post(self._item(id, "fire"), _fields({"payload": payload, "event_type": event_type}))


class Webhooks(Collection):
    path = "/api/proactive/webhooks"

    def regenerate_secret(self, id: Id) -> Record:
        """A new secret, shown in this answer only."""
        return self.client.post(self._item(id, "regenerate-secret"))

    def deliveries(self, id: Id) -> Iterator[Record]:
        return self.client.paginate(self._item(id, "deliveries"))

    def replay(self, id: Id, delivery_id: Id, *, dry_run: bool = False) -> Record:
        path = self._item(id, "deliveries", str(delivery_id), "replay")
        return self.client.post(path, dry_run=1 if dry_run else None)

    def url(self, webhook: Record) -> str:
        """The address senders post to."""
        return webhook.get("webhook_url") or f"{self.client.base_url}/api/hooks/{webhook['url_path']}"


class Suggestions(Collection):
    path = "/api/proactive/suggestions"

    def accept(self, id: Id) -> Record:
        return self.client.post(self._item(id, "accept"))

    def dismiss(self, id: Id) -> Record:
        return self.client.post(self._item(id, "dismiss"))

    def patterns(self) -> Any:
        """What the miner found, and from which runs."""
        return self.client.get("/api/proactive/patterns")


class Channels(Collection):
    path = "/api/notifications/channels"

    def test(self, id: Id) -> Record:
        return self.client.post(self._item(id, "test"))

    def notifications(self, id: Id) -> Iterator[Record]:
        return self.client.paginate(self._item(id, "notifications"))


class Autonomous:
    """The autonomous mode: configuration, metrics and events in, goals, predictions and
    reports out. `workspace_id` picks one of your workspaces (default: your personal one)."""

    path = "/api/autonomous"

    def __init__(self, client: Client) -> None:
        self.client = client

    def _get(self, name: str, **params: Any) -> Any:
        return self.client.get(f"{self.path}/{name}", **params)

    def _post(self, name: str, body: Any = None, **params: Any) -> Any:
        return self.client.post(f"{self.path}/{name}", body, **params)

    def config(self, workspace_id: Id | None = None) -> Record:
        return self._get("config", workspace_id=workspace_id)

    def configure(self, **fields: Any) -> Record:
        """PUT the configuration: `enabled`, `frequency` ("15min" … "24hours"),
        `discord_webhook`, `ntfy_topic`, `executor_agent_id`, …"""
        return self.client.put(f"{self.path}/config", _fields(fields))

    def execute(self, workspace_id: Id | None = None) -> Record:
        """Start a cycle now."""
        return self._post("execute", _fields({"workspace_id": workspace_id}))

    def test_webhook(self, webhook_url: str) -> Record:
        return self._post("test-webhook", {"webhook_url": webhook_url})

    def record_metric(
        self,
        metric_name: str,
        value: float,
        *,
        timestamp: str | None = None,
        labels: dict[str, str] | None = None,
        workspace_id: Id | None = None,
    ) -> Record:
        point = _fields({"metric_name": metric_name, "value": value, "timestamp": timestamp, "labels": labels})
        return self._post("metrics", {**point, **_fields({"workspace_id": workspace_id})})

    def record_metrics(self, points: list[dict[str, Any]], *, workspace_id: Id | None = None) -> Record:
        """Up to 10,000 points at once; one bad point rejects the batch, naming its index."""
        return self._post("metrics", {"metrics": points, **_fields({"workspace_id": workspace_id})})

    def record_event(self, event_type: str, metadata: dict[str, Any] | None = None, **extra: Any) -> Record:
        return self._post("events", {"event_type": event_type, "metadata": metadata or {}, **_fields(extra)})

    def rules(self, workspace_id: Id | None = None) -> Any:
        return self._get("rules", workspace_id=workspace_id)

    def add_rule(self, **fields: Any) -> Record:
        """A threshold for a metric: `metric_name`, `warning`, `critical`, `direction`, …"""
        return self._post("rules", _fields(fields))

    def status(self, workspace_id: Id | None = None) -> Record:
        return self._get("status", workspace_id=workspace_id)

    def goals(self, workspace_id: Id | None = None, **filters: Any) -> Any:
        return self._get("goals", workspace_id=workspace_id, **filters)

    def goal(self, goal_id: Id) -> Record:
        return self._get(f"goals/{goal_id}")

    def predictions(self, horizon_hours: int = 24, workspace_id: Id | None = None) -> Any:
        return self._get("predictions", horizon_hours=horizon_hours, workspace_id=workspace_id)

    def trigger_analysis(self, workspace_id: Id | None = None) -> Record:
        return self._post("analysis/trigger", _fields({"workspace_id": workspace_id}))

    def set_mode(self, autonomous: bool, workspace_id: Id | None = None) -> Record:
        return self._post("mode", _fields({"autonomous": autonomous, "workspace_id": workspace_id}))

    def report(self, workspace_id: Id | None = None) -> Record:
        return self._get("report", workspace_id=workspace_id)

    def executor_statistics(self, workspace_id: Id | None = None) -> Record:
        return self._get("executor/statistics", workspace_id=workspace_id)

    def executor_insights(self, workspace_id: Id | None = None) -> Record:
        return self._get("executor/insights", workspace_id=workspace_id)
