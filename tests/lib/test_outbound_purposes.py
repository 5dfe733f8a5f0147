"""Private-address allow-lists per purpose, and Gradent's own web server out of reach of
agent tools, monitor probes and channels even when loopback is allowed (issue 9, item 13).
Real requests on loopback: the live server is Gradent itself."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from agents.executor import execute_run
from agents.services import start_run
from gradent.lib import safehttp
from gradent.management.commands.up import serve_own_address
from proactive.probes.base import ProbeContext, ProbeError
from proactive.probes.http import HttpProbe
from tests.helpers import make_agent, make_user
from tests.notifications.helpers import make_channel, send

LOOPBACK = ["127.0.0.0/8"]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_server():
    """Another service on loopback: reachable where loopback is allowed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.redirect_to = ""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def gradent(live_server, settings, allow_loopback):
    """Gradent's own server, listed as up lists it; loopback allowed for every purpose."""
    port = urlsplit(live_server.url).port
    settings.GRADENT_WEB_ADDRESSES = [f"127.0.0.1:{port}"]
    return live_server.url


_users = itertools.count(1)


def run_http_request(url: str):
    agent = make_agent(
        make_user(f"user{next(_users)}"),
        provider_settings={"steps": [{"tool": "http_request", "args": {"url": url}}], "answer": "done"},
        allowed_tools=["http_request"],
    )
    run = start_run(agent)
    execute_run(run.pk)
    return run.steps.get()


# --- per purpose --------------------------------------------------------------------------------
@pytest.mark.parametrize("purpose", safehttp.PURPOSES)
def test_each_purpose_has_its_own_allow_list(purpose, other_server, settings):
    for each in safehttp.PURPOSES:
        setattr(settings, safehttp.allow_setting(each), LOOPBACK if each == purpose else [])
    for each in safehttp.PURPOSES:
        if each == purpose:
            assert safehttp.request("GET", url_of(other_server) + "/x", purpose=each).status_code == 200
        else:
            with pytest.raises(safehttp.UnsafeURLError, match=safehttp.allow_setting(each)):
                safehttp.request("GET", url_of(other_server) + "/x", purpose=each)


def test_the_old_global_setting_now_means_model_endpoints_only(tmp_path):
    env = {**os.environ, "GRADENT_DATA_DIR": str(tmp_path), "GRADENT_ALLOW_PRIVATE_URLS": "127.0.0.1"}
    for name in ("MODELS", "TOOLS", "PROBES", "CHANNELS"):
        env.pop(f"GRADENT_ALLOW_PRIVATE_URLS_{name}", None)
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([getattr(s, 'GRADENT_ALLOW_PRIVATE_URLS_' + n) for n in "
        "('MODELS', 'TOOLS', 'PROBES', 'CHANNELS')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "gradent.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [["127.0.0.1"], [], [], []]


@pytest.mark.django_db
def test_a_tool_is_refused_loopback_that_only_the_models_may_reach(other_server, settings):
    settings.GRADENT_ALLOW_PRIVATE_URLS_MODELS = LOOPBACK
    settings.GRADENT_ALLOW_PRIVATE_URLS_TOOLS = []
    step = run_http_request(url_of(other_server) + "/x")
    assert step.status == "error" and "GRADENT_ALLOW_PRIVATE_URLS_TOOLS" in step.error


# --- never Gradent itself -----------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/api/schema/"])
def test_a_tool_never_reaches_gradent_even_with_loopback_allowed(gradent, other_server, path):
    assert run_http_request(url_of(other_server) + "/fine").status == "ok"  # loopback is allowed…
    step = run_http_request(gradent + path)  # …but not Gradent's own server
    assert step.status == "error" and "Gradent's own web server" in step.error
    port = urlsplit(gradent).port
    step = run_http_request(f"http://localhost:{port}{path}")  # by name too
    assert step.status == "error" and "Gradent's own web server" in step.error


@pytest.mark.django_db
def test_a_redirect_to_gradent_is_refused_at_the_hop(gradent, other_server):
    other_server.redirect_to = gradent + "/healthz"
    step = run_http_request(url_of(other_server) + "/redirect")
    assert step.status == "error" and "Gradent's own web server" in step.error


@pytest.mark.django_db
def test_a_probe_never_reaches_gradent(gradent, other_server):
    context = ProbeContext(workspace_id=1)
    assert HttpProbe({"url": url_of(other_server) + "/fine"}).check(context=context).values["status"] == 200
    with pytest.raises(ProbeError, match="Gradent's own web server"):
        HttpProbe({"url": gradent + "/healthz"}).check(context=context)


@pytest.mark.django_db
def test_a_channel_never_reaches_gradent(gradent):
    channel = make_channel("webhook", {"url": gradent + "/api/hooks/anything"})
    notification = send(channel)
    assert notification.status == "failed" and "Gradent's own web server" in notification.last_error


@pytest.mark.django_db
def test_a_wildcard_bind_covers_every_local_address(live_server, settings, allow_loopback):
    port = urlsplit(live_server.url).port
    settings.GRADENT_WEB_ADDRESSES = [f"0.0.0.0:{port}"]
    for host in ("127.0.0.1", "localhost", "127.0.0.2"):
        assert safehttp.is_own_server("127.0.0.1", port)
        with pytest.raises(safehttp.UnsafeURLError, match="own web server"):
            safehttp.request("GET", f"http://{host}:{port}/healthz", purpose=safehttp.PROBES)
    assert not safehttp.is_own_server("127.0.0.1", port + 1 if port < 65535 else port - 1)
    # Model endpoints are not concerned: a local model may share the machine.
    assert safehttp.request("GET", f"{live_server.url}/healthz", purpose=safehttp.MODELS).status_code in (200, 503)


def test_up_lists_its_own_address_for_itself_and_its_children(settings, monkeypatch):
    monkeypatch.delenv("GRADENT_WEB_ADDRESSES", raising=False)
    assert serve_own_address("0.0.0.0", 8123) == ["0.0.0.0:8123"]
    assert settings.GRADENT_WEB_ADDRESSES == ["0.0.0.0:8123"]
    assert os.environ["GRADENT_WEB_ADDRESSES"] == "0.0.0.0:8123"
    monkeypatch.setenv("GRADENT_WEB_ADDRESSES", "10.0.0.5:443")
    assert serve_own_address("::", 8124) == ["10.0.0.5:443", "[::]:8124"]
