"""Monitors: probe + condition + the up/down state machine, with a local HTTP server."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from agents.models import Run
from proactive.models import Monitor
from proactive.services import monitor_check
from proactive.sources import MonitorSource
from tests.fakes.llm_servers import FakeOpenAI
from tests.helpers import auth, make_agent, make_user, token_for

pytestmark = pytest.mark.django_db


class PriceServer:
    """Serves {"price": <value>} with the status the test sets."""

    def __init__(self):
        self.price, self.status = 100, 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"price": outer.price}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/quote"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prices(allow_loopback):
    server = PriceServer()
    yield server
    server.close()


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_monitor(agent, url, **fields) -> Monitor:
    defaults = dict(
        name="AAPL",
        probe="http",
        probe_config={"url": url, "json_path": "price"},
        condition="value > 150 and status == 200",
        action="Send alert and analyze",
        check_interval=60,
    )
    return Monitor.objects.create(workspace=agent.workspace, agent=agent, **{**defaults, **fields})


def check(monitor, minutes):
    return monitor_check(monitor.pk, now=T0 + timedelta(minutes=minutes))


def monitor_runs(monitor):
    return list(Run.objects.filter(source_ref=f"monitor:{monitor.pk}").order_by("id"))


def test_it_runs_the_agent_on_a_flip_not_on_every_check(prices):
    monitor = make_monitor(make_agent(), prices.url, trigger_after=2)
    first = check(monitor, 0)
    assert (first.result, first.state_after, first.flipped) == (False, "clear", True)
    prices.price = 151
    assert check(monitor, 1).state_after == "clear"  # one true check is not enough
    flip = check(monitor, 2)
    assert (flip.state_after, flip.flipped) == ("triggered", True)
    check(monitor, 3)
    check(monitor, 4)
    runs = monitor_runs(monitor)
    assert len(runs) == 1
    assert runs[0].input["task"] == "Send alert and analyze"
    assert runs[0].payload["values"]["value"] == 151
    assert flip.run_id == runs[0].pk


def test_it_recovers_and_respects_cooldown_and_reminders(prices):
    monitor = make_monitor(make_agent(), prices.url, cooldown_seconds=600, reminder_seconds=300, run_on_recovery=True)
    prices.price = 200
    check(monitor, 0)  # unknown -> triggered: run 1
    check(monitor, 2)  # still triggered, reminder not due
    check(monitor, 6)  # reminder due (5 min): run 2
    prices.price = 100
    check(monitor, 7)  # recovery: wants a run, but within the 10 min cooldown
    prices.price = 200
    check(monitor, 8)  # triggered again inside cooldown: no run
    check(monitor, 20)  # reminder: run 3
    assert len(monitor_runs(monitor)) == 3
    monitor.refresh_from_db()
    assert monitor.state == "triggered"


def test_an_unreachable_site_makes_status_conditions_true(prices):
    agent = make_agent()
    monitor = make_monitor(
        agent, "http://127.0.0.1:9/", condition="status != 200", probe_config={"url": "http://127.0.0.1:9/"}
    )
    result = check(monitor, 0)
    assert result.result is True and result.state_after == "triggered"
    assert result.values["ok"] is False


def test_a_failed_check_is_recorded_and_changes_nothing(prices):
    monitor = make_monitor(make_agent(), prices.url, condition="value > 150")
    prices.price = "n/a"
    bad = check(monitor, 0)
    assert bad.result is None and bad.error
    monitor.refresh_from_db()
    assert monitor.state == "unknown"


def test_history_is_bounded(prices):
    monitor = make_monitor(make_agent(), prices.url, history_limit=5)
    for minute in range(8):
        check(monitor, minute)
    assert monitor.checks.count() == 5


def test_the_source_sends_each_due_check_once(prices, run_inline):
    monitor = make_monitor(make_agent(), prices.url)
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=T0)
    with run_inline(execute=True):
        assert MonitorSource().tick(T0 + timedelta(seconds=1)).done == 1
    assert MonitorSource().tick(T0 + timedelta(seconds=2)).done == 0
    monitor.refresh_from_db()
    assert monitor.checks.count() == 1
    assert monitor.next_check_at == T0 + timedelta(seconds=61)


class TestMonitorAPI:
    @pytest.fixture
    def client(self):
        self.user = make_user()
        c = APIClient()
        c.credentials(**auth(token_for(self.user)))
        return c

    def test_it_accepts_the_original_example_as_an_llm_judged_monitor(self, client, allow_loopback):
        with FakeOpenAI() as server:
            agent = make_agent(self.user, provider="openai", model="m", provider_settings={"base_url": server.base_url})
            body = {
                "name": "Stock Price Monitor",
                "agent_id": agent.pk,
                "workspace_id": agent.workspace_id,
                "condition": "AAPL stock price > 150",
                "action": "Send alert and analyze",
                "check_interval": 300,
            }
            response = client.post("/api/proactive/monitors", body, format="json")
            assert response.status_code == 201, response.content
            assert response.json()["probe"] == "llm"
            server.enqueue_text('{"answer": true, "value": 187.5, "reason": "it is"}')
            checked = client.post(f"/api/proactive/monitors/{response.json()['id']}/check")
        assert checked.status_code == 200
        assert checked.json()["state_after"] == "triggered"
        history = client.get(f"/api/proactive/monitors/{response.json()['id']}/history").json()["results"]
        assert len(history) == 1 and history[0]["values"]["value"] == 187.5

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"probe": "http", "probe_config": {"url": "http://x.test"}, "condition": "value >"}, "condition"),
            ({"probe": "http", "probe_config": {"url": "http://x.test"}, "condition": "valu > 1"}, "condition"),
            (
                {"probe": "http", "probe_config": {"url": "http://x.test"}, "condition": r"matches(body, '(a)\\1')"},
                "condition",
            ),
            ({"probe": "http", "probe_config": {"url": "not a url"}, "condition": "status == 200"}, "probe_config"),
            ({"probe": "telepathy", "condition": "x"}, "probe"),
            (
                {
                    "probe": "http",
                    "probe_config": {"url": "http://x.test"},
                    "condition": "status == 200",
                    "check_interval": 5,
                },
                "check_interval",
            ),
        ],
    )
    def test_it_rejects_bad_monitors_naming_the_field(self, client, body, field):
        agent = make_agent(self.user)
        response = client.post("/api/proactive/monitors", {"name": "m", "agent_id": agent.pk, **body}, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()

    def test_pause_resume_and_isolation(self, client, prices):
        monitor = make_monitor(make_agent(self.user), prices.url)
        assert client.post(f"/api/proactive/monitors/{monitor.pk}/pause").json()["enabled"] is False
        assert client.post(f"/api/proactive/monitors/{monitor.pk}/resume").json()["enabled"] is True
        theirs = make_monitor(make_agent(make_user("eve")), prices.url)
        for method, url in [
            ("get", f"/api/proactive/monitors/{theirs.pk}"),
            ("patch", f"/api/proactive/monitors/{theirs.pk}"),
            ("delete", f"/api/proactive/monitors/{theirs.pk}"),
            ("post", f"/api/proactive/monitors/{theirs.pk}/check"),
            ("get", f"/api/proactive/monitors/{theirs.pk}/history"),
        ]:
            assert getattr(client, method)(url).status_code == 404, (method, url)
        assert theirs.checks.count() == 0


def test_an_llm_monitor_keeps_its_question_in_step_and_its_judge_in_its_workspace():
    user = make_user("quinn")
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent = make_agent(user)
    created = client.post(
        "/api/proactive/monitors", {"name": "m", "agent_id": agent.pk, "condition": "Is it raining?"}, format="json"
    )
    assert created.status_code == 201, created.content
    monitor_id = created.json()["id"]
    client.patch(f"/api/proactive/monitors/{monitor_id}", {"condition": "Is it snowing?"}, format="json")
    assert Monitor.objects.get(pk=monitor_id).probe_config["question"] == "Is it snowing?"
    stranger = make_agent(make_user("ursula"))
    response = client.patch(
        f"/api/proactive/monitors/{monitor_id}", {"probe_config": {"agent_id": stranger.pk}}, format="json"
    )
    assert response.status_code == 400 and "probe_config" in response.json()


def test_an_llm_monitor_naming_another_workspace_s_agent_is_refused_by_the_api_with_the_field_named():
    user = make_user("rita")
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent = make_agent(user)
    stranger = make_agent(make_user("sam"))
    body = {"name": "m", "agent_id": agent.pk, "condition": "Is it raining?", "probe_config": {"agent_id": stranger.pk}}
    response = client.post("/api/proactive/monitors", body, format="json")
    assert response.status_code == 400
    assert response.json()["probe_config"] == {"agent_id": ["No such agent in this workspace."]}
    assert not Monitor.objects.exists()


def test_an_llm_monitor_whose_agent_has_too_small_a_budget_is_refused_by_the_api():
    user = make_user("tess")
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent = make_agent(user, max_tokens=100)
    body = {"name": "m", "agent_id": agent.pk, "condition": "Is it raining?"}
    response = client.post("/api/proactive/monitors", body, format="json")
    assert response.status_code == 400
    assert "token budget (100)" in response.json()["probe_config"]["agent_id"][0]
