from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework import serializers

from proactive.conditions import compile_condition
from proactive.probes import (
    PROBES,
    UnknownProbeError,
    get_probe_class,
    probe_choices,
    probe_paths,
)
from proactive.probes.base import Probe, ProbeContext, ProbeError, ProbeResult
from proactive.probes.callable import CallableProbe
from proactive.probes.http import HttpProbe
from proactive.probes.llm import LLMProbe, parse_answer
from proactive.probes.metric import MetricProbe, aggregate, read_series
from tests.fakes.llm_servers import FakeOpenAI
from tests.helpers import make_agent, make_user

CONTEXT = ProbeContext(workspace_id=1)


# --------------------------------------------------------------------------- a real HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        if self.path == "/quote":
            body = {"data": {"price": 151.2, "text_price": "99.50", "name": "AAPL"}, "items": [{"value": 7}]}
            self._send(200, json.dumps(body).encode())
        elif self.path == "/page":
            self._send(200, b"<p>Price: 42.5 USD</p><p>status: all good</p>", "text/html; charset=utf-8")
        elif self.path == "/broken":
            self._send(500, b'{"error": "boom"}')
        elif self.path == "/slow":
            time.sleep(0.2)
            self._send(200, b"{}")
        elif self.path == "/big":
            self._send(200, b"x" * (100 * 1024), "text/plain")
        elif self.path == "/echo":
            length = int(self.headers.get("Content-Length") or 0)
            received = self.rfile.read(length).decode()
            reply = {"method": self.command, "body": received, "token": self.headers.get("X-Token")}
            self._send(201, json.dumps(reply).encode())
        else:
            self._send(404, b"not found", "text/plain")

    do_GET = do_HEAD = do_POST = _route

    def log_message(self, format, *args):
        return


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (the timeout test) breaks the pipe: expected


@pytest.fixture(scope="module")
def site():
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback(settings):
    settings.GRADENT_ALLOW_PRIVATE_URLS_PROBES = ["127.0.0.0/8"]
    settings.GRADENT_ALLOW_PRIVATE_URLS_MODELS = ["127.0.0.0/8"]  # the llm probe asks a model
    return settings


def http_check(**config) -> ProbeResult:
    return HttpProbe(config).check(context=CONTEXT)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- http


def test_http_probe_reports_status_latency_and_json(site, loopback):
    result = http_check(url=f"{site}/quote")
    values = result.values
    assert values["status"] == 200
    assert values["ok"] is True
    assert isinstance(values["latency_ms"], int) and 0 <= values["latency_ms"] < 5000
    assert values["json"]["data"]["name"] == "AAPL"
    assert '"AAPL"' in values["body"]
    assert values["value"] is None
    assert values["error"] is None
    assert result.summary.startswith("200 in ")
    assert set(values) == set(HttpProbe.names)


def test_http_probe_measures_latency(site, loopback):
    assert http_check(url=f"{site}/slow").values["latency_ms"] >= 200


def test_http_probe_extracts_a_json_path(site, loopback):
    result = http_check(url=f"{site}/quote", json_path="data.price")
    assert result.values["value"] == 151.2
    assert result.summary.endswith("value=151.2")
    assert compile_condition("value > 150 and status == 200").evaluate(result.values) is True


def test_http_probe_json_path_walks_lists_and_converts_numeric_strings(site, loopback):
    assert http_check(url=f"{site}/quote", json_path="items.0.value").values["value"] == 7
    assert http_check(url=f"{site}/quote", json_path="data.text_price").values["value"] == 99.5
    assert http_check(url=f"{site}/quote", json_path="data.name").values["value"] == "AAPL"


def test_http_probe_missing_json_path_gives_no_value(site, loopback):
    result = http_check(url=f"{site}/quote", json_path="data.volume")
    assert result.values["value"] is None
    assert "no value (json_path data.volume not found)" in result.summary
    assert http_check(url=f"{site}/page", json_path="data.price").values["value"] is None  # not JSON


def test_http_probe_extracts_with_a_regex(site, loopback):
    result = http_check(url=f"{site}/page", regex=r"Price: ([0-9.]+)")
    assert result.values["value"] == 42.5
    assert result.values["json"] is None
    assert http_check(url=f"{site}/page", regex=r"all \w+").values["value"] == "all good"  # whole match
    assert http_check(url=f"{site}/page", regex=r"missing (\d+)").values["value"] is None


def test_http_probe_regex_runs_on_re2_so_nested_repetition_cannot_backtrack(site, loopback):
    # (x+)+y on 100 kB of "x" never ends with Python's re; RE2 searches in linear time.
    started = time.monotonic()
    result = http_check(url=f"{site}/big", regex=r"(x+)+y")
    assert result.values["value"] is None
    assert time.monotonic() - started < 5


def test_http_probe_reports_error_statuses_as_results(site, loopback):
    result = http_check(url=f"{site}/broken")
    assert result.values["status"] == 500
    assert result.values["ok"] is False
    assert result.values["json"] == {"error": "boom"}
    assert compile_condition("status != 200").evaluate(result.values) is True


def test_http_probe_caps_the_body(site, loopback):
    body = http_check(url=f"{site}/big").values["body"]
    assert len(body) == 64 * 1024


def test_http_probe_sends_method_headers_and_body(site, loopback):
    result = http_check(url=f"{site}/echo", method="post", headers={"X-Token": "t1"}, body="hello")
    assert result.values["status"] == 201
    assert result.values["json"] == {"method": "POST", "body": "hello", "token": "t1"}
    head = http_check(url=f"{site}/quote", method="HEAD")
    assert head.values["status"] == 200
    assert head.values["body"] == ""


def test_unreachable_site_is_a_result_with_ok_false(loopback):
    result = http_check(url=f"http://127.0.0.1:{_closed_port()}/", timeout=5)
    values = result.values
    assert values["status"] is None
    assert values["ok"] is False
    assert values["value"] is None
    assert values["error"].startswith("connection failed")
    assert isinstance(values["latency_ms"], int)
    assert result.summary.startswith("no response after")
    assert set(values) == set(HttpProbe.names)
    # "the site is down" conditions flip; the others can be guarded
    assert compile_condition("status != 200").evaluate(values) is True
    assert compile_condition("not ok").evaluate(values) is True
    assert compile_condition("ok and value > 1").evaluate(values) is False


def test_a_timeout_is_a_result(site, loopback):
    result = http_check(url=f"{site}/slow", timeout=0.1)
    assert result.values["ok"] is False
    assert result.values["error"] == "timed out after 0.1s"


def test_loopback_is_refused_unless_allowed(site, settings):
    settings.GRADENT_ALLOW_PRIVATE_URLS_PROBES = []
    with pytest.raises(ProbeError, match="refused by the outbound URL policy"):
        http_check(url=f"{site}/quote")


def test_a_body_over_the_download_cap_is_a_probe_error(site, loopback, monkeypatch):
    monkeypatch.setattr("proactive.probes.http.MAX_RESPONSE_BYTES", 1024)
    with pytest.raises(ProbeError, match="response larger than"):
        http_check(url=f"{site}/big")


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        ({"url": "not a url"}, "url", "valid URL"),
        ({"url": "ftp://example.com/x"}, "url", "http and https"),
        ({}, "url", "required"),
        ({"url": "https://example.com", "timeout": 61}, "timeout", "60"),
        ({"url": "https://example.com", "timeout": 0}, "timeout", ""),
        ({"url": "https://example.com", "method": "DELETE"}, "method", "GET, HEAD, POST"),
        ({"url": "https://example.com", "headers": {"Bad Name": "x"}}, "headers", "header name"),
        ({"url": "https://example.com", "headers": {"X": "a\r\nB: c"}}, "headers", "line break"),
        ({"url": "https://example.com", "regex": "("}, "regex", "Invalid regular expression"),
        ({"url": "https://example.com", "regex": r"(a)\1"}, "regex", "backreferences such as"),
        ({"url": "https://example.com", "regex": "a(?=b)"}, "regex", "lookahead"),
        ({"url": "https://example.com", "regex": "a", "json_path": "b"}, "regex", "not both"),
        ({"url": "https://example.com", "json_path": "a..b"}, "json_path", "dotted path"),
        ({"url": "https://example.com", "body": "x"}, "body", "POST"),
        ({"url": "https://example.com", "jsonpath": "a"}, "jsonpath", "unknown setting"),
    ],
)
def test_http_config_errors_name_the_field(config, field, fragment):
    with pytest.raises(serializers.ValidationError) as info:
        HttpProbe.validate_config(config)
    assert field in info.value.detail
    assert fragment in str(info.value.detail[field])
    with pytest.raises(ProbeError, match=f"invalid http config: {field}"):
        HttpProbe(config)


def test_http_config_defaults():
    config = HttpProbe.validate_config({"url": "https://example.com/x"})
    assert config == {
        "url": "https://example.com/x",
        "method": "GET",
        "headers": {},
        "body": "",
        "timeout": 10,
        "json_path": "",
        "regex": "",
    }
    serializer = HttpProbe.ConfigSerializer(data={"url": "https://example.com", "timeout": 99})
    assert not serializer.is_valid()
    assert "timeout" in serializer.errors


# --------------------------------------------------------------------------- metric


@pytest.mark.django_db
def test_metric_probe_reads_recorded_points_and_an_empty_series_cleanly():
    from autonomy.models import MetricPoint
    from tests.helpers import make_user
    from workspaces.models import personal_workspace_for

    workspace = personal_workspace_for(make_user("metrics"))
    now = datetime.now(UTC)
    context = ProbeContext(workspace_id=workspace.pk, now=now)
    probe = MetricProbe({"name": "orders", "aggregate": "avg", "window_seconds": 600})
    empty = probe.check(context=context)
    assert empty.values == {"value": None, "count": 0, "latest_at": None}
    assert empty.summary == "orders: no points in the last 10 min"
    assert compile_condition("count > 0 and value < 10", names=MetricProbe.names).evaluate(empty.values) is False
    for minutes, value in ((20, 100.0), (8, 4.0), (2, 8.0)):  # the first is outside the window
        MetricPoint.objects.create(workspace=workspace, name="orders", value=value, at=now - timedelta(minutes=minutes))
    MetricPoint.objects.create(workspace=personal_workspace_for(make_user("other")), name="orders", value=999.0, at=now)
    result = probe.check(context=context)
    assert (result.values["value"], result.values["count"]) == (6.0, 2)
    assert read_series(workspace.pk, "orders", now - timedelta(minutes=10))


def test_metric_probe_aggregates_the_window(monkeypatch):
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    calls = []

    def fake_series(workspace_id, name, since):
        calls.append((workspace_id, name, since))
        return [(now - timedelta(minutes=m), v) for m, v in ((50, 1.0), (30, 5.0), (10, 3.0))]

    monkeypatch.setattr("proactive.probes.metric.read_series", fake_series)
    context = ProbeContext(workspace_id=7, now=now)
    expected = {"latest": 3.0, "avg": 3.0, "min": 1.0, "max": 5.0, "sum": 9.0, "count": 3}
    for kind, value in expected.items():
        result = MetricProbe({"name": "queue", "aggregate": kind, "window_seconds": 3600}).check(context=context)
        assert result.values["value"] == value, kind
        assert result.values["count"] == 3
        assert result.values["latest_at"] == (now - timedelta(minutes=10)).isoformat()
    assert calls[0] == (7, "queue", now - timedelta(hours=1))
    assert (
        "queue max=5 over 3 point(s) in 1 h"
        in MetricProbe({"name": "queue", "aggregate": "max", "window_seconds": 3600}).check(context=context).summary
    )


def test_aggregate_of_nothing():
    assert aggregate("count", []) == 0
    assert aggregate("avg", []) is None


def test_metric_config_errors_name_the_field():
    with pytest.raises(serializers.ValidationError) as info:
        MetricProbe.validate_config({"name": "x", "aggregate": "median"})
    assert "aggregate" in info.value.detail
    with pytest.raises(serializers.ValidationError) as info:
        MetricProbe.validate_config({"name": "x", "window_seconds": 0})
    assert "window_seconds" in info.value.detail
    assert MetricProbe.validate_config({"name": "x"}) == {"name": "x", "aggregate": "latest", "window_seconds": 3600}


# --------------------------------------------------------------------------- callable

SEEN: list = []
REGISTERED = ["probe_returning_values", "probe_returning_a_number", "probe_raising", "probe_returning_junk"]


@pytest.fixture(autouse=True)
def _registered_callables(settings):
    # The operator's list (GRADENT_CALLABLE_PROBES): this module's probes and two broken paths.
    paths = [f"{__name__}.{name}" for name in REGISTERED]
    settings.GRADENT_CALLABLE_PROBES = [*paths, "no_such_module.fn", f"{__name__}.no_such_function"]


def probe_returning_values(config, context):
    SEEN.append((config, context))
    return {"value": 12, "queue": "jobs"}


def probe_returning_a_number(config, context):
    return 4.5


def probe_raising(config, context):
    raise RuntimeError("database is down")


def probe_returning_junk(config, context):
    return ["not", "a", "dict"]


def test_callable_probe_returns_the_functions_values():
    SEEN.clear()
    config = {"path": f"{__name__}.probe_returning_values", "options": {"queue": "jobs"}}
    result = CallableProbe(config).check(context=CONTEXT)
    assert result.values == {"value": 12, "queue": "jobs"}
    assert "value=12" in result.summary
    passed_config, passed_context = SEEN[0]
    assert passed_config["options"] == {"queue": "jobs"}
    assert passed_context is CONTEXT


def test_callable_probe_wraps_a_number():
    result = CallableProbe({"path": f"{__name__}.probe_returning_a_number"}).check(context=CONTEXT)
    assert result.values == {"value": 4.5}


def test_callable_probe_errors_are_probe_errors():
    with pytest.raises(ProbeError, match="raised RuntimeError: database is down"):
        CallableProbe({"path": f"{__name__}.probe_raising"}).check(context=CONTEXT)
    with pytest.raises(ProbeError, match="cannot import"):
        CallableProbe({"path": "no_such_module.fn"}).check(context=CONTEXT)
    with pytest.raises(ProbeError, match="cannot import"):
        CallableProbe({"path": f"{__name__}.no_such_function"}).check(context=CONTEXT)
    with pytest.raises(ProbeError, match="return a dict of values or a number"):
        CallableProbe({"path": f"{__name__}.probe_returning_junk"}).check(context=CONTEXT)


def test_callable_config_errors_name_the_field():
    with pytest.raises(serializers.ValidationError) as info:
        CallableProbe.validate_config({"path": "os.system; rm"})
    assert "path" in info.value.detail
    with pytest.raises(serializers.ValidationError) as info:
        CallableProbe.validate_config({"path": "x.__class__"})
    assert "path" in info.value.detail


def test_callable_names_are_not_known_in_advance():
    assert CallableProbe.names is None
    assert compile_condition("queue == 'jobs'", names=CallableProbe.names).names() == {"queue"}


# --------------------------------------------------------------------------- llm


def _llm_agent(server, **fields):
    settings = {"base_url": server.base_url, **fields.pop("provider_settings", {})}
    return make_agent(provider="openai", model="judge-1", provider_settings=settings, api_key="sk-test", **fields)


def _llm_check(agent, question="AAPL stock price > 150"):
    probe = LLMProbe({"agent_id": agent.pk, "question": question})
    return probe.check(context=ProbeContext(workspace_id=agent.workspace_id))


@pytest.mark.django_db
def test_llm_probe_parses_a_true_answer(loopback):
    with FakeOpenAI() as server:
        agent = _llm_agent(server)
        server.enqueue_text(
            '{"answer": true, "value": 151.3, "reason": "AAPL trades at 151.3"}', prompt_tokens=50, completion_tokens=9
        )
        result = _llm_check(agent)
        request = server.requests[0]
    assert result.values == {"answer": True, "value": 151.3, "reason": "AAPL trades at 151.3"}
    assert result.summary == "answer=true, value=151.3: AAPL trades at 151.3 (59 tokens)"
    # one call, no tools, the question in the user message, the answer format in the system prompt
    assert len(server.requests) == 1
    assert request.json["model"] == "judge-1"
    assert request.tool_names == []
    assert "AAPL stock price > 150" in request.messages[-1]["content"]
    assert '"answer"' in request.messages[0]["content"]
    assert request.headers["authorization"] == "Bearer sk-test"


@pytest.mark.django_db
def test_llm_probe_parses_a_false_answer_in_a_fence(loopback):
    with FakeOpenAI() as server:
        agent = _llm_agent(server)
        server.enqueue_text('Sure!\n```json\n{"answer": false, "value": null, "reason": "below"}\n```')
        result = _llm_check(agent)
    assert result.values == {"answer": False, "value": None, "reason": "below"}


@pytest.mark.django_db
def test_llm_probe_refuses_a_garbage_answer(loopback):
    with FakeOpenAI() as server:
        agent = _llm_agent(server)
        server.enqueue_text("I think it is probably above 150.")
        with pytest.raises(ProbeError, match="did not answer with the JSON object"):
            _llm_check(agent)
        server.enqueue_text('{"answer": "maybe"}')
        with pytest.raises(ProbeError, match="not true or false"):
            _llm_check(agent)


@pytest.mark.django_db
def test_llm_probe_caps_the_call_through_the_provider_settings(loopback):
    with FakeOpenAI() as server:
        agent = _llm_agent(server, provider_settings={"max_tokens": 50_000, "timeout": 600})
        server.enqueue_text('{"answer": true, "value": 1, "reason": "r"}')
        _llm_check(agent)
        assert server.requests[0].json["max_tokens"] == 1024


@pytest.mark.django_db
def test_llm_probe_reads_the_key_from_the_environment(loopback, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-env")
    with FakeOpenAI() as server:
        agent = _llm_agent(server, api_key_env="JUDGE_KEY")
        server.enqueue_text('{"answer": true, "value": null, "reason": "r"}')
        _llm_check(agent)
        assert server.requests[0].headers["authorization"] == "Bearer sk-env"
        monkeypatch.delenv("JUDGE_KEY")
        with pytest.raises(ProbeError, match="JUDGE_KEY"):
            _llm_check(agent)


@pytest.mark.django_db
def test_llm_probe_provider_errors_are_probe_errors(loopback):
    with FakeOpenAI() as server:
        agent = _llm_agent(server)
        server.enqueue_error(500, "upstream exploded")
        with pytest.raises(ProbeError, match="upstream exploded"):
            _llm_check(agent)


@pytest.mark.django_db
def test_llm_probe_refuses_a_small_budget_and_other_workspaces(loopback):
    with FakeOpenAI() as server:
        agent = _llm_agent(server, max_tokens=100)
        with pytest.raises(ProbeError, match="token budget of 100"):
            _llm_check(agent)
        other = make_agent(make_user("bob"))
        probe = LLMProbe({"agent_id": agent.pk, "question": "q"})
        with pytest.raises(ProbeError, match="does not exist in this workspace"):
            probe.check(context=ProbeContext(workspace_id=other.workspace_id))
        assert server.requests == []


@pytest.mark.django_db
def test_llm_config_checks_the_agent_when_given_a_workspace():
    agent = make_agent()
    small = make_agent(workspace=agent.workspace, name="Small", max_tokens=10)
    ok = LLMProbe.ConfigSerializer(data={"agent_id": agent.pk, "question": "q"}, context={"workspace_id": 999})
    assert not ok.is_valid()
    assert "agent_id" in ok.errors
    checked = LLMProbe.ConfigSerializer(
        data={"agent_id": small.pk, "question": "q"}, context={"workspace_id": agent.workspace_id}
    )
    assert not checked.is_valid()
    assert "token budget" in str(checked.errors["agent_id"])
    with pytest.raises(serializers.ValidationError) as info:
        LLMProbe.validate_config({"agent_id": agent.pk})
    assert "question" in info.value.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"answer": true, "value": 3, "reason": "x"}', {"answer": True, "value": 3, "reason": "x"}),
        ('{"answer": "yes", "value": "1,234.5"}', {"answer": True, "value": 1234.5, "reason": ""}),
        (
            'The answer: {"answer": false, "value": "n/a", "reason": "?"} ok',
            {"answer": False, "value": None, "reason": "?"},
        ),
        ('{"other": 1} then {"answer": false}', {"answer": False, "value": None, "reason": ""}),
    ],
)
def test_parse_answer(text, expected):
    assert parse_answer(text) == expected


@pytest.mark.parametrize("text", ["", "true", "{}", '{"answer": 1}', "[true]", '{"answer": tru'])
def test_parse_answer_refuses_garbage(text):
    with pytest.raises(ProbeError):
        parse_answer(text)


# --------------------------------------------------------------------------- registry


class NoopProbe(Probe):
    kind = "noop"
    label = "Does nothing"
    names = ("value",)

    def check(self, *, context):
        return ProbeResult(values={"value": 1}, summary="noop")


def test_registry_resolves_the_builtins():
    assert get_probe_class("http") is HttpProbe
    assert get_probe_class("metric") is MetricProbe
    assert get_probe_class("callable") is CallableProbe
    assert get_probe_class("llm") is LLMProbe
    assert [kind for kind, _label in probe_choices()] == list(PROBES) == ["http", "metric", "callable", "llm"]
    for kind in PROBES:
        assert get_probe_class(kind).kind == kind


def test_unknown_kind_is_a_key_and_value_error():
    with pytest.raises(UnknownProbeError) as info:
        get_probe_class("smoke-signal")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value) == "unknown probe kind 'smoke-signal'; choose one of: http, metric, callable, llm"


def test_extra_probes_come_from_settings(settings):
    settings.GRADENT_EXTRA_PROBES = [f"{__name__}.NoopProbe"]
    assert get_probe_class("noop") is NoopProbe
    assert probe_paths()[-2:] == ["proactive.probes.llm.LLMProbe", f"{__name__}.NoopProbe"]
    assert ("noop", "Does nothing") in probe_choices()
    assert PROBES.check() == []


def test_probe_path_errors_for_a_system_check(settings):
    assert PROBES.check() == []
    settings.GRADENT_EXTRA_PROBES = ["nowhere.Probe", f"{__name__}.probe_raising", f"{__name__}.NoopProbe"]
    errors = [error.msg for error in PROBES.check()]
    assert len(errors) == 2
    assert errors[0].startswith("probe 'nowhere.Probe' cannot be imported")
    assert "is not a subclass" in errors[1]
