from __future__ import annotations

import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from agents.models import Agent, Run, Thread
from tests.helpers import auth, make_agent, make_user, token_for
from workspaces.models import APIToken, Membership, personal_workspace_for
from workspaces.services import membership_add, workspace_create

pytestmark = pytest.mark.django_db

SCRIPT = {
    "steps": [
        {"id": "store", "tool": "remember", "args": {"key": "topic", "value": "{{ input.task }}"}},
        {"tool": "recall", "args": {"key": "topic"}},
    ],
    "answer": "remembered {{ last.value }}",
}


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def client(alice):
    c = APIClient()
    c.credentials(**auth(token_for(alice)))
    return c


def test_it_creates_an_agent_in_the_personal_workspace(client, alice):
    response = client.post(
        "/api/agents/",
        {"name": "Echo", "provider": "scripted", "provider_settings": SCRIPT, "allowed_tools": ["remember", "recall"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    agent = Agent.objects.get(pk=response.json()["id"])
    assert agent.workspace == personal_workspace_for(alice)
    assert response.json()["workspace_id"] == agent.workspace_id
    assert response.json()["run_on_schedule"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "provider": "gpt-magic"}, "provider"),
        ({"name": "x", "provider": "scripted", "allowed_tools": ["rm_rf"]}, "allowed_tools"),
        ({"name": "x", "provider": "scripted", "max_steps": -1}, "max_steps"),
        ({"name": "x", "provider": "scripted", "max_tokens": -5}, "max_tokens"),
        ({"name": "x", "provider": "scripted", "max_cost_usd": "-1"}, "max_cost_usd"),
        ({"name": "x", "provider": "scripted", "provider_settings": [1, 2]}, "provider_settings"),
        ({"name": "x", "provider": "scripted", "provider_settings": {"steps": [{"args": {}}]}}, "provider_settings"),
        ({"name": "x", "provider": "scripted", "overlap_policy": "sometimes"}, "overlap_policy"),
        ({"provider": "scripted"}, "name"),
        ({"name": "x", "provider": "scripted", "workspace_id": 999999}, "workspace_id"),
    ],
)
def test_it_rejects_bad_agent_input_naming_the_field(client, body, field):
    response = client.post("/api/agents/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Agent.objects.count() == 0


def test_it_answers_malformed_json_with_400(client):
    response = client.post("/api/agents/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_it_keeps_stored_data_when_an_update_is_invalid(client, alice):
    agent = make_agent(alice, name="Keep me", max_steps=7)
    response = client.patch(f"/api/agents/{agent.pk}/", {"max_steps": -3, "name": "Changed"}, format="json")
    assert response.status_code == 400
    agent.refresh_from_db()
    assert (agent.name, agent.max_steps) == ("Keep me", 7)


def test_it_runs_an_agent_and_returns_the_run_with_its_steps(client, alice, run_inline):
    agent = make_agent(alice, provider_settings=SCRIPT, allowed_tools=["remember", "recall"])
    with run_inline(execute=True):
        response = client.post(f"/api/agents/{agent.pk}/run", {"task": "tides"}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]

    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["status"] == "succeeded"
    assert detail["output"] == "remembered tides"
    assert detail["attempt"] == 1
    assert [s["name"] for s in detail["steps"]] == ["remember", "recall"]
    assert detail["steps"][1]["output"] == {"found": True, "key": "topic", "value": "tides"}
    assert detail["tool_call_count"] == 2

    runs = client.get(f"/api/agents/{agent.pk}/runs").json()
    assert [r["id"] for r in runs["results"]] == [run_id]
    threads = client.get(f"/api/agents/{agent.pk}/threads").json()["results"]
    assert threads[0]["is_primary"] is True
    assert threads[0]["agent_state"] == {"topic": "tides"}
    thread = client.get(f"/api/threads/{threads[0]['id']}").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]


def test_it_reports_a_skipped_start_with_409_and_the_reason(client, alice):
    agent = make_agent(alice, overlap_policy="skip")
    Run.objects.create(workspace=agent.workspace, agent=agent, status="running")
    response = client.post(f"/api/agents/{agent.pk}/run", {}, format="json")
    assert response.status_code == 409
    assert response.json()["status"] == "skipped"
    assert "still running" in response.json()["reason"]


def test_it_answers_429_when_the_hourly_quota_is_used_up(client, alice):
    agent = make_agent(alice)
    agent.workspace.runs_per_hour = 1
    agent.workspace.save()
    assert client.post(f"/api/agents/{agent.pk}/run", {}, format="json").status_code == 202
    response = client.post(f"/api/agents/{agent.pk}/run", {}, format="json")
    assert response.status_code == 429
    assert "quota" in response.json()["reason"]


def test_it_cancels_a_queued_run(client, alice):
    agent = make_agent(alice)
    run = Run.objects.create(workspace=agent.workspace, agent=agent, status="queued")
    response = client.post(f"/api/runs/{run.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = client.post(f"/api/runs/{run.pk}/cancel")
    assert again.status_code == 400
    assert "status" in again.json()


def test_it_filters_runs_and_rejects_a_bad_filter(client, alice):
    agent = make_agent(alice)
    Run.objects.create(workspace=agent.workspace, agent=agent, status="failed")
    Run.objects.create(workspace=agent.workspace, agent=agent, status="succeeded")
    assert [r["status"] for r in client.get("/api/runs/?status=failed").json()["results"]] == ["failed"]
    assert client.get("/api/runs/?agent=abc").status_code == 400


def test_it_updates_a_threads_agent_state(client, alice):
    agent = make_agent(alice)
    thread = agent.primary_thread()
    response = client.patch(f"/api/threads/{thread.pk}", {"agent_state": {"k": 1}}, format="json")
    assert response.status_code == 200
    thread.refresh_from_db()
    assert thread.agent_state == {"k": 1}
    bad = client.patch(f"/api/threads/{thread.pk}", {"agent_state": [1]}, format="json")
    assert bad.status_code == 400 and "agent_state" in bad.json()


def test_it_hides_every_object_of_another_workspace(alice, client):
    bob = make_user("bob")
    agent = make_agent(bob)
    thread = agent.primary_thread()
    run = Run.objects.create(workspace=agent.workspace, agent=agent, thread=thread, status="queued")
    calls = [
        ("get", f"/api/agents/{agent.pk}/"),
        ("patch", f"/api/agents/{agent.pk}/"),
        ("delete", f"/api/agents/{agent.pk}/"),
        ("post", f"/api/agents/{agent.pk}/run"),
        ("post", f"/api/agents/{agent.pk}/pause"),
        ("post", f"/api/agents/{agent.pk}/resume"),
        ("get", f"/api/agents/{agent.pk}/runs"),
        ("get", f"/api/agents/{agent.pk}/threads"),
        ("get", f"/api/runs/{run.pk}"),
        ("post", f"/api/runs/{run.pk}/cancel"),
        ("get", f"/api/threads/{thread.pk}"),
        ("patch", f"/api/threads/{thread.pk}"),
        ("delete", f"/api/threads/{thread.pk}"),
        ("get", f"/api/workspaces/{agent.workspace_id}/"),
    ]
    for method, url in calls:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/api/agents/").json()["results"] == []
    assert client.get("/api/runs/").json()["results"] == []
    assert client.get("/api/threads/").json()["results"] == []
    created = client.post("/api/threads/", {"agent_id": agent.pk}, format="json")
    assert created.status_code == 400 and "agent_id" in created.json()
    run.refresh_from_db()
    assert run.status == "queued"
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_it_lets_a_viewer_read_but_not_write(alice, client):
    owner = make_user("owner")
    team = workspace_create(name="Team", owner=owner)
    membership_add(workspace=team, user=alice, role=Membership.Role.VIEWER)
    agent = make_agent(workspace=team, name="Shared")
    assert client.get(f"/api/agents/{agent.pk}/").status_code == 200
    assert client.patch(f"/api/agents/{agent.pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.post(f"/api/agents/{agent.pk}/run", {}, format="json").status_code == 403
    response = client.post(
        "/api/agents/", {"name": "x", "provider": "scripted", "workspace_id": team.pk}, format="json"
    )
    assert response.status_code == 403
    workspaces = {w["name"]: w["role"] for w in client.get("/api/workspaces/").json()["results"]}
    assert workspaces["Team"] == "viewer"


def test_it_lets_an_editor_create_in_a_shared_workspace(alice, client):
    team = workspace_create(name="Team", owner=make_user("owner"))
    membership_add(workspace=team, user=alice, role=Membership.Role.EDITOR)
    response = client.post(
        "/api/agents/", {"name": "x", "provider": "scripted", "workspace_id": team.pk}, format="json"
    )
    assert response.status_code == 201
    assert Agent.objects.get(pk=response.json()["id"]).workspace == team


def test_it_refuses_writes_with_a_read_only_token(alice):
    c = APIClient()
    c.credentials(**auth(token_for(alice, scope="read")))
    assert c.get("/api/agents/").status_code == 200
    response = c.post("/api/agents/", {"name": "x", "provider": "scripted"}, format="json")
    assert response.status_code == 403


def test_it_rejects_unknown_and_missing_credentials():
    c = APIClient()
    assert c.get("/api/agents/").status_code in (401, 403)
    c.credentials(HTTP_AUTHORIZATION="Bearer gdt_not-a-real-token")
    assert c.get("/api/agents/").status_code == 401


def test_it_stores_api_tokens_hashed_and_shows_them_once(client, alice):
    response = client.post("/api/tokens/", {"name": "ci", "scope": "read"}, format="json")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("gdt_")
    token = APIToken.objects.get(pk=response.json()["id"])
    assert raw not in {token.key_hash, token.prefix}
    listed = client.get("/api/tokens/").json()["results"]
    assert all("token" not in t for t in listed)
    c = APIClient()
    c.credentials(**auth(raw))
    assert c.get("/api/agents/").status_code == 200


def test_it_issues_and_accepts_jwt(alice):
    c = APIClient()
    pair = c.post("/api/auth/token", {"username": "alice", "password": "pw-Secret-123"}, format="json")
    assert pair.status_code == 200
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.json()['access']}")
    assert c.get("/api/workspaces/").status_code == 200
    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": pair.json()["refresh"]}, format="json")
    assert "access" in refreshed.json()
    wrong = APIClient().post("/api/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert wrong.status_code == 401


def test_it_encrypts_the_api_key_and_never_returns_it(client):
    response = client.post(
        "/api/agents/",
        {"name": "llm", "provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-very-secret"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "sk-very-secret" not in json.dumps(response.json())
    assert response.json()["has_api_key"] is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM agents_agent WHERE id = %s", [response.json()["id"]])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc1:") and "sk-very-secret" not in stored
    assert Agent.objects.get(pk=response.json()["id"]).api_key == "sk-very-secret"


def test_it_serves_the_schema_and_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/agents/{id}/run" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_it_pauses_and_resumes(client, alice):
    agent = make_agent(alice)
    assert client.post(f"/api/agents/{agent.pk}/pause").json()["state"] == "paused"
    assert client.post(f"/api/agents/{agent.pk}/run", {}, format="json").status_code == 409
    assert client.post(f"/api/agents/{agent.pk}/resume").json()["state"] == "active"
    assert Thread.objects.filter(agent=agent).count() == 1
