"""The managers of the original proactive design (`ProactiveMonitor`, `Scheduler`,
`WebhookManager`, `TriggerManager`), over the same API, so its examples work as written
minus the `await`: this client is synchronous.

    monitor = ProactiveMonitor().create(name="System Health Check", agent_id=7,
                                        condition="CPU usage > 80%", check_interval=60)

Each manager takes an optional `Client`; without one it builds one from the environment
(`GRADENT_URL`, `GRADENT_TOKEN` or `GRADENT_USERNAME` / `GRADENT_PASSWORD`).
"""

from __future__ import annotations

from typing import Any

from gradent_client.client import Client, Record
from gradent_client.resources import Collection, Id, Monitors, Schedules, Triggers, Webhooks


class _Manager:
    collection_class: type[Collection] = Collection

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()
        self.collection = self.collection_class(self.client)

    def create(self, **fields: Any) -> Record:
        return self.collection.create(**fields)

    def list(self, **filters: Any) -> list[Record]:
        return self.collection.all(**filters)

    def get(self, id: Id) -> Record:
        return self.collection.get(id)

    def update(self, id: Id, **fields: Any) -> Record:
        return self.collection.update(id, **fields)

    def delete(self, id: Id) -> None:
        self.collection.delete(id)


class ProactiveMonitor(_Manager):
    collection_class = Monitors
    collection: Monitors

    def pause(self, id: Id) -> Record:
        return self.collection.pause(id)

    def resume(self, id: Id) -> Record:
        return self.collection.resume(id)

    def check(self, id: Id) -> Record:
        return self.collection.check(id)

    def history(self, id: Id) -> Any:
        return self.collection.history(id)


class Scheduler(_Manager):
    collection_class = Schedules
    collection: Schedules

    def run(self, id: Id) -> Record:
        return self.collection.run(id)

    def pause(self, id: Id) -> Record:
        return self.collection.pause(id)

    def resume(self, id: Id) -> Record:
        return self.collection.resume(id)


class TriggerManager(_Manager):
    collection_class = Triggers
    collection: Triggers

    def fire(self, id: Id, payload: Any = None, event_type: str | None = None) -> Record:
        return self.collection.fire(id, payload=payload, event_type=event_type)


class WebhookManager(_Manager):
    collection_class = Webhooks
    collection: Webhooks

    def regenerate_secret(self, id: Id) -> Record:
        return self.collection.regenerate_secret(id)
