"""Triggers: task templates, filters, the trigger API and "fire now" (DESIGN.md §4, Trigger)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, Run, RunStatus
from proactive.models import Trigger
from proactive.services import render_task, trigger_fire, trigger_matches
from tests.helpers import auth, make_agent, make_user, token_for
from workspaces.models import personal_workspace_for

PR = {
    "action": "opened",
    "number": 7,
    "pull_request": {"number": 7, "title": "Fix the tides", "labels": [{"name": "bug"}]},
    "repository": {"full_name": "owner/repo"},
}


# --- render_task --------------------------------------------------------------------------


def test_render_task_fills_dotted_paths():
    task = render_task("Review PR #{{ pull_request.number }}: {{ pull_request.title }}", PR)
    assert task == "Review PR #7: Fix the tides"


def test_render_task_reaches_list_items_and_the_whole_payload():
    assert render_task("{{ pull_request.labels.0.name }}", PR) == "bug"
    assert render_task("{{payload.repository.full_name}}", PR) == "owner/repo"


def test_render_task_fills_the_original_top_level_style():
    payload = {"pr_number": 42, "pr_title": "Add tests"}
    assert render_task("Review PR #{pr_number}: {pr_title}", payload) == "Review PR #42: Add tests"


def test_render_task_mixes_both_styles():
    assert render_task("#{number} {{ pull_request.title }}", PR) == "#7 Fix the tides"


def test_render_task_marks_a_missing_path_and_fills_the_rest():
    task = render_task("Review PR #{{ pull_request.number }}: {{ pull_request.nope }}", PR)
    assert task.startswith("Review PR #7: ")
    assert "missing" in task
    assert "pull_request.nope" in task


def test_render_task_leaves_an_unknown_top_level_key_visible():
    assert "{pr_title}" in render_task("Review {pr_title}", {"pr_number": 1})


def test_render_task_does_not_render_placeholders_inside_payload_values():
    # A PR title is written by whoever opens the PR: it is data, never template.
    payload = {"pr_title": "{{ secret }} and {pr_number}", "pr_number": 3, "secret": "s3cr3t"}
    task = render_task("Title: {pr_title} #{pr_number}", payload)
    assert task == "Title: {{ secret }} and {pr_number} #3"
    nested = {"pull_request": {"title": "{number}"}, "number": 9}
    assert render_task("{{ pull_request.title }}", nested) == "{number}"


def test_render_task_with_a_non_dict_payload():
    assert render_task("first is {{ payload.0 }}", ["a", "b"]) == "first is a"
    assert "missing" in render_task("{{ pull_request.number }}", ["a"])
    assert render_task("Check {thing}", "plain text") == "Check {thing}"
    assert render_task("", {"a": 1}) == ""
    assert render_task("No placeholders", None) == "No placeholders"


# --- trigger_matches ------------------------------------------------------------------------


def _trigger(config, **fields) -> Trigger:
    return Trigger(name="t", config=config, **fields)


def test_no_filters_match_everything():
    assert trigger_matches(_trigger({}), payload={}, event_type=None) == (True, "")


def test_events_list():
    trigger = _trigger({"events": ["pull_request", "issues"]})
    assert trigger_matches(trigger, payload=PR, event_type="issues")[0]
    ok, why = trigger_matches(trigger, payload=PR, event_type="push")
    assert not ok
    assert "push" in why
    assert not trigger_matches(trigger, payload=PR, event_type=None)[0]


def test_legacy_single_event():
    trigger = _trigger({"event": "pull_request"})
    assert trigger_matches(trigger, payload=PR, event_type="pull_request")[0]
    assert not trigger_matches(trigger, payload=PR, event_type="push")[0]
    # The serializer does not check "event": a list there means any of its names.
    several = _trigger({"event": ["pull_request", "issues"]})
    assert trigger_matches(several, payload=PR, event_type="issues")[0]
    assert not trigger_matches(several, payload=PR, event_type="push")[0]


def test_match_on_paths_with_one_or_several_allowed_values():
    trigger = _trigger({"match": {"action": "opened", "pull_request.labels.0.name": ["bug", "security"]}})
    assert trigger_matches(trigger, payload=PR, event_type="pull_request")[0]
    ok, why = trigger_matches(trigger, payload={**PR, "action": "closed"}, event_type="pull_request")
    assert not ok
    assert "action" in why
    other_label = {**PR, "pull_request": {**PR["pull_request"], "labels": [{"name": "docs"}]}}
    assert not trigger_matches(trigger, payload=other_label, event_type="pull_request")[0]
    either = _trigger({"match": {"action": ["opened", "reopened"]}})
    assert trigger_matches(either, payload={"action": "reopened"}, event_type=None)[0]
    assert not trigger_matches(either, payload={}, event_type=None)[0]


def test_repository_filter():
    trigger = _trigger({"repository": "owner/repo", "event": "pull_request"})
    assert trigger_matches(trigger, payload=PR, event_type="pull_request")[0]
    # GitHub owner and repository names are case-insensitive.
    assert trigger_matches(_trigger({"repository": "Owner/Repo"}), payload=PR, event_type=None)[0]
    ok, why = trigger_matches(
        trigger, payload={**PR, "repository": {"full_name": "other/repo"}}, event_type="pull_request"
    )
    assert not ok
    assert "owner/repo" in why
    assert not trigger_matches(trigger, payload={"action": "opened"}, event_type="pull_request")[0]


# --- trigger_fire -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_trigger_fire_starts_a_run_with_the_task_and_payload():
    agent = make_agent()
    trigger = Trigger.objects.create(
        workspace=agent.workspace,
        agent=agent,
        name="PRs",
        config={"events": ["pull_request"]},
        task_template="Review PR #{{ pull_request.number }}",
    )
    run, why = trigger_fire(trigger, payload=PR, event_type="pull_request")
    assert why == ""
    assert run.source == "trigger"
    assert run.input["task"] == "Review PR #7"
    assert run.input["event_type"] == "pull_request"
    assert run.payload == PR
    trigger.refresh_from_db()
    assert trigger.fire_count == 1
    assert trigger.last_fired_at is not None

    assert trigger_fire(trigger, payload=PR, event_type="push") == (None, "event push is not one of pull_request")
    trigger.enabled = False
    trigger.save()
    assert trigger_fire(trigger, payload=PR, event_type="pull_request")[0] is None
    assert Run.objects.count() == 1


# --- the trigger API ----------------------------------------------------------------------------


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    client = APIClient()
    client.credentials(**auth(token_for(alice)))
    return client


@pytest.fixture
def agent(alice):
    return make_agent(alice, name="Reviewer")


def _body(agent, **overrides) -> dict:
    body = {
        "name": "Review PRs",
        "workspace_id": agent.workspace_id,
        "trigger_type": "github",
        "config": {"repository": "owner/repo", "event": "pull_request"},
        "agent_id": agent.pk,
        "task_template": "Review PR #{pr_number}: {pr_title}",
    }
    return {**body, **overrides}


@pytest.mark.django_db
def test_create_a_trigger_with_the_original_example_body(api, agent):
    response = api.post("/api/proactive/triggers", _body(agent), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    trigger = Trigger.objects.get(pk=data["id"])
    assert trigger.agent == agent
    assert trigger.workspace_id == agent.workspace_id
    assert trigger.trigger_type == "github"
    assert trigger.config == {"repository": "owner/repo", "event": "pull_request"}
    assert data["task_template"] == "Review PR #{pr_number}: {pr_title}"
    assert data["agent_id"] == agent.pk
    assert data["workspace_id"] == agent.workspace_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"config": ["pull_request"]}, "config"),
        ({"config": "pull_request"}, "config"),
        ({"config": {"events": "pull_request"}}, "config"),
        ({"config": {"events": [1, 2]}}, "config"),
        ({"config": {"match": ["action"]}}, "config"),
        ({"config": {"input": ["number"]}}, "config"),
        ({"config": {"input": {"number": 7}}}, "config"),
        ({"config": {"input": {"number": "pull_request..number"}}}, "config"),
        ({"config": {"input": {"task": "pull_request.title"}}}, "config"),
        ({"task_template": "Review {{ pull request }}"}, "task_template"),
        ({"task_template": "Review {{ }}"}, "task_template"),
        ({"task_template": "Review {{ a.b | upper }}"}, "task_template"),
    ],
)
def test_bad_trigger_bodies_name_the_field(api, agent, overrides, field):
    response = api.post("/api/proactive/triggers", _body(agent, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_another_users_agent_cannot_be_used(api):
    bob_agent = make_agent(make_user("bob"))
    body = _body(bob_agent)
    del body["workspace_id"]
    response = api.post("/api/proactive/triggers", body, format="json")
    assert response.status_code == 400
    assert "agent_id" in response.json()


@pytest.mark.django_db
def test_fire_endpoint_starts_a_run(api, agent):
    trigger = Trigger.objects.create(
        workspace=agent.workspace,
        agent=agent,
        name="PRs",
        config={"repository": "owner/repo", "event": "pull_request"},
        task_template="Review PR #{pr_number}: {{ pull_request.title }}",
    )
    payload = {"pr_number": 12, "pull_request": {"title": "Tides"}}
    response = api.post(
        f"/api/proactive/triggers/{trigger.pk}/fire", {"payload": payload, "event_type": "pull_request"}, format="json"
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.status == RunStatus.QUEUED
    assert run.source == "trigger"
    assert run.source_ref == f"trigger:{trigger.pk}"
    assert run.input["task"] == "Review PR #12: Tides"
    assert run.payload == payload
    trigger.refresh_from_db()
    assert trigger.fire_count == 1


@pytest.mark.django_db
def test_fire_endpoint_with_no_body(api, agent):
    trigger = Trigger.objects.create(workspace=agent.workspace, agent=agent, name="Manual", task_template="Look around")
    response = api.post(f"/api/proactive/triggers/{trigger.pk}/fire", {}, format="json")
    assert response.status_code == 202, response.content
    assert Run.objects.get().input["task"] == "Look around"


@pytest.mark.django_db
def test_fire_on_a_paused_agent_is_a_skipped_run(api, agent):
    Agent.objects.filter(pk=agent.pk).update(state=Agent.State.PAUSED, state_reason="holiday")
    trigger = Trigger.objects.create(workspace=agent.workspace, agent=agent, name="t", task_template="Go")
    response = api.post(f"/api/proactive/triggers/{trigger.pk}/fire", {"payload": {"a": 1}}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["status"] == RunStatus.SKIPPED
    run = Run.objects.get()
    assert run.status == RunStatus.SKIPPED
    assert "paused" in run.reason.lower()


@pytest.mark.django_db
def test_fire_on_a_disabled_trigger_is_409(api, agent):
    trigger = Trigger.objects.create(workspace=agent.workspace, agent=agent, name="t", enabled=False)
    response = api.post(f"/api/proactive/triggers/{trigger.pk}/fire", {}, format="json")
    assert response.status_code == 409
    assert "disabled" in response.json()["detail"]
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_another_users_trigger_is_404_everywhere(api):
    bob_agent = make_agent(make_user("bob"))
    trigger = Trigger.objects.create(workspace=bob_agent.workspace, agent=bob_agent, name="Bob's", task_template="x")
    url = f"/api/proactive/triggers/{trigger.pk}"
    assert api.get(url).status_code == 404
    assert api.patch(url, {"name": "mine"}, format="json").status_code == 404
    assert api.put(url, _body(bob_agent), format="json").status_code == 404
    assert api.post(f"{url}/fire", {}, format="json").status_code == 404
    assert api.delete(url).status_code == 404
    assert trigger.pk not in [t["id"] for t in api.get("/api/proactive/triggers").json()["results"]]
    trigger.refresh_from_db()
    assert trigger.name == "Bob's"
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_trigger_list_and_update(api, agent, alice):
    trigger = Trigger.objects.create(workspace=personal_workspace_for(alice), agent=agent, name="t", config={})
    listed = api.get("/api/proactive/triggers").json()["results"]
    assert [t["id"] for t in listed] == [trigger.pk]
    response = api.patch(
        f"/api/proactive/triggers/{trigger.pk}",
        {"config": {"events": ["push"], "match": {"ref": "main"}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    trigger.refresh_from_db()
    assert trigger.config == {"events": ["push"], "match": {"ref": "main"}}


@pytest.mark.django_db
def test_the_api_rejects_a_bad_event_repository_or_unclosed_placeholder():
    from rest_framework.test import APIClient

    from tests.helpers import auth, make_agent, make_user, token_for

    user = make_user("zed")
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent = make_agent(user)
    base = {"name": "t", "agent_id": agent.pk, "trigger_type": "github"}
    for extra, field in [
        ({"config": {"event": 5}}, "config"),
        ({"config": {"repository": ["a/b"]}}, "config"),
        ({"task_template": "Review {{ pull_request.number"}, "task_template"),
    ]:
        response = client.post("/api/proactive/triggers", {**base, **extra}, format="json")
        assert response.status_code == 400 and field in response.json(), (extra, response.content)


@pytest.mark.django_db
def test_the_config_input_fills_the_runs_input_from_the_payload_for_an_agent_with_an_input_schema(api):
    """An agent whose input schema requires fields: a trigger (or a webhook) maps them from
    the event's payload, with the payload's own types; without the mapping the start is
    skipped, with the schema's reason."""
    user = make_user("carol")
    schema = {
        "type": "object",
        "required": ["number", "repo"],
        "properties": {"number": {"type": "integer"}, "repo": {"type": "string"}, "label": {"type": "string"}},
    }
    agent = make_agent(user, input_schema=schema)
    api.credentials(**auth(token_for(user)))
    body = {
        "name": "PR numbers", "agent_id": agent.pk, "trigger_type": "github", "task_template": "Review",
        "config": {"input": {"number": "pull_request.number", "repo": "repository.full_name",
                             "label": "pull_request.labels.0.name", "missing": "no.such.path"}},
    }  # fmt: skip
    response = api.post("/api/proactive/triggers", body, format="json")
    assert response.status_code == 201, response.content
    trigger = Trigger.objects.get(pk=response.json()["id"])

    run, why = trigger_fire(trigger, payload=PR, event_type="pull_request")
    assert (why, run.status) == ("", RunStatus.QUEUED)
    assert run.input == {
        "trigger": "PR numbers", "task": "Review", "event_type": "pull_request",
        "number": 7, "repo": "owner/repo", "label": "bug",
    }  # fmt: skip

    unmapped = Trigger.objects.create(workspace=agent.workspace, agent=agent, name="no map", task_template="Review")
    skipped, _ = trigger_fire(unmapped, payload=PR, event_type="pull_request")
    assert skipped.status == RunStatus.SKIPPED and "number" in skipped.reason
