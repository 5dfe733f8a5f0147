"""provider_settings.extra_headers (issue 9, item 6): values encrypted at rest, never
returned by the API or shown by the pages, kept when a write leaves them out; the run's
requests carry them; the migration moves plaintext values into the encrypted field."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from agents.models import HEADER_VALUE_MASK, Agent
from agents.services import start_run
from gradent.lib import crypto
from tests.fakes.llm_servers import FakeOpenAI
from tests.helpers import auth, make_agent, make_user, token_for
from workspaces.models import Membership
from workspaces.services import membership_add, workspace_create

SECRET = "hdr-Secret-value-123"


def raw_columns(agent_id: int) -> str:
    """Everything stored for the agent's settings and headers, as the database has it."""
    stored = dict(crypto.stored_values(Agent, Agent._meta.get_field("header_secrets"))).get(agent_id, "")
    settings = Agent.objects.filter(pk=agent_id).values_list("provider_settings", flat=True).get()
    return stored + json.dumps(settings)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    client = Client()
    headers = auth(token_for(alice))

    def call(method: str, path: str, data=None):
        body = json.dumps(data) if data is not None else None
        return getattr(client, method)(path, body, content_type="application/json", **headers)

    return call


def create(api, **settings):
    response = api(
        "post",
        "/api/agents/",
        {"name": "Gateway", "provider": "openai", "model": "m", "provider_settings": settings},
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_values_are_encrypted_at_rest_and_never_returned(api, alice):
    body = create(api, base_url="https://gw.example/v1", extra_headers={"api-key": SECRET, "X-Team": "ops"})
    assert body["provider_settings"]["extra_headers"] == {"api-key": HEADER_VALUE_MASK, "X-Team": HEADER_VALUE_MASK}
    assert SECRET not in json.dumps(body)
    stored = raw_columns(body["id"])
    assert SECRET not in stored and "enc1:" in stored  # encrypted, and not left in the JSON
    detail = api("get", f"/api/agents/{body['id']}/").json()
    listing = api("get", "/api/agents/").content.decode()
    assert detail["provider_settings"]["extra_headers"]["api-key"] == HEADER_VALUE_MASK
    assert SECRET not in json.dumps(detail) and SECRET not in listing
    assert Agent.objects.get(pk=body["id"]).extra_headers == {"api-key": SECRET, "X-Team": "ops"}


@pytest.mark.django_db
def test_a_viewer_sees_names_only():
    owner, viewer = make_user("owner"), make_user("viewer")
    team = workspace_create(name="Team", owner=owner)
    membership_add(workspace=team, user=viewer, role=Membership.Role.VIEWER)
    agent = make_agent(
        workspace=team, provider="openai", model="m", provider_settings={"extra_headers": {"api-key": SECRET}}
    )
    response = Client().get(f"/api/agents/{agent.pk}/", **auth(token_for(viewer)))
    assert response.status_code == 200
    assert response.json()["provider_settings"]["extra_headers"] == {"api-key": HEADER_VALUE_MASK}
    assert SECRET not in response.content.decode()


@pytest.mark.django_db
def test_writes_keep_omitted_or_masked_values_and_replace_the_rest(api):
    agent_id = create(api, extra_headers={"api-key": SECRET, "X-Team": "ops"})["id"]
    path = f"/api/agents/{agent_id}/"

    api("patch", path, {"provider_settings": {"temperature": 0.2}})  # extra_headers left out: kept
    assert Agent.objects.get(pk=agent_id).extra_headers == {"api-key": SECRET, "X-Team": "ops"}

    shown = api("get", path).json()["provider_settings"]  # a read sent back as it is: kept
    assert api("put", path, {**api("get", path).json(), "provider_settings": shown}).status_code == 200
    assert Agent.objects.get(pk=agent_id).extra_headers == {"api-key": SECRET, "X-Team": "ops"}

    api("patch", path, {"provider_settings": {"extra_headers": {"api-key": HEADER_VALUE_MASK, "X-New": "n"}}})
    assert Agent.objects.get(pk=agent_id).extra_headers == {"api-key": SECRET, "X-New": "n"}  # X-Team removed

    api("patch", path, {"provider_settings": {"extra_headers": {}}})
    assert Agent.objects.get(pk=agent_id).extra_headers == {}


@pytest.mark.django_db
def test_the_run_sends_the_stored_values(run_inline, allow_loopback):
    with FakeOpenAI() as server:
        server.enqueue_text("hello")
        agent = make_agent(
            provider="openai",
            model="m",
            provider_settings={"base_url": server.base_url, "extra_headers": {"api-key": SECRET}},
        )
        with run_inline(execute=True):
            run = start_run(Agent.objects.get(pk=agent.pk))
        run.refresh_from_db()
        assert run.status == "succeeded", run.reason
        assert server.last_request.headers["api-key"] == SECRET


@pytest.mark.django_db
def test_the_pages_show_names_only_and_an_edit_keeps_the_values(client, alice):
    from tests.pages.test_pages import form_data

    client.force_login(alice)
    agent = make_agent(alice, provider="openai", model="m", provider_settings={"extra_headers": {"api-key": SECRET}})
    detail = client.get(reverse("agents:detail", args=[agent.pk])).content.decode()
    edit = reverse("agents:edit", args=[agent.pk])
    form = client.get(edit).content.decode()
    assert SECRET not in detail and SECRET not in form and "api-key" in form
    settings = json.dumps({"extra_headers": {"api-key": HEADER_VALUE_MASK}})
    response = client.post(edit, form_data(provider="openai", model="m", provider_settings=settings, allowed_tools=[]))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Agent.objects.get(pk=agent.pk).extra_headers == {"api-key": SECRET}


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_plaintext_headers():
    executor = MigrationExecutor(connection)
    executor.migrate([("agents", "0004_worker_heartbeat")])
    old_apps = executor.loader.project_state([("agents", "0004_worker_heartbeat")]).apps
    OldAgent = old_apps.get_model("agents", "Agent")
    OldUser = old_apps.get_model("auth", "User")
    OldWorkspace = old_apps.get_model("workspaces", "Workspace")
    user = OldUser.objects.create(username="legacy")
    workspace = OldWorkspace.objects.create(name="Legacy", **_owner_fields(OldWorkspace, user))
    old = OldAgent.objects.create(
        workspace=workspace,
        name="Legacy",
        provider="openai",
        provider_settings={"base_url": "https://gw.example/v1", "extra_headers": {"api-key": SECRET}},
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert SECRET not in raw_columns(old.pk)
    agent = Agent.objects.get(pk=old.pk)
    assert agent.provider_settings == {"base_url": "https://gw.example/v1"}
    assert agent.extra_headers == {"api-key": SECRET}


def _owner_fields(model, user) -> dict:
    names = {field.name for field in model._meta.get_fields()}
    return {"owner": user} if "owner" in names else {}


@pytest.mark.django_db
def test_unreadable_header_values_fail_the_run_and_survive_an_edit(api, settings, run_inline):
    settings.GRADENT_ENCRYPTION_KEY = "key one"
    agent_id = create(api, extra_headers={"api-key": SECRET})["id"]
    before = raw_columns(agent_id)
    settings.GRADENT_ENCRYPTION_KEY = "key two"
    assert api("patch", f"/api/agents/{agent_id}/", {"description": "edited"}).status_code == 200
    assert raw_columns(agent_id) == before
    with run_inline(execute=True):
        run = start_run(Agent.objects.get(pk=agent_id))
    run.refresh_from_db()
    assert run.status == "failed" and "extra header values cannot be decrypted" in run.reason
