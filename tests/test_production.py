"""GRADENT_PRODUCTION: the documented production environment (docs/deploy.md) passes
`manage.py check --deploy`, and a real gunicorn serves it with HSTS, a redirect to HTTPS
(not for /healthz), secure cookies, a Content Security Policy and no Server header."""

from __future__ import annotations

import http.client
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.system.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "gradent.example.com"


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    """The production variables of docs/deploy.md, and nothing from this test run."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADENT_", "DJANGO_")) and k != "DATABASE_URL"}
    env.update(
        GRADENT_DATA_DIR=str(tmp_path / "data"),
        GRADENT_PRODUCTION="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        CSRF_TRUSTED_ORIGINS=f"https://{HOST}",
        SITE_URL=f"https://{HOST}",
        DJANGO_SETTINGS_MODULE="gradent.settings",
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    env = production_env(tmp_path)
    security = manage(env, "check", "--deploy", "--tag", "security", "--fail-level", "WARNING")
    assert security.returncode == 0, security.stdout + security.stderr
    assert "no issues" in security.stdout
    full = manage(env, "check", "--deploy")
    assert full.returncode == 0, full.stdout + full.stderr
    # Every check, not only Django's security ones (the OpenAPI schema's included).
    issues = re.findall(r"\(([\w.]+\.[EW]\d+)\)", full.stdout + full.stderr)
    assert issues == []


def test_without_the_switch_check_deploy_names_what_is_missing(tmp_path):
    env = production_env(tmp_path)
    del env["GRADENT_PRODUCTION"]
    result = manage(env, "check", "--deploy", "--tag", "security")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stdout + result.stderr


def request(port: int, path: str, **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": HOST, **headers})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.system
def test_a_real_gunicorn_serves_production_headers_without_a_server_header(tmp_path):
    port = free_port()
    env = production_env(tmp_path)
    assert manage(env, "migrate", "--no-input").returncode == 0
    command = [sys.executable, "-m", "gunicorn", "gradent.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--config", "python:gradent.gunicorn_conf", "--no-control-socket"]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                login = request(port, "/accounts/login/", **{"X-Forwarded-Proto": "https"})
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.2)
        assert login.status == 200
        assert login.getheader("Server") is None
        assert login.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
        policy = login.getheader("Content-Security-Policy")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "Secure" in login.getheader("Set-Cookie")

        plain = request(port, "/accounts/login/")
        assert plain.status == 301
        assert plain.getheader("Location") == f"https://{HOST}/accounts/login/"
        assert plain.getheader("Server") is None
        # A monitor probes the backend over plain HTTP: answered, not redirected.
        health = request(port, "/healthz")
        assert health.status == 503  # no workers here; what matters is that it answered
        assert health.getheader("Server") is None
    finally:
        server.terminate()
        server.wait(15)
