"""Every page satisfies the Content Security Policy (no inline script, style or handler;
nothing from elsewhere), htmx's live parts included: Chromium reports no violation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from agents.models import RunStatus
from autonomy.models import Goal, MetricPoint
from tests.notifications.helpers import make_channel
from tests.pages.test_pages import make_agent, make_run
from tests.pages.test_proactive_pages import make_delivery, make_monitor, make_schedule, make_trigger, make_webhook
from workspaces.models import APIToken, personal_workspace_for

pytestmark = pytest.mark.browser

PASSWORD = "pw-Secret-123"
# Kept by the page from its first script on: violations of one page, read after it settled.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""
# What the policy refuses, in the HTML as served (an inline handler is only reported by the
# browser once its event fires).
# Inline code: a <script> without src (a data block, type="application/json" from json_script,
# is not run and not covered by script-src), a <style>, an on* handler, a style attribute.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b|\son[a-z]+\s*=|\sstyle\s*=",
    re.IGNORECASE,
)


def one_of_everything(user) -> list[str]:
    workspace = personal_workspace_for(user)
    agent = make_agent(user, name="Alpha")
    run = make_run(agent, output="all good")
    running = make_run(agent, status=RunStatus.RUNNING, started_at=timezone.now())
    schedule = make_schedule(agent)
    monitor = make_monitor(agent)
    trigger = make_trigger(agent)
    webhook = make_webhook(trigger)
    delivery = make_delivery(webhook)
    channel = make_channel("ntfy", {"topic": "gradent"}, user=user)
    APIToken.issue(user=user, name="ci", scope="read")
    now = timezone.now()
    for k in range(12):
        MetricPoint.objects.create(workspace=workspace, name="cpu", value=50 + k, at=now - timedelta(hours=11 - k))
    goal = Goal.objects.create(workspace=workspace, goal_type="cost_reduction", title="Trim the spend", cause="c")
    return [
        reverse("dashboard:overview"),
        reverse("agents:list"),
        reverse("agents:create"),
        reverse("agents:detail", args=[agent.pk]),
        reverse("agents:edit", args=[agent.pk]),
        reverse("agents:runs"),
        reverse("agents:run", args=[run.pk]),
        reverse("agents:run", args=[running.pk]),  # htmx polls its live part
        reverse("agents:threads"),
        reverse("agents:thread", args=[run.thread_id]),
        reverse("proactive:schedules"),
        reverse("proactive:schedule_create"),
        reverse("proactive:schedule", args=[schedule.pk]),
        reverse("proactive:schedule_edit", args=[schedule.pk]),
        reverse("proactive:monitors"),
        reverse("proactive:monitor", args=[monitor.pk]),
        reverse("proactive:monitor_create"),
        reverse("proactive:triggers"),
        reverse("proactive:trigger", args=[trigger.pk]),
        reverse("proactive:webhooks"),
        reverse("proactive:webhook", args=[webhook.pk]),
        reverse("proactive:delivery", args=[webhook.pk, delivery.pk]),
        reverse("proactive:suggestions"),
        reverse("notifications:list"),
        reverse("notifications:create"),
        reverse("notifications:detail", args=[channel.pk]),
        reverse("autonomy:overview"),
        reverse("autonomy:insights"),
        reverse("autonomy:metric", args=["cpu"]),
        reverse("autonomy:goal", args=[goal.pk]),
        reverse("workspaces:tokens"),
        reverse("admin:index"),
        reverse("admin:agents_agent_changelist"),
        reverse("admin:agents_agent_change", args=[agent.pk]),
        "/api/docs/",
    ]


def test_no_page_violates_the_content_security_policy(page, live_server):
    user = get_user_model().objects.create_superuser("ada", password=PASSWORD)
    urls = one_of_everything(user)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    page.context.add_init_script(RECORD_VIOLATIONS)

    page.goto(f"{live_server.url}/accounts/login/")
    header = page.request.get(f"{live_server.url}/accounts/login/").headers["content-security-policy"]
    assert "script-src 'self'" in header and "unsafe-inline" not in header
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")

    violations: dict[str, list[str]] = {}
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        inline = INLINE.findall(response.text())
        if inline:
            violations[url] = inline
        page.wait_for_load_state("networkidle")
        if url == reverse("proactive:schedule_create"):
            # The live preview is an htmx POST whose answer is swapped into the page.
            page.get_by_label("Cron expression").fill("*/5 * * * *")
            page.wait_for_timeout(800)
            page.wait_for_load_state("networkidle")
        if url.startswith("/agents/runs/"):
            page.wait_for_timeout(1500)  # a poll of the live part or two
        if url == "/api/docs/":
            page.locator(".opblock").first.wait_for()  # Swagger UI read the schema and drew it
        found = page.evaluate("window.__cspViolations")
        if found:
            violations.setdefault(url, []).extend(found)
    refused = [text for text in console if "Content Security Policy" in text]
    assert violations == {} and refused == [], (violations, refused)
