"""The built-in collector and the record_metric / record_event tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.executor import execute_run
from agents.models import Run
from agents.services import start_run
from autonomy import collector, services
from autonomy.models import Event, MetricPoint
from tests.helpers import make_agent, make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_each_cycle_records_host_and_run_readings():
    workspace = personal_workspace_for(make_user())
    agent = make_agent(workspace=workspace)
    Run.objects.create(workspace=workspace, agent=agent, status="failed", finished_at=T0 - timedelta(minutes=5))
    Run.objects.create(workspace=workspace, agent=agent, status="succeeded", finished_at=T0 - timedelta(minutes=9))
    Run.objects.create(workspace=workspace, agent=agent, status="queued")
    summary = services.run_cycle(workspace, now=T0)
    names = set(MetricPoint.objects.filter(workspace=workspace, at=T0).values_list("name", flat=True))
    assert {"host_disk_used_percent", "queue_depth", "run_failure_rate"} <= names
    assert summary["collected"]["run_failure_rate"] == 50.0 and summary["collected"]["queue_depth"] == 1.0
    assert 0 <= summary["collected"]["host_disk_used_percent"] <= 100


def test_the_collector_can_be_switched_off(settings):
    settings.GRADENT_AUTONOMY_HOST_METRICS = False
    workspace = personal_workspace_for(make_user())
    services.run_cycle(workspace, now=T0)
    assert not MetricPoint.objects.exists()


def test_memory_reads_proc_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  1000 kB\nMemFree: 100 kB\nMemAvailable:  250 kB\n")
    assert collector.memory_used_percent(str(meminfo)) == 75.0
    assert collector.memory_used_percent(str(tmp_path / "missing")) is None


def test_agents_record_metrics_and_events_through_tools():
    agent = make_agent(
        allowed_tools=["record_metric", "record_event"],
        provider_settings={
            "steps": [
                {"tool": "record_metric", "args": {"metric_name": "orders", "value": 12}},
                {"tool": "record_event", "args": {"event_type": "deploy", "metadata": {"v": "1.2"}}},
            ]
        },
    )
    run = start_run(agent)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.reason
    point = MetricPoint.objects.get(name="orders")
    assert (point.value, point.workspace_id, point.labels["run"]) == (12.0, agent.workspace_id, run.pk)
    assert Event.objects.get().metadata == {"v": "1.2"}
