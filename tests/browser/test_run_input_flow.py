"""Run input in a real Chromium: JSON input checked as you type, schema violations on the
field, Run again with the same input and payload, and a copy button that really copies."""

from __future__ import annotations

import json
import re

import pytest

from agents.models import Agent, Run
from tests.browser.test_agent_flow import log_in, make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.browser

SCRIPT = {"steps": [{"tool": "finish", "args": {"answer": "weather for {{ input.city }} ({{ payload.source }})"}}]}
CITY = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
SHOTS = "/tmp/gradent-ui-runs"


@pytest.fixture
def run_runs_inline(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def make_agent(user, **fields) -> Agent:
    return Agent.objects.create(
        workspace=personal_workspace_for(user),
        name="Forecaster",
        provider="scripted",
        provider_settings=SCRIPT,
        allowed_tools=["finish"],
        overlap_policy="allow",
        **fields,
    )


def shot(page, name: str) -> None:
    import os

    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_a_run_with_json_input_then_run_again_repeats_it(page, live_server, run_runs_inline):
    from playwright.sync_api import expect

    user = make_user("ada")
    agent = make_agent(user, input_schema=CITY)
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/agents/{agent.pk}/")
    page.get_by_label("Input (JSON)").fill(json.dumps({"city": "Lisbon"}))
    page.get_by_label("Payload (JSON)").fill(json.dumps({"source": "browser"}))
    shot(page, "agent-run-now")
    page.get_by_role("button", name="Run now").click()

    first = Run.objects.get(agent=agent)
    page.wait_for_url(re.compile(rf"/agents/runs/{first.pk}/$"))
    status = page.locator("#run-live .run-status .badge[data-status]")
    expect(status).to_have_text("Succeeded", timeout=20_000)
    expect(page.locator("pre.output")).to_have_text("weather for Lisbon (browser)")
    expect(page.locator(".attempt-summary")).to_have_text("Attempt 1 of 3 — succeeded")
    shot(page, "run-detail")

    page.get_by_role("button", name="Run again").click()
    page.wait_for_url(lambda url: not url.endswith(f"/agents/runs/{first.pk}/"))
    second = Run.objects.exclude(pk=first.pk).get(agent=agent)
    assert page.url.endswith(f"/agents/runs/{second.pk}/")
    expect(status).to_have_text("Succeeded", timeout=20_000)
    expect(page.locator("pre.output")).to_have_text("weather for Lisbon (browser)")
    assert (second.input, second.payload) == ({"city": "Lisbon"}, {"source": "browser"})

    # The next Run now starts from the last input.
    page.goto(f"{live_server.url}/agents/{agent.pk}/")
    assert json.loads(page.get_by_label("Input (JSON)").input_value()) == {"city": "Lisbon"}


def test_invalid_json_and_schema_violations_are_shown_on_the_field(page, live_server, run_runs_inline):
    from playwright.sync_api import expect

    user = make_user("ada")
    agent = make_agent(user, input_schema=CITY)
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/agents/{agent.pk}/")
    field = page.get_by_label("Input (JSON)")

    field.fill('{"city": ')
    error = page.locator("#id_input-json-error")
    expect(error).to_contain_text("Not valid JSON")
    expect(field).to_have_attribute("aria-invalid", "true")
    shot(page, "agent-invalid-json")
    page.get_by_role("button", name="Run now").click()  # held back in the browser
    page.wait_for_timeout(300)
    assert not Run.objects.exists()

    field.fill("[1, 2]")
    expect(error).to_contain_text("Must be a JSON object")
    field.fill('{"city": 7}')
    expect(error).to_be_hidden()

    page.get_by_role("button", name="Run now").click()  # the server checks the schema
    expect(page.locator(".field.has-error .errorlist")).to_have_text("input.city: 7 is not of type 'string'")
    assert json.loads(page.get_by_label("Input (JSON)").input_value()) == {"city": 7}  # kept, indented
    shot(page, "agent-schema-violation")
    assert not Run.objects.exists()


def test_a_copy_button_puts_the_new_token_on_the_clipboard(browser, live_server):
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        make_user("ada")
        log_in(page, live_server, "ada")
        page.goto(f"{live_server.url}/account/tokens/")
        page.get_by_label("Name").fill("CI script")
        page.get_by_role("button", name="Create token").click()
        key = page.locator("#new-key").input_value()
        assert len(key) > 20
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == key
        shot(page, "tokens-copied")
    finally:
        context.close()
