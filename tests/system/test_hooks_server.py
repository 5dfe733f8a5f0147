"""POST /api/hooks/ through real web servers on loopback (issue 9, item 3): a chunked body
(Transfer-Encoding: chunked, no Content-Length) is read up to the webhook's limit under
gunicorn as `up` runs it, and an oversize body gets a clean 413, not a connection reset.
Django's own server cannot hand a chunked body to the application: it gets a 411 and the
connection closes."""

from __future__ import annotations

import http.client
import json
import socket
import sys

import pytest
import requests

from proactive.models import WebhookDelivery
from tests.proactive.test_hooks import make_hook, sw_headers
from tests.system.conftest import base_env, free_port, wait_for
from tests.system.conftest import test_database_env as database_env

pytestmark = pytest.mark.system

LIMIT = 1024 * 1024


def chunks(body: bytes, size: int = 64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post_chunked(port: int, path: str, body: bytes, headers: dict) -> http.client.HTTPResponse:
    """http.client sends an iterable body with Transfer-Encoding: chunked."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=chunks(body), headers={"Content-Type": "application/json", **headers},
                 encode_chunked=True)  # fmt: skip
    response = conn.getresponse()
    response.read()
    return response


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def gunicorn(transactional_db, start_service) -> int:
    port = free_port()
    web = start_service(
        "web",
        *("-m", "gunicorn", "gradent.wsgi:application", "--bind", f"127.0.0.1:{port}"),
        *("--workers", "1", "--worker-class", "gthread", "--threads", "4", "--no-control-socket"),
        env=base_env(**database_env()),
        program=[sys.executable],
    )

    def up() -> bool:
        assert web.alive(), web.output()
        return listening(port)

    wait_for(up, timeout=60, what="gunicorn listening")
    return port


def test_gunicorn_reads_a_chunked_body_up_to_the_limit_and_answers_413_cleanly(gunicorn):
    hook = make_hook(template="{{ type }}", max_body_bytes=LIMIT)
    path = f"/api/hooks/{hook.url_path}"
    body = json.dumps({"type": "chunked", "pad": "x" * 900_000}).encode()
    response = post_chunked(gunicorn, path, body, sw_headers(hook.secret, body, msg_id="c1"))
    assert response.status == 202
    delivery = WebhookDelivery.objects.get(delivery_id="c1")
    assert (delivery.verdict, delivery.body_size, bytes(delivery.body)) == ("accepted", len(body), body)

    big = json.dumps({"type": "chunked", "pad": "x" * 1_200_000}).encode()
    response = post_chunked(gunicorn, path, big, sw_headers(hook.secret, big, msg_id="c2"))
    assert response.status == 413
    assert WebhookDelivery.objects.filter(status_code=413).count() == 1

    # An oversize Content-Length, several times over: the 413 arrives, never a reset.
    huge = b"x" * (30 * 1024 * 1024)
    for i in range(3):
        headers = {"Content-Type": "application/json", **sw_headers(hook.secret, b"{}")}
        answer = requests.post(f"http://127.0.0.1:{gunicorn}{path}", data=huge, headers=headers, timeout=60)
        assert answer.status_code == 413, (i, answer.text)
        # http.client writes the whole body before it reads: a server that closed early
        # would break its write (a reset or a broken pipe) before it saw the answer.
        conn = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=60)
        conn.request("POST", path, body=huge, headers=headers)
        assert conn.getresponse().status == 413
        conn.close()
    assert WebhookDelivery.objects.filter(status_code=413).count() == 7
    assert all(len(bytes(d.body)) <= 1024 for d in WebhookDelivery.objects.filter(status_code=413))


def test_djangos_server_answers_a_chunked_body_411_and_closes_the_connection(live_server):
    hook = make_hook()
    port = int(live_server.url.rsplit(":", 1)[1])
    body = b'{"type": "a"}'
    response = post_chunked(port, f"/api/hooks/{hook.url_path}", body, sw_headers(hook.secret, body))
    assert response.status == 411
    assert response.will_close
    assert "chunked" in WebhookDelivery.objects.get().reason
    # With a Content-Length the same delivery is taken, and an oversize one gets its 413.
    answer = requests.post(f"{live_server.url}/api/hooks/{hook.url_path}", data=body, timeout=30,
                           headers={"Content-Type": "application/json", **sw_headers(hook.secret, body)})  # fmt: skip
    assert answer.status_code == 202
    huge = requests.post(f"{live_server.url}/api/hooks/{hook.url_path}", data=b"x" * (3 * 1024 * 1024), timeout=30,
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 413
