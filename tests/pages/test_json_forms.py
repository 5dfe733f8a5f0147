"""JSON typed into the pages and the admin is decoded like an API body (issue 9, item 8):
3,000 levels of nesting or a number out of the float range is an error on the field, not a
500, and nothing is stored."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from agents.models import Agent
from autonomy.models import Event
from notifications.models import Channel
from proactive.models import Monitor, Trigger
from tests.helpers import make_agent, make_user
from tests.pages.test_pages import form_data
from tests.pages.test_proactive_pages import make_trigger, monitor_data, trigger_data
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

DEEP = "[" * 3000 + "]" * 3000
BAD = [
    pytest.param(DEEP, "nested deeper than 64 levels", id="deep"),
    pytest.param('{"steps": [], "x": 1e999999}', "x: numbers must be finite", id="huge-number"),
    pytest.param('{"a": {"b": [NaN]}}', "a.b[0]: numbers must be finite", id="nan"),
]


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    client.raise_request_exception = False
    return client


def field_errors(response, field: str, form: str = "form") -> str:
    assert response.status_code == 200, response.status_code
    return " ".join(response.context[form].errors[field])


@pytest.mark.parametrize(("raw", "text"), BAD)
def test_agent_form(page, alice, raw, text):
    data = form_data(workspace=personal_workspace_for(alice).pk, provider_settings=raw)
    assert text in field_errors(page.post(reverse("agents:create"), data), "provider_settings")
    assert not Agent.objects.exists()


@pytest.mark.parametrize(("raw", "text"), BAD)
def test_monitor_form(page, alice, raw, text):
    data = monitor_data(make_agent(alice), probe_config=raw)
    assert text in field_errors(page.post(reverse("proactive:monitor_create"), data), "probe_config")
    assert not Monitor.objects.exists()


@pytest.mark.parametrize(("raw", "text"), BAD)
def test_trigger_form(page, alice, raw, text):
    data = trigger_data(make_agent(alice), config=raw)
    assert text in field_errors(page.post(reverse("proactive:trigger_create"), data), "config")
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(("raw", "text"), BAD)
def test_trigger_fire_form(page, alice, raw, text):
    trigger = make_trigger(make_agent(alice))
    response = page.post(reverse("proactive:trigger_fire", args=[trigger.pk]), {"payload": raw, "event_type": ""})
    assert text in field_errors(response, "payload", form="fire_form")
    assert not trigger.agent.runs.exists()


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-Secret-123"))
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(("raw", "text"), BAD)
def test_admin_forms(admin_client, raw, text):
    workspace = personal_workspace_for(make_user("bob"))
    data = {"workspace": workspace.pk, "event_type": "deploy", "metadata": raw, "at_0": "2026-01-01", "at_1": "10:00"}
    response = admin_client.post("/admin/autonomy/event/add/", data)
    assert response.status_code == 200
    assert "metadata" in response.context["adminform"].form.errors
    assert not Event.objects.exists()

    data = {"workspace": workspace.pk, "name": "c", "kind": "ntfy", "config": '{"topic": "t"}', "secret_config": raw}
    data |= {"events": '["run_failed"]', "enabled": "on"}
    response = admin_client.post("/admin/notifications/channel/add/", data)
    assert response.status_code == 200
    assert "secret_config" in response.context["adminform"].form.errors
    assert not Channel.objects.exists()
