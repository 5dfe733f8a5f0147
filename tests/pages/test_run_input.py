"""Run now with a JSON input and payload, Run again, and the attempt line of a finished run."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from agents.models import Run, RunSource, RunStatus
from tests.helpers import make_agent, make_user

pytestmark = pytest.mark.django_db

CITY = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def browser(client, alice):
    client.force_login(alice)
    return client


def test_run_now_starts_with_the_json_input_and_payload(browser, alice):
    agent = make_agent(alice)
    response = browser.post(
        reverse("agents:run_now", args=[agent.pk]),
        {"task": "Forecast", "input": '{"city": "Lisbon"}', "payload": '{"source": "test"}'},
    )
    run = Run.objects.get()
    assert response.status_code == 302
    assert run.input == {"city": "Lisbon", "task": "Forecast"}
    assert run.payload == {"source": "test"}
    assert run.source == RunSource.MANUAL


def test_run_now_shows_invalid_json_on_the_field_and_starts_nothing(browser, alice):
    agent = make_agent(alice)
    response = browser.post(reverse("agents:run_now", args=[agent.pk]), {"input": '{"city": '})
    assert response.status_code == 400
    form = response.context["run_form"]
    assert form.errors["input"] == ["Enter a valid JSON."]
    assert 'aria-invalid="true"' in response.content.decode()
    assert "{&quot;city&quot;: " in response.content.decode()  # kept as typed
    response = browser.post(reverse("agents:run_now", args=[agent.pk]), {"input": "[1, 2]"})
    assert response.status_code == 400
    assert "Must be a JSON object" in response.context["run_form"].errors["input"][0]
    assert not Run.objects.exists()


def test_run_now_shows_schema_violations_on_the_input_field(browser, alice):
    agent = make_agent(alice, input_schema=CITY)
    response = browser.post(reverse("agents:run_now", args=[agent.pk]), {"input": '{"city": 3}'})
    assert response.status_code == 400
    assert response.context["run_form"].errors["input"] == ["input.city: 3 is not of type 'string'"]
    response = browser.post(reverse("agents:run_now", args=[agent.pk]), {"input": "{}"})
    assert response.context["run_form"].errors["input"] == ["input.city: This field is required."]
    assert not Run.objects.exists()


def test_the_form_is_prefilled_with_the_last_manual_input(browser, alice):
    agent = make_agent(alice)
    Run.objects.create(
        workspace=agent.workspace, agent=agent, source=RunSource.MANUAL,
        input={"task": "Weather", "city": "Faro"}, payload={"k": 1}, status=RunStatus.SUCCEEDED,
    )  # fmt: skip
    Run.objects.create(workspace=agent.workspace, agent=agent, source=RunSource.SCHEDULE, input={"city": "Elsewhere"})
    form = browser.get(reverse("agents:detail", args=[agent.pk])).context["run_form"]
    assert form["task"].value() == "Weather"
    assert json.loads(form["input"].value()) == {"city": "Faro"}
    assert json.loads(form["payload"].value()) == {"k": 1}


def test_run_again_repeats_the_input_and_payload(browser, alice):
    agent = make_agent(alice)
    first = Run.objects.create(
        workspace=agent.workspace, agent=agent, source=RunSource.API,
        input={"task": "Weather", "city": "Faro"}, payload={"event": "x"}, status=RunStatus.FAILED,
    )  # fmt: skip
    response = browser.post(reverse("agents:run_again", args=[first.pk]))
    again = Run.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302 and response.url == reverse("agents:run", args=[again.pk])
    assert (again.input, again.payload, again.source) == (first.input, first.payload, RunSource.MANUAL)


def test_run_again_of_another_workspace_is_404(client, alice):
    run = Run.objects.create(workspace=make_agent(alice).workspace, agent=make_agent(alice), input={})
    client.force_login(make_user("mallory"))
    assert client.post(reverse("agents:run_again", args=[run.pk])).status_code == 404


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"status": RunStatus.FAILED, "attempt": 1, "reason": "Configuration: no key"},
         "attempt 1 of 3 — not retried: Configuration: no key"),
        ({"status": RunStatus.FAILED, "attempt": 3, "reason": "Gave up"}, "attempt 3 of 3 — no attempts left"),
        ({"status": RunStatus.SUCCEEDED, "attempt": 1}, "attempt 1 of 3 — succeeded"),
        ({"status": RunStatus.SKIPPED, "attempt": 0}, "none — skipped before any attempt"),
        ({"status": RunStatus.QUEUED, "attempt": 0}, "none yet (up to 3)"),
    ],
)  # fmt: skip
def test_a_finished_run_says_how_its_attempts_ended(browser, alice, fields, text):
    agent = make_agent(alice)
    run = Run.objects.create(workspace=agent.workspace, agent=agent, max_attempts=3, **fields)
    page = browser.get(reverse("agents:run", args=[run.pk])).content.decode()
    assert f'<p class="attempt-summary">{text[0].upper()}{text[1:]}</p>' in page
