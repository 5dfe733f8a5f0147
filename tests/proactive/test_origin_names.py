"""Seed 002's clients work unchanged: its field names are answered and accepted (issue 12.5),
and a field the API does not know is a 400 naming it instead of a silent no-op."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Run, RunSource
from proactive.models import Monitor, Schedule, Trigger
from tests.helpers import auth, make_agent, make_user, token_for


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def client(user):
    c = APIClient()
    c.credentials(**auth(token_for(user)))
    return c


@pytest.fixture
def agent(user):
    return make_agent(user)


def monitor_body(agent) -> dict:
    # Seed 002's "Create a monitor" request, with integer ids.
    return {
        "name": "API Response Time Monitor",
        "agent_id": str(agent.pk),  # numeric strings are accepted for ids
        "workspace_id": str(agent.workspace_id),
        "condition": "API response time > 500ms",
        "action": "Investigate slow endpoints",
        "check_interval": 300,
    }


def schedule_body(agent) -> dict:
    return {
        "name": "Weekly Backup",
        "workspace_id": agent.workspace_id,
        "agent_id": agent.pk,
        "task_description": "Backup all databases",
        "cron_expression": "0 0 * * 0",
        "timezone": "UTC",
    }


def trigger_body(agent) -> dict:
    return {
        "name": "Webhook Trigger",
        "workspace_id": agent.workspace_id,
        "trigger_type": "webhook",
        "config": {"url": "https://example.com/hook"},
        "agent_id": agent.pk,
        "task_template": "Process: {{ event }}",
        "is_active": True,
    }


@pytest.mark.django_db
class TestMonitor:
    def test_it_answers_with_the_original_names(self, client, agent):
        created = client.post("/api/proactive/monitors", monitor_body(agent), format="json")
        assert created.status_code == 201, created.content
        data = created.json()
        assert data["is_active"] is True and data["enabled"] is True
        assert data["last_check"] is None and data["last_triggered"] is None and data["trigger_count"] == 0

        monitor = Monitor.objects.get(pk=data["id"])
        now = timezone.now()
        Monitor.objects.filter(pk=monitor.pk).update(last_checked_at=now, last_run_at=now - timedelta(minutes=1))
        for _ in range(2):
            Run.objects.create(
                workspace=agent.workspace, agent=agent, source=RunSource.MONITOR, source_ref=f"monitor:{monitor.pk}"
            )
        Run.objects.create(workspace=agent.workspace, agent=agent, source=RunSource.MONITOR, source_ref="monitor:999")
        for answer in (
            client.get(f"/api/proactive/monitors/{monitor.pk}").json(),
            client.get("/api/proactive/monitors").json()["results"][0],
        ):
            assert answer["last_check"] == answer["last_checked_at"] is not None
            assert answer["last_triggered"] == answer["last_run_at"] is not None
            assert answer["trigger_count"] == 2

    def test_is_active_false_pauses_it_on_create_and_on_update(self, client, agent):
        created = client.post("/api/proactive/monitors", {**monitor_body(agent), "is_active": False}, format="json")
        assert created.status_code == 201, created.content
        assert created.json()["is_active"] is False
        assert Monitor.objects.get(pk=created.json()["id"]).enabled is False

        pk = created.json()["id"]
        assert client.patch(f"/api/proactive/monitors/{pk}", {"is_active": True}, format="json").status_code == 200
        assert Monitor.objects.get(pk=pk).enabled is True
        answer = client.patch(f"/api/proactive/monitors/{pk}", {"is_active": False}, format="json")
        assert answer.status_code == 200 and answer.json()["enabled"] is False
        assert Monitor.objects.get(pk=pk).enabled is False

    def test_is_active_and_enabled_must_agree(self, client, agent):
        body = {**monitor_body(agent), "is_active": False, "enabled": True}
        answer = client.post("/api/proactive/monitors", body, format="json")
        assert answer.status_code == 400 and "is_active" in answer.json()
        assert not Monitor.objects.exists()


@pytest.mark.django_db
class TestSchedule:
    def test_it_answers_next_run_and_last_run_and_takes_is_active(self, client, agent):
        created = client.post("/api/proactive/schedules", {**schedule_body(agent), "is_active": False}, format="json")
        assert created.status_code == 201, created.content
        pk = created.json()["id"]
        assert created.json()["is_active"] is False
        assert Schedule.objects.get(pk=pk).enabled is False

        answer = client.patch(f"/api/proactive/schedules/{pk}", {"is_active": True}, format="json").json()
        assert answer["is_active"] is True and Schedule.objects.get(pk=pk).enabled is True
        assert answer["next_run"] == answer["next_fire_at"] is not None
        assert answer["last_run"] is None

        Schedule.objects.filter(pk=pk).update(last_fire_at=timezone.now())
        answer = client.get(f"/api/proactive/schedules/{pk}").json()
        assert answer["last_run"] == answer["last_fire_at"] is not None


@pytest.mark.django_db
class TestTrigger:
    def test_it_takes_the_original_body_and_answers_its_names(self, client, agent):
        created = client.post("/api/proactive/triggers", trigger_body(agent), format="json")
        assert created.status_code == 201, created.content
        data = created.json()
        assert data["is_active"] is True and data["trigger_count"] == 0 and data["last_triggered"] is None

        fired = client.post(
            f"/api/proactive/triggers/{data['id']}/fire", {"payload": {"event": "deployment"}}, format="json"
        )
        assert fired.status_code == 202, fired.content
        answer = client.get(f"/api/proactive/triggers/{data['id']}").json()
        assert answer["trigger_count"] == answer["fire_count"] == 1
        assert answer["last_triggered"] == answer["last_fired_at"] is not None

        assert (
            client.patch(f"/api/proactive/triggers/{data['id']}", {"is_active": False}, format="json").status_code
            == 200
        )
        assert Trigger.objects.get(pk=data["id"]).enabled is False


@pytest.mark.django_db
class TestUnknownFields:
    def test_an_unknown_field_is_a_400_naming_it_and_changes_nothing(self, client, agent):
        created = client.post("/api/proactive/monitors", monitor_body(agent), format="json").json()
        answer = client.patch(
            f"/api/proactive/monitors/{created['id']}", {"is_activ": False, "name": "renamed"}, format="json"
        )
        assert answer.status_code == 400
        assert answer.json() == {"is_activ": ["Unknown field."]}
        assert Monitor.objects.get(pk=created["id"]).name == "API Response Time Monitor"

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/api/agents/", {"name": "a", "provider": "scripted", "colour": "red"}),
            ("/api/tokens/", {"name": "t", "colour": "red"}),
            ("/api/notifications/channels", {"name": "c", "kind": "ntfy", "config": {"topic": "t"}, "colour": 1}),
            ("/api/autonomous/rules", {"metric_name": "cpu_usage", "critical": 90, "colour": 1}),
            ("/api/autonomous/mode", {"autonomous": True, "colour": 1}),
        ],
    )
    def test_every_api_write_refuses_unknown_fields(self, client, path, body):
        answer = client.post(path, body, format="json")
        assert answer.status_code == 400, answer.content
        assert answer.json() == {"colour": ["Unknown field."]}

    def test_read_only_fields_sent_back_are_ignored(self, client, agent):
        read = client.post("/api/proactive/schedules", schedule_body(agent), format="json").json()
        sent_back = {
            **read,
            "next_fire_at": "2000-01-01T00:00:00Z",
            "next_run": None,
            "description": "x",
            "name": "Daily",
        }
        answer = client.put(f"/api/proactive/schedules/{read['id']}", sent_back, format="json")
        assert answer.status_code == 200, answer.content
        assert answer.json()["name"] == "Daily"
        assert answer.json()["next_fire_at"] == read["next_fire_at"]

    def test_autonomy_writes_still_take_workspace_id(self, client, agent):
        body = {"autonomous": True, "workspace_id": agent.workspace_id}
        assert client.post("/api/autonomous/mode", body, format="json").status_code == 200
