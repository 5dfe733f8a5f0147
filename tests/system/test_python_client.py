"""The Python client (clients/python) against a live `python manage.py up`, with the
original proactive and autonomous designs' own examples (seed 002's SDK, seed 000/004's
autonomy calls), minus their `await`: the client is synchronous."""

from __future__ import annotations

import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.system.conftest import REPO_ROOT, Service, free_port, wait_for
from tests.system.test_cluster import healthz, up_env

gradent_client = pytest.importorskip(
    "gradent_client", reason="the client is not installed: pip install -e ./clients/python"
)
from gradent_client import (  # noqa: E402
    AuthenticationError,
    Client,
    NotFound,
    ProactiveMonitor,
    Scheduler,
    TriggerManager,
    ValidationError,
    WebhookManager,
)

pytestmark = pytest.mark.system

ADMIN = "client-admin"
PASSWORD = "Pw-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    """One `up` for the module, on a data directory of its own."""
    tmp = tmp_path_factory.mktemp("client")
    port = free_port()
    log_path = tmp / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(port)],
            cwd=REPO_ROOT,
            env=up_env(tmp / "data", DJANGO_SUPERUSER_USERNAME=ADMIN, DJANGO_SUPERUSER_PASSWORD=PASSWORD),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    up = Service("up", process, log_path)

    def healthy():
        assert up.alive(), f"`up` exited: {Path(log_path).read_text()[-3000:]}"
        report = healthz(port)
        return report if report and report["ok"] else None

    try:
        wait_for(healthy, timeout=90, interval=0.25, what="/healthz to answer 200")
        yield f"http://127.0.0.1:{port}"
    finally:
        up.stop(timeout=20)


@pytest.fixture(scope="module")
def admin(server) -> Client:
    """Logged in with a username and password: the client holds a JWT pair."""
    return Client(server, username=ADMIN, password=PASSWORD, timeout=15)


@pytest.fixture(scope="module")
def workspace_id(admin) -> int:
    (workspace,) = admin.workspaces.all()
    return workspace.id


def scripted_agent(client: Client, name: str, answer: str = "done") -> dict:
    return client.agents.create(
        name=name,
        provider="scripted",
        allowed_tools=["finish"],
        provider_settings={"steps": [{"tool": "finish", "args": {"answer": answer}}]},
    )


def test_seed_002_sdk_examples(admin, workspace_id):
    agent = scripted_agent(admin, "health-agent")

    # "Create a monitor"
    monitor_manager = ProactiveMonitor(admin)
    monitor = monitor_manager.create(
        name="System Health Check",
        agent_id=agent.id,
        workspace_id=workspace_id,
        condition="CPU usage > 80%",
        action="Investigate and optimize",
        check_interval=60,  # Check every minute
    )
    assert monitor.name == "System Health Check"
    assert monitor_manager.get(monitor.id).agent_id == agent.id
    assert [m.id for m in monitor_manager.list()] == [monitor.id]
    paused = monitor_manager.pause(monitor.id)
    assert paused["enabled"] is False

    # "Create a scheduled task"
    scheduler = Scheduler(admin)
    schedule = scheduler.create(
        name="Weekly Backup",
        workspace_id=workspace_id,
        agent_id=agent.id,
        task_description="Backup all databases",
        cron_expression="0 0 * * 0",  # Every Sunday at midnight
        timezone="UTC",
    )
    assert schedule.description
    next_fire = datetime.fromisoformat(schedule.next_fire_at.replace("Z", "+00:00")).astimezone(UTC)
    assert (next_fire.weekday(), next_fire.hour, next_fire.minute) == (6, 0, 0)  # a Sunday at midnight
    assert scheduler.pause(schedule.id).enabled is False

    # "Create a Trigger", then a webhook on it
    trigger = TriggerManager(admin).create(
        name="GitHub PR Trigger",
        workspace_id=workspace_id,
        trigger_type="github",
        config={"repository": "owner/repo", "event": "pull_request"},
        agent_id=agent.id,
        task_template="Review PR #{pr_number}: {pr_title}",
    )
    webhook_manager = WebhookManager(admin)
    webhook = webhook_manager.create(workspace_id=workspace_id, name="CI/CD Webhook", trigger_id=trigger.id)
    assert webhook.url_path and webhook.secret
    assert webhook.webhook_url.endswith(f"/api/hooks/{webhook.url_path}")
    renewed = webhook_manager.regenerate_secret(webhook.id)
    assert renewed.secret and renewed.secret != webhook.secret

    # "Fire a trigger": the agent runs and succeeds.
    fired = admin.triggers.fire(trigger.id, payload={"event": "deployment", "version": "v1.2.3"})
    run_id = fired["run"]["id"] if "run" in fired else fired["id"]
    run = admin.runs.wait(run_id, timeout=60)
    assert run.status == "succeeded", run
    assert run.payload == {"event": "deployment", "version": "v1.2.3"}

    # An access token the server no longer takes is refreshed with the refresh token.
    admin._access = "expired"
    assert admin.agents.get(agent.id).name == "health-agent"
    assert admin._access != "expired"


def test_tokens_runs_and_errors(server, admin):
    created = admin.tokens.create(name="client test")
    assert created.token.startswith("gdt_")
    client = Client(server, token=created.token, timeout=15)

    agent = scripted_agent(client, "greeter", answer="Hello, {{ input.name }}!")
    started = client.agents.run(agent.id, input={"name": "Ada"})
    assert started.status == "queued"
    run = client.runs.wait(started.id, timeout=60)
    assert (run.status, run.output) == ("succeeded", "Hello, Ada!")
    assert [r.id for r in client.agents.runs(agent.id)] == [run.id]

    with pytest.raises(NotFound) as missing:
        client.runs.get(10**9)
    assert missing.value.status == 404

    with pytest.raises(ValidationError) as bad:
        client.schedules.create(agent_id=agent.id, name="bad", cron_expression="61 * * * *")
    assert "cron_expression" in bad.value.field_errors

    reader = Client(server, token=admin.tokens.create(name="reader", scope="read").token, timeout=15)
    assert reader.agents.get(agent.id).name == "greeter"
    with pytest.raises(AuthenticationError) as refused:
        reader.agents.update(agent.id, name="renamed")
    assert refused.value.status == 403
    assert client.agents.get(agent.id).name == "greeter"

    with pytest.raises(AuthenticationError):
        Client(server, token="gdt_not-a-token").agents.all()


def test_autonomy_examples(admin, workspace_id):
    # Seed 000's configuration call.
    answer = admin.autonomous.configure(enabled=True, frequency="1hour")
    assert answer.status == "ok"
    config = admin.autonomous.config()
    assert (config.enabled, config.frequency) == (True, "1hour")

    # Seed 004's metrics and events.
    points = [{"metric_name": "cpu_usage", "value": 40 + i * 5} for i in range(10)]
    admin.autonomous.record_metrics(points)
    admin.autonomous.record_metric("memory_usage", 61.5, labels={"host": "web-1"})
    admin.autonomous.record_event("deployment", {"version": "v1.2.3"})
    with pytest.raises(ValidationError) as bad:
        admin.autonomous.record_metrics([{"metric_name": "cpu_usage", "value": "high"}])
    assert "metrics" in bad.value.field_errors

    status = admin.autonomous.status()
    assert (status.autonomous_mode, status.frequency, status.metrics) == (True, "1hour", 2)
    assert status.next_execution
    predictions = admin.autonomous.predictions(horizon_hours=6)
    assert predictions.horizon_hours == 6
    assert predictions.predictions.cpu_usage.latest == 85
    assert predictions.predictions.cpu_usage.points == 10
    assert admin.autonomous.goals(status="all").total_active_goals == status.active_goals
    with pytest.raises(ValidationError) as bad_horizon:
        admin.autonomous.predictions(horizon_hours=0)
    assert "horizon_hours" in bad_horizon.value.field_errors

    admin.autonomous.set_mode(False)
    assert admin.autonomous.config().enabled is False
    assert admin.autonomous.status().autonomous_mode is False
