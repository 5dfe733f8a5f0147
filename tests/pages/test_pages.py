"""The server-rendered pages: each renders for its owner, other workspaces' objects are 404,
viewers get 403 on writes, and forms report bad input on the field."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from agents.models import Agent, Message, Run, RunSource, RunStatus, RunStep
from workspaces.models import APIToken, Membership, hash_token, personal_workspace_for
from workspaces.services import membership_add

pytestmark = pytest.mark.django_db

SCRIPT = {
    "steps": [
        {"tool": "remember", "args": {"key": "greeting", "value": "{{ input.task }}"}},
        {"tool": "finish", "args": {"answer": "done: {{ input.task }}"}},
    ]
}


def make_user(username: str = "alice"):
    return get_user_model().objects.create_user(username=username, password="pw-Secret-123")


def make_agent(user, **fields) -> Agent:
    defaults = {
        "workspace": personal_workspace_for(user),
        "name": f"{user.username}'s agent",
        "provider": "scripted",
        "provider_settings": SCRIPT,
        "allowed_tools": ["remember", "finish"],
        "overlap_policy": "allow",
    }
    return Agent.objects.create(**{**defaults, **fields})


def make_run(agent: Agent, **fields) -> Run:
    thread = agent.primary_thread()
    defaults = {"workspace_id": agent.workspace_id, "agent": agent, "thread": thread, "status": RunStatus.SUCCEEDED}
    run = Run.objects.create(**{**defaults, **fields})
    RunStep.objects.create(
        run=run, index=0, kind=RunStep.Kind.TOOL_CALL, name="remember", input={"key": "k", "value": "v"}, output={}
    )
    Message.objects.create(thread=thread, run=run, role=Message.Role.USER, content="hello there")
    return run


def form_data(**overrides) -> dict:
    data = {
        "name": "Greeter",
        "description": "",
        "system_instructions": "",
        "task_instructions": "Say hello.",
        "provider": "scripted",
        "model": "",
        "provider_settings": '{"steps": [{"tool": "finish", "args": {"answer": "hi"}}]}',
        "api_key_env": "",
        "api_key": "",
        "allowed_tools": ["remember", "finish"],
        "max_steps": "20",
        "max_tokens": "200000",
        "max_cost_usd": "",
        "max_seconds": "300",
        "overlap_policy": "allow",
        "max_attempts": "3",
        "auto_pause_after": "5",
        "enabled": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    return client


# --- pages render for their owner -----------------------------------------------------


def owner_urls(agent: Agent, run: Run) -> list[str]:
    return [
        reverse("dashboard:overview"),
        reverse("agents:list"),
        reverse("agents:create"),
        reverse("agents:detail", args=[agent.pk]),
        reverse("agents:edit", args=[agent.pk]),
        reverse("agents:delete", args=[agent.pk]),
        reverse("agents:runs"),
        reverse("agents:runs") + f"?status=succeeded&source=manual&agent={agent.pk}",
        reverse("agents:run", args=[run.pk]),
        reverse("agents:run_live", args=[run.pk]),
        reverse("agents:threads"),
        reverse("agents:thread", args=[run.thread_id]),
        reverse("workspaces:tokens"),
    ]


def test_it_renders_every_page_for_the_owner(page, alice):
    agent = make_agent(alice)
    run = make_run(agent, output="all good")
    for url in owner_urls(agent, run):
        response = page.get(url)
        assert response.status_code == 200, url


def test_it_sends_anonymous_visitors_to_the_login_page(client, alice):
    agent = make_agent(alice)
    run = make_run(agent)
    for url in owner_urls(agent, run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert client.get(reverse("login")).status_code == 200


def test_it_logs_in_through_the_login_page(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-Secret-123"}, follow=True)
    assert response.status_code == 200
    assert response.context["user"] == alice
    assert response.redirect_chain[-1][0] == reverse("dashboard:overview")


def test_it_links_admin_only_for_staff(page, alice):
    assert 'href="/admin/"' not in page.get(reverse("dashboard:overview")).content.decode()
    alice.is_staff = True
    alice.save()
    assert 'href="/admin/"' in page.get(reverse("dashboard:overview")).content.decode()


# --- tenancy: another workspace's objects are 404 ------------------------------------


def test_it_returns_404_for_another_users_objects_on_every_page(page, bob):
    agent = make_agent(bob)
    run = make_run(agent)
    for url in [
        reverse("agents:detail", args=[agent.pk]),
        reverse("agents:edit", args=[agent.pk]),
        reverse("agents:delete", args=[agent.pk]),
        reverse("agents:run", args=[run.pk]),
        reverse("agents:run_live", args=[run.pk]),
        reverse("agents:thread", args=[run.thread_id]),
    ]:
        assert page.get(url).status_code == 404, url


def test_it_returns_404_for_another_users_objects_on_every_action(page, bob):
    agent = make_agent(bob)
    run = make_run(agent, status=RunStatus.QUEUED)
    for url, data in [
        (reverse("agents:edit", args=[agent.pk]), form_data(name="Hijacked")),
        (reverse("agents:run_now", args=[agent.pk]), {"task": "x"}),
        (reverse("agents:pause", args=[agent.pk]), {}),
        (reverse("agents:resume", args=[agent.pk]), {}),
        (reverse("agents:run_cancel", args=[run.pk]), {}),
        (reverse("agents:delete", args=[agent.pk]), {}),
    ]:
        assert page.post(url, data).status_code == 404, url
    agent.refresh_from_db()
    run.refresh_from_db()
    assert agent.name == "bob's agent"
    assert agent.state == Agent.State.ACTIVE
    assert run.status == RunStatus.QUEUED
    assert Run.objects.count() == 1


def test_it_lists_only_the_users_own_objects(page, alice, bob):
    make_run(make_agent(alice, name="Alpha"), reason="alice-run")
    make_run(make_agent(bob, name="Bravo"), reason="bob-run")
    for name in ("agents:list", "agents:runs", "agents:threads", "dashboard:overview"):
        url = reverse(name)
        html = page.get(url).content.decode()
        assert "Alpha" in html, url
        assert "Bravo" not in html, url


def test_it_ignores_a_run_filter_naming_another_users_agent(page, bob):
    other = make_agent(bob, name="Bravo")
    make_run(other)
    response = page.get(reverse("agents:runs"), {"agent": other.pk})
    assert response.status_code == 200
    assert "Bravo" not in response.content.decode()
    assert "ignored" in response.content.decode()


def test_it_does_not_create_an_agent_in_someone_elses_workspace(page, bob):
    response = page.post(reverse("agents:create"), form_data(workspace=personal_workspace_for(bob).pk))
    assert response.status_code == 200
    assert "workspace" in response.context["form"].errors
    assert not Agent.objects.exists()


# --- viewers read but do not write ----------------------------------------------------


@pytest.fixture
def shared_agent(alice, bob):
    """Bob's agent in a workspace where alice is a viewer."""
    agent = make_agent(bob, name="Shared")
    membership_add(workspace=agent.workspace, user=alice, role=Membership.Role.VIEWER)
    return agent


def test_a_viewer_sees_the_agent_without_write_buttons(page, shared_agent):
    response = page.get(reverse("agents:detail", args=[shared_agent.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Shared" in html
    assert reverse("agents:run_now", args=[shared_agent.pk]) not in html
    assert reverse("agents:edit", args=[shared_agent.pk]) not in html
    run = make_run(shared_agent, status=RunStatus.RUNNING)
    html = page.get(reverse("agents:run", args=[run.pk])).content.decode()
    assert reverse("agents:run_cancel", args=[run.pk]) not in html


def test_a_viewer_gets_403_on_every_write(page, shared_agent):
    run = make_run(shared_agent, status=RunStatus.QUEUED)
    assert page.get(reverse("agents:edit", args=[shared_agent.pk])).status_code == 403
    assert page.get(reverse("agents:delete", args=[shared_agent.pk])).status_code == 403
    for url, data in [
        (reverse("agents:edit", args=[shared_agent.pk]), form_data(name="Changed")),
        (reverse("agents:run_now", args=[shared_agent.pk]), {}),
        (reverse("agents:pause", args=[shared_agent.pk]), {}),
        (reverse("agents:resume", args=[shared_agent.pk]), {}),
        (reverse("agents:run_cancel", args=[run.pk]), {}),
        (reverse("agents:delete", args=[shared_agent.pk]), {}),
    ]:
        assert page.post(url, data).status_code == 403, url
    shared_agent.refresh_from_db()
    run.refresh_from_db()
    assert shared_agent.name == "Shared"
    assert run.status == RunStatus.QUEUED
    assert Run.objects.count() == 1


def test_a_viewer_cannot_pick_the_read_only_workspace_for_a_new_agent(page, shared_agent):
    form = page.get(reverse("agents:create")).context["form"]
    assert shared_agent.workspace not in form.fields["workspace"].queryset
    response = page.post(reverse("agents:create"), form_data(workspace=shared_agent.workspace_id))
    assert "workspace" in response.context["form"].errors
    assert Agent.objects.count() == 1


# --- the agent form ---------------------------------------------------------------------


def test_it_creates_an_agent_in_the_personal_workspace_by_default(page, alice):
    form = page.get(reverse("agents:create")).context["form"]
    assert form["workspace"].value() == personal_workspace_for(alice).pk
    response = page.post(
        reverse("agents:create"),
        form_data(workspace=personal_workspace_for(alice).pk, api_key="sk-secret-123"),
    )
    agent = Agent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.pk])
    assert agent.workspace == personal_workspace_for(alice)
    assert agent.allowed_tools == ["remember", "finish"]
    assert agent.provider_settings == {"steps": [{"tool": "finish", "args": {"answer": "hi"}}]}
    assert agent.api_key == "sk-secret-123"
    html = page.get(response["Location"]).content.decode()
    assert "created" in html
    assert "sk-secret-123" not in html


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"allowed_tools": ["remember", "rm_rf"]}, "allowed_tools", "rm_rf"),
        ({"provider_settings": '{"steps": [}'}, "provider_settings", "Enter a valid JSON"),
        ({"provider_settings": "[1, 2]"}, "provider_settings", "JSON object"),
        ({"provider_settings": '{"steps": [{"args": {}}]}'}, "provider_settings", "steps[0]"),
        ({"max_steps": "-1"}, "max_steps", "greater than or equal to"),
        ({"max_cost_usd": "-0.5"}, "max_cost_usd", "greater than or equal to 0"),
        ({"max_tokens": "0"}, "max_tokens", "greater than or equal to 1"),
        ({"max_seconds": "999999"}, "max_seconds", "At most"),
        ({"provider": "gpt-magic"}, "provider", "gpt-magic"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_it_shows_validation_errors_on_the_field(page, alice, overrides, field, text):
    response = page.post(reverse("agents:create"), form_data(workspace=personal_workspace_for(alice).pk, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert text in " ".join(errors[field])
    html = response.content.decode()
    assert "Please correct the fields marked below" in html
    assert not Agent.objects.exists()


def test_it_keeps_invalid_json_as_typed(page, alice):
    response = page.post(
        reverse("agents:create"),
        form_data(workspace=personal_workspace_for(alice).pk, provider_settings='{"steps": ['),
    )
    assert "{&quot;steps&quot;: [</textarea>" in response.content.decode()


def test_editing_keeps_the_stored_api_key_when_left_blank(page, alice):
    agent = make_agent(alice, api_key="sk-old")
    edit = reverse("agents:edit", args=[agent.pk])
    html = page.get(edit).content.decode()
    assert "sk-old" not in html
    assert "A key is stored" in html
    response = page.post(edit, form_data(name="Renamed", api_key=""))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.name == "Renamed"
    assert agent.api_key == "sk-old"

    page.post(edit, form_data(api_key="sk-new"))
    agent.refresh_from_db()
    assert agent.api_key == "sk-new"

    page.post(edit, form_data(clear_api_key="on"))
    agent.refresh_from_db()
    assert agent.api_key == ""


def test_editing_does_not_move_an_agent_between_workspaces(page, alice):
    from workspaces.services import workspace_create

    other = workspace_create(name="Team", owner=alice)
    agent = make_agent(alice)
    page.post(reverse("agents:edit", args=[agent.pk]), form_data(workspace=other.pk))
    agent.refresh_from_db()
    assert agent.workspace == personal_workspace_for(alice)


def test_the_edit_form_shows_stored_settings_as_indented_json(page, alice):
    agent = make_agent(alice)
    html = page.get(reverse("agents:edit", args=[agent.pk])).content.decode()
    assert "{\n  &quot;steps&quot;: [" in html


# --- agent actions ------------------------------------------------------------------------


def test_run_now_creates_a_run_and_opens_its_page(page, alice, run_inline):
    agent = make_agent(alice)
    with run_inline(execute=True):
        response = page.post(reverse("agents:run_now", args=[agent.pk]), {"task": "hello"})
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:run", args=[run.pk])
    assert run.source == RunSource.MANUAL
    assert run.input == {"task": "hello"}
    assert run.source_ref == f"user:{alice.pk}"
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.reason or run.error
    html = page.get(response["Location"]).content.decode()
    assert "done: hello" in html
    assert 'data-status="succeeded"' in html
    assert "remember" in html
    assert "finish" in html
    assert "hx-trigger" not in html


def test_run_now_without_a_task_records_no_task(page, alice):
    agent = make_agent(alice)
    page.post(reverse("agents:run_now", args=[agent.pk]), {"task": "  "})
    assert Run.objects.get().input == {}


def test_run_now_on_a_paused_agent_shows_the_skipped_run(page, alice):
    agent = make_agent(alice, state=Agent.State.PAUSED, state_reason="Paused for maintenance.")
    response = page.post(reverse("agents:run_now", args=[agent.pk]), follow=True)
    run = Run.objects.get()
    assert run.status == RunStatus.SKIPPED
    assert response.redirect_chain[-1][0] == reverse("agents:run", args=[run.pk])
    html = response.content.decode()
    assert "Paused for maintenance." in html
    assert "was skipped" in html


def test_run_now_is_post_only(page, alice):
    agent = make_agent(alice)
    assert page.get(reverse("agents:run_now", args=[agent.pk])).status_code == 405
    assert not Run.objects.exists()


def test_pause_and_resume(page, alice):
    agent = make_agent(alice)
    page.post(reverse("agents:pause", args=[agent.pk]))
    agent.refresh_from_db()
    assert agent.state == Agent.State.PAUSED
    assert "Resume" in page.get(reverse("agents:detail", args=[agent.pk])).content.decode()
    page.post(reverse("agents:resume", args=[agent.pk]))
    agent.refresh_from_db()
    assert agent.state == Agent.State.ACTIVE


def test_delete_asks_first_then_deletes_with_runs(page, alice):
    agent = make_agent(alice)
    make_run(agent)
    html = page.get(reverse("agents:delete", args=[agent.pk])).content.decode()
    assert "cannot be undone" in html
    assert Agent.objects.exists()
    response = page.post(reverse("agents:delete", args=[agent.pk]))
    assert response["Location"] == reverse("agents:list")
    assert not Agent.objects.exists()
    assert not Run.objects.exists()


# --- run page -----------------------------------------------------------------------------


def test_the_run_page_shows_status_reason_attempts_totals_and_steps(page, alice):
    agent = make_agent(alice)
    run = make_run(
        agent,
        status=RunStatus.FAILED,
        reason="Budget hit: max steps",
        attempt=2,
        max_attempts=3,
        input_tokens=1234,
        output_tokens=56,
        step_count=1,
        tool_call_count=1,
        no_tool_calls=True,
        error="Traceback: boom",
    )
    html = page.get(reverse("agents:run", args=[run.pk])).content.decode()
    assert 'class="badge status-failed"' in html
    assert "Budget hit: max steps" in html
    assert "2 of 3" in html
    assert "1,234" in html
    assert "no tool calls" in html
    assert "Traceback: boom" in html
    assert "&quot;key&quot;: &quot;k&quot;" in html  # step input, pretty JSON


def test_the_live_fragment_polls_while_active_and_stops_when_final(page, alice):
    run = make_run(make_agent(alice), status=RunStatus.QUEUED)
    live = reverse("agents:run_live", args=[run.pk])
    for url in (reverse("agents:run", args=[run.pk]), live):
        html = page.get(url).content.decode()
        assert f'hx-get="{live}"' in html
        assert 'hx-trigger="every 1s"' in html
        assert 'hx-swap="outerHTML"' in html
    fragment = page.get(live, HTTP_HX_REQUEST="true")
    assert "<html" not in fragment.content.decode()
    assert "no-cache" in fragment["Cache-Control"]

    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, output="finished!")
    html = page.get(live, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in html
    assert "finished!" in html
    assert 'data-status="succeeded"' in html


def test_the_live_fragment_reloads_the_page_when_the_session_has_ended(client, alice):
    run = make_run(make_agent(alice), status=RunStatus.RUNNING)
    response = client.get(reverse("agents:run_live", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


def test_cancel_stops_a_queued_run(page, alice):
    run = make_run(make_agent(alice), status=RunStatus.QUEUED)
    html = page.get(reverse("agents:run", args=[run.pk])).content.decode()
    assert "Cancel run" in html
    page.post(reverse("agents:run_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert "Cancel run" not in page.get(reverse("agents:run", args=[run.pk])).content.decode()


def test_cancel_of_a_finished_run_changes_nothing(page, alice):
    run = make_run(make_agent(alice), status=RunStatus.SUCCEEDED)
    response = page.post(reverse("agents:run_cancel", args=[run.pk]), follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert "already succeeded" in response.content.decode()


def test_the_run_list_filters_and_paginates(page, alice):
    agent = make_agent(alice)
    for _ in range(3):
        make_run(agent, status=RunStatus.FAILED)
    make_run(agent, status=RunStatus.SKIPPED, reason="Overlap policy 'skip'")
    response = page.get(reverse("agents:runs"), {"status": "skipped"})
    assert list(response.context["runs"]) == list(Run.objects.filter(status=RunStatus.SKIPPED))
    response = page.get(reverse("agents:runs"), {"status": "exploded"})
    assert response.status_code == 200
    assert len(response.context["runs"]) == 4
    assert "ignored" in response.content.decode()

    from agents import views

    views.RUNS_PER_PAGE, old = 2, views.RUNS_PER_PAGE
    try:
        response = page.get(reverse("agents:runs"), {"status": "failed", "page": "2"})
        assert len(response.context["runs"]) == 1
        assert "?status=failed&amp;page=1" in response.content.decode()
        assert page.get(reverse("agents:runs"), {"page": "nonsense"}).status_code == 200
    finally:
        views.RUNS_PER_PAGE = old


# --- threads ------------------------------------------------------------------------------


def test_the_thread_page_shows_messages_and_state(page, alice):
    agent = make_agent(alice)
    run = make_run(agent)
    thread = run.thread
    thread.agent_state = {"greeting": "hello", "count": 2}
    thread.save()
    html = page.get(reverse("agents:thread", args=[thread.pk])).content.decode()
    assert "hello there" in html
    assert "&quot;greeting&quot;: &quot;hello&quot;" in html
    assert reverse("agents:run", args=[run.pk]) in html


# --- overview -----------------------------------------------------------------------------


def test_the_overview_counts_runs_and_lists_agents_needing_attention(page, alice):
    agent = make_agent(alice, name="Steady")
    make_run(agent, status=RunStatus.SUCCEEDED)
    make_run(agent, status=RunStatus.SUCCEEDED)
    make_run(agent, status=RunStatus.FAILED)
    make_agent(alice, name="Sleepy", state=Agent.State.PAUSED, state_reason="Auto-paused after 5 failures.")
    response = page.get(reverse("dashboard:overview"))
    counts = {item["status"]: item["count"] for item in response.context["status_counts"]}
    assert counts["succeeded"] == 2
    assert counts["failed"] == 1
    assert counts["queued"] == 0
    assert [a.name for a in response.context["attention_agents"]] == ["Sleepy"]
    html = response.content.decode()
    assert "Auto-paused after 5 failures." in html
    for label in ("Database", "Broker", "Workers", "Dispatcher"):
        assert label in html


# --- API tokens ---------------------------------------------------------------------------


def test_a_new_token_is_shown_once(page, alice):
    response = page.post(reverse("workspaces:tokens"), {"name": "CI", "scope": "read", "expires_in_days": "30"})
    assert response.status_code == 200
    raw = response.context["raw_key"]
    token = APIToken.objects.get(user=alice)
    assert token.key_hash == hash_token(raw)
    assert token.scope == "read"
    assert token.expires is not None
    html = response.content.decode()
    assert raw in html
    assert "will not be shown again" in html
    assert "no-store" in response["Cache-Control"]
    again = page.get(reverse("workspaces:tokens")).content.decode()
    assert raw not in again
    assert token.prefix in again


def test_a_token_name_is_required(page, alice):
    response = page.post(reverse("workspaces:tokens"), {"name": "", "scope": "write"})
    assert "name" in response.context["form"].errors
    assert not APIToken.objects.exists()


def test_revoking_a_token(page, alice, bob):
    mine, _ = APIToken.issue(user=alice, name="mine")
    theirs, _ = APIToken.issue(user=bob, name="theirs")
    assert page.post(reverse("workspaces:token_revoke", args=[theirs.pk])).status_code == 404
    assert "theirs" not in page.get(reverse("workspaces:tokens")).content.decode()
    response = page.post(reverse("workspaces:token_revoke", args=[mine.pk]))
    assert response["Location"] == reverse("workspaces:tokens")
    assert list(APIToken.objects.all()) == [theirs]
