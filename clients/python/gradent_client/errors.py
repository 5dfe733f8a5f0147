"""Errors raised by the client: one class per kind of answer a program branches on."""

from __future__ import annotations

from typing import Any


class GradentError(Exception):
    """Base class of every error this package raises."""


class ApiError(GradentError):
    """The server answered with a status of 400 or more.

    `status` is the HTTP status, `body` the decoded answer (a dict for JSON, else the text).
    For a 400, `field_errors` maps each field the server named to its messages.
    """

    def __init__(self, status: int, body: Any, method: str, url: str) -> None:
        self.status = status
        self.body = body
        self.method = method
        self.url = url
        super().__init__(f"{method} {url} answered {status}: {_summary(body)}")

    @property
    def field_errors(self) -> dict[str, Any]:
        if isinstance(self.body, dict):
            return {k: v for k, v in self.body.items() if k not in ("detail", "status", "run")}
        return {}


class ValidationError(ApiError):
    """400: the request named a field the server refused (see `field_errors`)."""


class AuthenticationError(ApiError):
    """401 or 403: no valid credentials, or not allowed (a read-only token writing, a viewer)."""


class NotFound(ApiError):
    """404: no such object in any of your workspaces."""


class Conflict(ApiError):
    """409: the request conflicts with the object's state (a paused agent, an overlapping run).
    A refused run start carries the skipped run in `body["run"]`."""


class RateLimited(ApiError):
    """429: a throttle or quota. `retry_after` is the server's hint in seconds, if it gave one."""

    def __init__(self, status: int, body: Any, method: str, url: str, retry_after: float | None) -> None:
        super().__init__(status, body, method, url)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; worth retrying later."""


class RunNotFinished(GradentError):
    """`runs.wait()` gave up before the run reached a final status."""

    def __init__(self, run: dict[str, Any], timeout: float) -> None:
        self.run = run
        super().__init__(f"run {run.get('id')} is still {run.get('status')} after {timeout:g} s")


def _summary(body: Any) -> str:
    text = str(body)
    return text if len(text) <= 300 else text[:300] + "…"
