from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.apps import check_plugins
from agents.executor import execute_run
from agents.services import start_run
from agents.tools import TOOLS, get_tool, tool_names
from agents.tools.base import ToolError
from agents.tools.builtin import HttpRequestTool
from tests.helpers import make_agent


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "hello": "world"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_registry_has_the_builtins():
    assert {"http_request", "remember", "recall", "finish"} <= set(tool_names())


def test_a_tools_input_serializer_is_its_json_schema():
    spec = get_tool("http_request").spec()
    assert spec["name"] == "http_request"
    params = spec["parameters"]
    assert params["required"] == ["url"]
    assert params["properties"]["url"] == {"type": "string", "format": "uri", "description": "http or https URL"}
    assert params["properties"]["method"]["enum"][:2] == ["GET", "POST"]
    assert params["properties"]["method"]["default"] == "GET"


def test_it_reports_a_tool_path_that_does_not_import(settings):
    settings.GRADENT_EXTRA_TOOLS = ["nowhere.tools.Missing"]
    TOOLS.clear()
    try:
        errors = check_plugins()
    finally:
        settings.GRADENT_EXTRA_TOOLS = []
        TOOLS.clear()
    assert [e.id for e in errors] == ["agents.E001"]
    assert "nowhere.tools.Missing" in errors[0].msg


def test_invalid_arguments_are_a_permanent_tool_error():
    with pytest.raises(ToolError) as caught:
        HttpRequestTool.validate({"url": "not a url"})
    assert caught.value.permanent and "url" in caught.value.message


@pytest.mark.django_db
def test_http_request_refuses_loopback_by_default(local_server):
    agent = make_agent(
        provider_settings={"steps": [{"tool": "http_request", "args": {"url": local_server + "/x"}}]},
        allowed_tools=["http_request"],
    )
    run = start_run(agent)
    execute_run(run.pk)
    step = run.steps.get()
    assert step.status == "error" and "refused" in step.error


@pytest.mark.django_db
def test_http_request_fetches_through_the_safe_client_when_allowed(local_server, allow_loopback):
    agent = make_agent(
        provider_settings={
            "steps": [{"id": "get", "tool": "http_request", "args": {"url": local_server + "/data"}}],
            "answer": "{{ steps.get.body.hello }} from {{ steps.get.body.path }}",
        },
        allowed_tools=["http_request"],
    )
    run = start_run(agent)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.reason
    assert run.output == "world from /data"
    assert run.steps.get().output["status"] == 200
