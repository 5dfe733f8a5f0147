"""A person's path through the autonomy pages, in a real Chromium: log in, switch
autonomous mode on with a frequency through the form and see the next cycle scheduled, then
open a recorded metric's page and see its history and forecast drawn by the chart library."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from autonomy.models import AutonomousConfig, MetricPoint
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.browser

PASSWORD = "pw-Secret-123"


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_a_user_switches_autonomous_mode_on_and_sees_a_metric_chart(page, live_server, screenshot):
    from playwright.sync_api import expect

    user = get_user_model().objects.create_user(username="ada", password=PASSWORD)
    workspace = personal_workspace_for(user)
    log_in(page, live_server, "ada")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Autonomy").click()
    page.wait_for_url(f"{live_server.url}/autonomy/")
    expect(page.get_by_role("heading", name="Autonomy", exact=True)).to_be_visible()
    next_cycle = page.locator("dt:text-is('Next cycle') + dd")
    expect(next_cycle).to_have_text("not scheduled")
    expect(page.get_by_text("No metrics recorded yet")).to_be_visible()

    # The mode form: each label on its own line, above or beside its field, not run together.
    expect(page.get_by_role("button", name="Run a cycle now")).to_be_visible()
    switch = page.locator("label", has_text="Autonomous mode on").bounding_box()
    frequency_label = page.locator("label[for=id_frequency]").bounding_box()
    executor_label = page.locator("label[for=id_executor]").bounding_box()
    assert frequency_label["y"] >= switch["y"] + switch["height"], (switch, frequency_label)
    assert executor_label["x"] >= frequency_label["x"] + frequency_label["width"] or (
        executor_label["y"] >= frequency_label["y"] + frequency_label["height"]
    )
    for label in ("Discord webhook URL", "ntfy topic", "Executor agent", "Start the first cycle now"):
        expect(page.get_by_label(label)).to_be_visible()

    # Switch it on, every 30 minutes, through the form.
    enabled = page.get_by_label("Autonomous mode on")
    expect(enabled).not_to_be_checked()
    enabled.check()
    page.get_by_label("Frequency").select_option("30min")
    before = timezone.now()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Autonomous mode saved.")).to_be_visible()
    assert page.url == f"{live_server.url}/autonomy/"
    expect(page.get_by_label("Autonomous mode on")).to_be_checked()
    expect(page.get_by_label("Frequency")).to_have_value("30min")
    expect(next_cycle).to_have_text(re.compile(r"^in (29|30) min$"))
    screenshot(page, "screenshot-autonomy-overview.png")
    config = AutonomousConfig.objects.get(workspace=workspace)
    assert config.enabled and config.frequency == "30min"
    assert before + timedelta(minutes=30) <= config.next_execution <= timezone.now() + timedelta(minutes=30)

    # A few hourly points of a noisy rising metric, recorded through the ORM.
    now = timezone.now()
    noise = [0.0, 1.5, -1.0, 2.0, 0.5, -1.5, 1.0, 0.0]
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(
                workspace=workspace, name="cpu_usage", value=40.0 + 3 * k + wobble, at=now - timedelta(hours=7 - k)
            )
            for k, wobble in enumerate(noise)
        ]
    )
    page.reload()
    expect(page.get_by_text("No metrics recorded yet")).to_have_count(0)
    page.get_by_role("link", name="cpu_usage").click()
    page.wait_for_url(f"{live_server.url}/autonomy/metrics/cpu_usage/")

    expect(page.get_by_role("heading", name="cpu_usage")).to_be_visible()
    expect(page.get_by_text("Latest value: 61 (8 points in the last 14 days)")).to_be_visible()
    chart = page.locator(".chart[data-drawn]")
    expect(chart.locator(".uplot canvas")).to_have_count(1)
    legend = chart.locator(".u-legend .u-series th .u-label")
    # 8 points are enough to forecast: the history, the forecast line and its band's edges,
    # and cpu_usage's default rule drawn as its two thresholds.
    expect(legend).to_have_text(
        ["time", "value", "forecast", "lower", "upper", "warning (above 80)", "critical (above 95)"]
    )
    box = chart.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 30, box
    screenshot(page, "screenshot-autonomy.png")
