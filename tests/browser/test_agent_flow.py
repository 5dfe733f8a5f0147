"""A person's path through the pages, in a real Chromium: log in, create a scripted agent,
run it, watch the run page until it has finished."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from agents.models import Agent, Run, RunStatus, RunStep
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.browser

PASSWORD = "pw-Secret-123"
SCRIPT = {
    "steps": [
        {"tool": "remember", "args": {"key": "greeting", "value": "{{ input.task }}"}},
        {"tool": "finish", "args": {"answer": "done: {{ input.task }}"}},
    ]
}


@pytest.fixture
def run_runs_inline(monkeypatch):
    """django-q2 executes enqueued tasks in-process (in the live server's thread) when the
    start_run transaction commits. Conf is read once at import, so it is patched."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def make_user(username: str = "ada"):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Overview").is_visible()


def test_a_user_creates_a_scripted_agent_and_watches_its_run_succeed(page, live_server, run_runs_inline, screenshot):
    from playwright.sync_api import expect

    user = make_user()
    log_in(page, live_server, "ada")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Name", exact=True).fill("Greeter")
    page.get_by_label("Description").fill("Remembers the task and says it is done.")
    page.get_by_label("Provider", exact=True).select_option("scripted")
    page.get_by_label("Provider settings").fill(json.dumps(SCRIPT, indent=2))
    page.locator("input[name=allowed_tools][value=remember]").check()
    page.locator("input[name=allowed_tools][value=finish]").check()
    page.get_by_role("button", name="Create agent").click()

    agent = Agent.objects.get(name="Greeter")
    assert agent.workspace == personal_workspace_for(user)
    assert set(agent.allowed_tools) == {"remember", "finish"}
    expect(page.get_by_role("heading", name="Greeter")).to_be_visible()
    expect(page.get_by_text("Agent “Greeter” created.")).to_be_visible()

    page.get_by_label("Task").fill("hello world")
    page.get_by_role("button", name="Run now").click()

    run = Run.objects.get(agent=agent)
    page.wait_for_url(re.compile(rf"/agents/runs/{run.pk}/$"))
    status = page.locator("#run-live .run-status .badge[data-status]")
    expect(status).to_have_text("Succeeded", timeout=20_000)
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    expect(page.locator(".step-name")).to_have_text(["remember", "finish"])
    expect(page.locator("pre.output")).to_have_text("done: hello world")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.input == {"task": "hello world"}
    assert run.thread.agent_state == {"greeting": "hello world"}

    # A step's input is pretty JSON inside a <details>.
    page.locator(".step").first.get_by_text("Input", exact=True).click()
    expect(page.locator(".step").first.locator("pre.json").first).to_contain_text('"value": "hello world"')
    screenshot(page, "screenshot-run.png")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Recent runs")).to_be_visible()
    expect(page.locator("table.runs").get_by_role("link", name=f"#{run.pk}")).to_be_visible()
    screenshot(page, "screenshot-dashboard.png")


def test_the_run_page_follows_a_run_live_and_stops_polling_when_it_ends(page, live_server):
    """No worker here: the test moves the run along in the database and the page follows."""
    from playwright.sync_api import expect

    user = make_user("grace")
    agent = Agent.objects.create(
        workspace=personal_workspace_for(user), name="Watcher", provider="scripted", provider_settings=SCRIPT
    )
    run = Run.objects.create(workspace=agent.workspace, agent=agent, thread=agent.primary_thread())
    log_in(page, live_server, "grace")

    page.goto(f"{live_server.url}/agents/runs/{run.pk}/")
    status = page.locator("#run-live .run-status .badge[data-status]")
    expect(status).to_have_text("Queued")
    expect(page.locator("#run-live")).to_have_attribute("hx-trigger", "every 1s")
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()

    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempt=1)
    RunStep.objects.create(run=run, index=0, kind=RunStep.Kind.TOOL_CALL, name="remember", input={"key": "k"})
    expect(status).to_have_text("Running", timeout=5_000)
    expect(page.locator(".step-name")).to_have_text(["remember"], timeout=5_000)

    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, output="all done")
    expect(status).to_have_text("Succeeded", timeout=5_000)
    expect(page.locator("pre.output")).to_have_text("all done")
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)

    # Polling has stopped: a later change in the database does not reach the page.
    Run.objects.filter(pk=run.pk).update(output="changed behind the page's back")
    page.wait_for_timeout(2_500)
    expect(page.locator("pre.output")).to_have_text("all done")
