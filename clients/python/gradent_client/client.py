"""The HTTP side of the client: one `requests.Session`, authentication (API token or JWT with
refresh), errors mapped to exceptions, lists paged through, answers as `Record`s."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from gradent_client import errors

DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "gradent-client/0.1"


class Record(dict):
    """A JSON object from the API: a dict whose keys are also attributes (`webhook.url_path`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def wrap(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return cls({key: cls.wrap(item) for key, item in value.items()})
        if isinstance(value, list):
            return [cls.wrap(item) for item in value]
        return value


class Client:
    """A connection to one Gradent server.

    Credentials, in this order: `token` (a personal API token, `gdt_…`), or `username` and
    `password` (a JWT pair is obtained, and the access token refreshed when it expires), or the
    environment: `GRADENT_TOKEN`, else `GRADENT_USERNAME` / `GRADENT_PASSWORD`. The server is
    `base_url`, else `GRADENT_URL`, else http://127.0.0.1:8000.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("GRADENT_URL") or DEFAULT_URL).rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        if token is None and username is None:
            token = os.environ.get("GRADENT_TOKEN") or None
            if token is None:
                username = os.environ.get("GRADENT_USERNAME") or None
                password = os.environ.get("GRADENT_PASSWORD") or None
        self._token = token
        self._username = username
        self._password = password
        self._access: str | None = None
        self._refresh: str | None = None

        from gradent_client import resources  # the resources use this module's Client

        self.workspaces = resources.Workspaces(self)
        self.tokens = resources.Tokens(self)
        self.agents = resources.Agents(self)
        self.runs = resources.Runs(self)
        self.threads = resources.Threads(self)
        self.schedules = resources.Schedules(self)
        self.monitors = resources.Monitors(self)
        self.triggers = resources.Triggers(self)
        self.webhooks = resources.Webhooks(self)
        self.suggestions = resources.Suggestions(self)
        self.channels = resources.Channels(self)
        self.autonomous = resources.Autonomous(self)

    # -- authentication -------------------------------------------------------------------

    def _obtain_jwt(self) -> None:
        answer = self._send("POST", "/api/auth/token", json={"username": self._username, "password": self._password})
        self._access, self._refresh = answer["access"], answer["refresh"]

    def _refresh_jwt(self) -> bool:
        if not self._refresh:
            return False
        try:
            answer = self._send("POST", "/api/auth/token/refresh", json={"refresh": self._refresh})
        except errors.AuthenticationError:
            return False
        self._access = answer["access"]
        return True

    def _auth_header(self) -> dict[str, str]:
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        if self._username:
            if self._access is None:
                self._obtain_jwt()
            return {"Authorization": f"Bearer {self._access}"}
        return {}

    # -- requests -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """Send one request to `path` (under the server's root) and return the decoded answer
        (a `Record`, a list of them, or None for 204); raise an `ApiError` subclass for 4xx/5xx."""
        try:
            return self._send(method, path, json=json, params=params, headers=self._auth_header())
        except errors.AuthenticationError as exc:
            # An expired JWT access token: refresh it (or log in again) once.
            if exc.status != 401 or not self._username:
                raise
            if not self._refresh_jwt():
                self._obtain_jwt()
            return self._send(method, path, json=json, params=params, headers=self._auth_header())

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        response = self.session.request(
            method, url, json=json, params=clean or None, headers=dict(headers or {}), timeout=self.timeout
        )
        return _decode(response, method, url)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=json if json is not None else {}, params=params)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.request("PUT", path, json=json)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def paginate(self, path: str, *, page_size: int = 50, **params: Any) -> Iterator[Record]:
        """Every item of a paginated list, fetching pages of `page_size` as they are needed."""
        offset = 0
        while True:
            page = self.get(path, limit=page_size, offset=offset, **params)
            if isinstance(page, list):  # a list that is not paginated
                yield from page
                return
            items = page.get("results", [])
            yield from items
            offset += len(items)
            if not items or not page.get("next"):
                return


def _decode(response: requests.Response, method: str, url: str) -> Any:
    if response.status_code == 204 or not response.content:
        body: Any = None
    elif "json" in response.headers.get("Content-Type", ""):
        body = Record.wrap(response.json())
    else:
        body = response.text
    status = response.status_code
    if status < 400:
        return body
    if status == 400:
        raise errors.ValidationError(status, body, method, url)
    if status in (401, 403):
        raise errors.AuthenticationError(status, body, method, url)
    if status == 404:
        raise errors.NotFound(status, body, method, url)
    if status == 409:
        raise errors.Conflict(status, body, method, url)
    if status == 429:
        raise errors.RateLimited(status, body, method, url, _retry_after(response))
    if status >= 500:
        raise errors.ServerError(status, body, method, url)
    raise errors.ApiError(status, body, method, url)


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
