"""A small typed client for the Gradent API.

from gradent_client import Client
gradent = Client("http://127.0.0.1:8000", token="gdt_…")
run = gradent.agents.run(7, input={"city": "Lisbon"})
print(gradent.runs.wait(run.id).output)
"""

from gradent_client.client import Client, Record
from gradent_client.errors import (
    ApiError,
    AuthenticationError,
    Conflict,
    GradentError,
    NotFound,
    RateLimited,
    RunNotFinished,
    ServerError,
    ValidationError,
)
from gradent_client.proactive import ProactiveMonitor, Scheduler, TriggerManager, WebhookManager

__all__ = [
    "ApiError",
    "AuthenticationError",
    "Client",
    "Conflict",
    "GradentError",
    "NotFound",
    "ProactiveMonitor",
    "RateLimited",
    "Record",
    "RunNotFinished",
    "Scheduler",
    "ServerError",
    "TriggerManager",
    "ValidationError",
    "WebhookManager",
]
