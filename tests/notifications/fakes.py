"""Local HTTP servers that answer like Discord, Slack, ntfy and a webhook receiver, on
loopback. Queued replies (429, 5xx, a hang…) are served first; otherwise the service's
own behaviour answers."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> Reply:
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **headers})


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Behaviour = Callable[["FakePeer", Request], Reply]


class FakePeer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self.replies: deque[Reply] = deque()
        self.release = threading.Event()
        self.ids = itertools.count(1_200_000_000_000_000_001)
        self.state: dict[str, Any] = {}
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakePeer:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request("POST", self.path, dict(self.headers.items()), body)
                peer.requests.append(request)
                reply = peer.replies.popleft() if peer.replies else peer.behaviour(peer, request)
                if reply.hang:
                    peer.release.wait(30)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def enqueue(self, *replies: Reply) -> FakePeer:
        self.replies.extend(replies)
        return self

    @property
    def last(self) -> Request:
        return self.requests[-1]


# --- Discord ------------------------------------------------------------------------------
DISCORD_ID = "1187654321098765432"
DISCORD_TOKEN = "aBcD-eFgH_ijkl1234567890mnopQRSTuvwxYZ"
DISCORD_URL = f"https://discord.com/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"


def discord(peer: FakePeer, request: Request) -> Reply:
    """Execute Webhook: 404 Unknown Webhook for a webhook it does not know, 401 for a wrong
    token, 400 for an empty message, else 200 with the message (wait=true)."""
    match = re.match(r"^/api/webhooks/(\d+)/([^/?]+)(\?.*)?$", request.path)
    known = peer.state.setdefault("webhooks", {DISCORD_ID: DISCORD_TOKEN})
    if not match or match[1] not in known:
        return Reply.json(404, {"message": "Unknown Webhook", "code": 10015})
    if match[2] != known[match[1]]:
        return Reply.json(401, {"message": "Invalid Webhook Token", "code": 50027})
    data = request.json or {}
    if not data.get("content") and not data.get("embeds"):
        return Reply.json(400, {"message": "Cannot send an empty message", "code": 50006})
    message = {
        "id": str(next(peer.ids)),
        "type": 0,
        "content": data.get("content", ""),
        "channel_id": "1100000000000000001",
        "embeds": data.get("embeds", []),
        "webhook_id": match[1],
    }
    if "wait=true" not in (match[3] or ""):
        return Reply(204)
    return Reply.json(200, message)


def discord_rate_limited(retry_after: float, *, header: bool) -> Reply:
    headers = {"Retry-After": str(int(retry_after) + 1)} if header else {}
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    return Reply.json(429, body, **headers)


# --- Slack --------------------------------------------------------------------------------
SLACK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
SLACK_URL = f"https://hooks.slack.com{SLACK_PATH}"


def slack(peer: FakePeer, request: Request) -> Reply:
    """Incoming webhook: 200 "ok"; 404 "no_service" for an unknown hook; 400
    "invalid_payload" / "no_text" for a body it cannot use."""
    if request.path != SLACK_PATH:
        return Reply.text(404, "no_service")
    data = request.json
    if not isinstance(data, dict):
        return Reply.text(400, "invalid_payload")
    if not data.get("text") and not data.get("blocks"):
        return Reply.text(400, "no_text")
    return Reply.text(200, "ok")


# --- ntfy ---------------------------------------------------------------------------------
def ntfy(peer: FakePeer, request: Request) -> Reply:
    """Publish: 200 with the message as JSON; 403 when the topic needs a token and the
    token is wrong or missing."""
    topic = request.path.strip("/")
    if not re.fullmatch(r"[-_A-Za-z0-9]{1,64}", topic):
        return Reply.json(404, {"code": 40401, "http": 404, "error": "page not found"})
    wanted = peer.state.get("token")
    if wanted and request.header("Authorization") != f"Bearer {wanted}":
        return Reply.json(
            403,
            {"code": 40301, "http": 403, "error": "forbidden", "link": "https://ntfy.sh/docs/publish/#authentication"},
        )
    message = {
        "id": f"hwQ2YpKdmg{len(peer.requests)}",
        "time": 1_700_000_000,
        "event": "message",
        "topic": topic,
        "message": request.body.decode("utf-8"),
    }
    if request.header("Title"):
        message["title"] = request.header("Title")
    return Reply.json(200, message)


def ntfy_rate_limited() -> Reply:
    return Reply.json(
        429,
        {
            "code": 42901,
            "http": 429,
            "error": "limit reached: too many requests",
            "link": "https://ntfy.sh/docs/publish/#limitations",
        },
    )


# --- a generic receiver -------------------------------------------------------------------
def receiver(peer: FakePeer, request: Request) -> Reply:
    return Reply.json(200, {"received": True})
