"""An agent's input schema: the API answers 400 naming the field, the page shows it on the
field, and starts nobody waits for (schedules, webhooks) are kept as skipped runs that say
which field, never lost."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.inputs import input_errors
from agents.models import Run, RunSource, RunStatus
from agents.services import start_run
from agents.skips import SkipCode, skip_code
from proactive.models import Trigger, Webhook
from proactive.signatures import get_scheme
from proactive.sources import WebhookDeliverySource
from tests.helpers import auth, make_agent, make_user, token_for

pytestmark = pytest.mark.django_db

CITY = {
    "type": "object",
    "required": ["city"],
    "properties": {"city": {"type": "string", "pattern": "^[A-Z]"}, "days": {"type": "integer", "minimum": 1}},
}


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    client = APIClient()
    client.credentials(**auth(token_for(alice)))
    return client


def test_it_names_the_missing_and_the_wrong_fields():
    assert input_errors(CITY, {"days": 0}) == {
        "input.city": ["This field is required."],
        "input.days": ["0 is less than the minimum of 1"],
    }
    assert input_errors(CITY, {"city": "Lisbon", "days": 2}) == {}
    assert input_errors({}, {"anything": 1}) == {}


def test_the_api_refuses_input_that_breaks_the_schema_with_400_naming_the_field(api, alice):
    agent = make_agent(alice, input_schema=CITY)
    response = api.post(f"/api/agents/{agent.pk}/run/", {"input": {"city": 7}}, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {"input.city": ["7 is not of type 'string'"]}
    assert not Run.objects.exists()

    ok = api.post(f"/api/agents/{agent.pk}/run/", {"input": {"city": "Porto"}}, format="json")
    assert ok.status_code == 202, ok.content
    assert ok.json()["input"] == {"city": "Porto"}


def test_the_api_refuses_a_schema_that_is_not_one(api, alice):
    agent = make_agent(alice)
    response = api.patch(f"/api/agents/{agent.pk}/", {"input_schema": {"type": "town"}}, format="json")
    assert response.status_code == 400
    assert "input_schema" in response.json()
    lookahead = {"properties": {"a": {"type": "string", "pattern": "(?=x)"}}}
    response = api.patch(f"/api/agents/{agent.pk}/", {"input_schema": lookahead}, format="json")
    assert response.status_code == 400
    assert "RE2" in response.json()["input_schema"][0]
    response = api.patch(f"/api/agents/{agent.pk}/", {"input_schema": CITY}, format="json")
    assert response.status_code == 200
    assert response.json()["input_schema"] == CITY


def test_a_scheduled_start_with_bad_input_is_kept_as_a_skipped_run_naming_the_field(alice):
    agent = make_agent(alice, input_schema=CITY)
    run = start_run(agent, source=RunSource.SCHEDULE, source_ref="schedule:1", input={"city": "lisbon"})
    run.refresh_from_db()
    assert run.status == RunStatus.SKIPPED
    assert run.reason == "Input does not match the agent's input schema: input.city: 'lisbon' does not match '^[A-Z]'"
    assert skip_code(run) == SkipCode.INPUT_INVALID
    assert run.input == {"city": "lisbon"}  # kept as it came


def test_a_webhook_whose_input_breaks_the_schema_gives_a_skipped_run(alice):
    agent = make_agent(alice, input_schema=CITY)
    trigger = Trigger.objects.create(
        workspace=agent.workspace, agent=agent, name="hook", config={}, task_template="Weather"
    )
    scheme = get_scheme("hmac_sha256")
    hook = Webhook.objects.create(
        workspace=agent.workspace, trigger=trigger, scheme="hmac_sha256", secret=scheme.generate_secret()
    )
    body = json.dumps({"town": "Faro"}).encode()
    headers = scheme().sign(secret=hook.secret, body=body)
    response = APIClient().post(
        f"/api/hooks/{hook.url_path}", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 202, response.content
    WebhookDeliverySource().tick(timezone.now())
    run = Run.objects.get(agent=agent)
    assert run.source == RunSource.WEBHOOK
    assert run.status == RunStatus.SKIPPED
    assert "input.city: This field is required." in run.reason


def test_the_admin_refuses_a_schema_that_is_not_one(alice):
    from agents.admin import AgentAdminForm

    agent = make_agent(alice)
    data = {
        "workspace": agent.workspace_id, "name": "A", "provider": "scripted", "provider_settings": "{}",
        "allowed_tools": "[]", "max_steps": 20, "max_tokens": 1000, "max_seconds": 60, "overlap_policy": "allow",
        "max_attempts": 3, "auto_pause_after": 5, "state": "active", "enabled": "on",
    }  # fmt: skip
    form = AgentAdminForm({**data, "input_schema": '{"type": "town"}'}, instance=agent)
    assert not form.is_valid()
    assert "Not a valid JSON Schema" in form.errors["input_schema"][0]
    form = AgentAdminForm({**data, "input_schema": '{"type": "object"}'}, instance=agent)
    assert form.is_valid(), form.errors
