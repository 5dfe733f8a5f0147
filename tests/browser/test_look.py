"""How the pages look and read, in a real Chromium: the charts drawn by uPlot (axis, forecast
band, thresholds, hover values, run timelines), the 390 px layout with its menu button, and
times in the user's own zone with the UTC instant on hover.

With GRADENT_SHOTS=DIR the main pages are also photographed at desktop and 390 px into DIR;
with GRADENT_SCREENSHOTS=1 the docs' screenshots are replaced (see conftest)."""

from __future__ import annotations

import os
import re
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Agent, Run, RunSource, RunStatus
from autonomy.models import MetricPoint, MetricRule
from proactive.models import Schedule
from workspaces.models import UserProfile, personal_workspace_for

pytestmark = pytest.mark.browser

PASSWORD = "pw-Secret-123"
NARROW = {"width": 390, "height": 844}
OUTCOMES = [RunStatus.SUCCEEDED] * 5 + [RunStatus.FAILED, RunStatus.SUCCEEDED, RunStatus.TIMED_OUT, RunStatus.SKIPPED]


@pytest.fixture
def world():
    """A user with an agent, a schedule and 40 runs of mixed outcomes over two days, and a
    metric with a rule."""
    user = get_user_model().objects.create_user(username="ada", password=PASSWORD)
    workspace = personal_workspace_for(user)
    agent = Agent.objects.create(
        workspace=workspace,
        name="Nightly report",
        description="Summarises yesterday's tickets and posts the summary.",
        provider="scripted",
        provider_settings={"steps": [], "answer": "ok"},
    )
    schedule = Schedule.objects.create(
        workspace=workspace, agent=agent, name="Every 6 hours", cron_expression="0 */6 * * *"
    )
    now = timezone.now()
    runs = []
    for k in range(40):
        status = OUTCOMES[k % len(OUTCOMES)]
        created = now - timedelta(hours=48) + timedelta(hours=1.2 * k)
        ran = status != RunStatus.SKIPPED
        run = Run.objects.create(
            workspace=workspace,
            agent=agent,
            status=status,
            source=RunSource.SCHEDULE if k % 2 else RunSource.MANUAL,
            source_ref=schedule.source_ref if k % 2 else "",
            reason="" if status == RunStatus.SUCCEEDED else f"{status}: see the log",
            started_at=created + timedelta(seconds=1) if ran else None,
            finished_at=created + timedelta(seconds=2 + (k * 7) % 45 + 0.37) if ran else None,
            input={"task": f"tickets of day {k}"},
            output="ok" if status == RunStatus.SUCCEEDED else "",
            input_tokens=1200 + 10 * k,
            output_tokens=300,
        )
        runs.append(run)
    for k, run in enumerate(runs):  # `created` is auto_now_add: spread the runs over two days
        Run.objects.filter(pk=run.pk).update(created=now - timedelta(hours=48) + timedelta(hours=1.2 * k))
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(
                workspace=workspace,
                name="queue_depth",
                value=40 + 1.7 * k + (k % 3) * 1.3,
                at=now - timedelta(hours=23 - k),
            )
            for k in range(24)
        ]
    )
    MetricRule.objects.create(workspace=workspace, metric_name="queue_depth", warning=75, critical=90)
    return {"user": user, "agent": agent, "schedule": schedule, "runs": runs}


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def choose_zone(user, zone: str) -> None:
    UserProfile.objects.update_or_create(user=user, defaults={"timezone": zone})


def shoot(page, name: str) -> None:
    folder = os.environ.get("GRADENT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_the_metric_chart_has_a_time_axis_a_forecast_band_thresholds_and_hover_values(page, live_server, world):
    from playwright.sync_api import expect

    choose_zone(world["user"], "Europe/Riga")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/autonomy/metrics/queue_depth/")
    chart = page.locator(".chart[data-chart=metric][data-drawn]")
    expect(chart.locator(".uplot canvas")).to_have_count(1)
    expect(chart.locator(".u-legend .u-series th .u-label")).to_have_text(
        ["time", "value", "forecast", "lower", "upper", "warning (above 75)", "critical (above 90)"]
    )
    expect(chart.locator(".u-legend tr.threshold-critical")).to_have_count(1)
    expect(chart.locator(".u-axis")).to_have_count(2)  # uPlot's axis boxes: time and value

    drawn = chart.evaluate(
        """el => ({
            xTicks: el.uplot.axes[0]._values,
            yTicks: el.uplot.axes[1]._values,
            yMax: el.uplot.scales.y.max,
            critical: el.uplot.data[6],
            bands: el.uplot.bands.map(b => b.series),
        })"""
    )
    # Time axis: 24-hour times in the user's zone, a date under each day's first tick.
    assert drawn["xTicks"] and all(re.fullmatch(r"\d\d:\d\d(\n[A-Z][a-z]{2} \d{1,2})?", t) for t in drawn["xTicks"])
    assert drawn["yMax"] >= 90, drawn  # the thresholds are inside the drawn range
    assert set(drawn["critical"]) == {90}
    assert drawn["bands"] == [[4, 3]]  # the band between upper and lower
    assert all(re.fullmatch(r"[\d,]+(\.\d{1,3})?", t) for t in drawn["yTicks"]), drawn["yTicks"]

    # Hover: the legend shows the values under the cursor, rounded, and the time in Riga.
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    value = chart.locator(".u-legend tr.u-series").nth(1).locator(".u-value")
    expect(value).to_have_text(re.compile(r"^\d{2}(\.\d)?$"))
    when = chart.locator(".u-legend tr.u-series").nth(0).locator(".u-value")
    expect(when).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    expect(page.get_by_text("Times in Europe/Riga")).to_be_visible()


def test_the_overview_agent_and_schedule_pages_draw_a_timeline_of_runs_by_status(page, live_server, world):
    from playwright.sync_api import expect

    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server)
    for path in ("/", f"/agents/{world['agent'].pk}/", f"/proactive/schedules/{world['schedule'].pk}/"):
        page.goto(f"{live_server.url}{path}")
        chart = page.locator(".chart[data-chart=runs][data-drawn]")
        expect(chart.locator(".uplot canvas")).to_have_count(1)
        assert not errors, errors
        labels = chart.locator(".u-legend .u-series th .u-label")
        expect(labels).to_have_text(["time", "Succeeded", "Failed", "Timed out", "Skipped"])
        counts = chart.evaluate("el => el.uplot.data.slice(1).map(col => col.filter(v => v !== null).length)")
        expected = 20 if path.startswith("/proactive/") else 40  # a schedule's own: the odd ones
        assert sum(counts) == expected, (path, counts)
        colours = chart.evaluate("el => el.uplot.series.slice(1).map(s => s._stroke || s.stroke())")
        assert len(set(colours)) == len(colours), colours  # one colour per status

    # Hover a point: the legend names the run and its duration; a click opens it.
    page.goto(f"{live_server.url}/agents/{world['agent'].pk}/")
    chart = page.locator(".chart[data-chart=runs][data-drawn]")
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    expect(chart.locator(".u-legend tr.u-series").nth(0).locator(".u-value")).to_have_text(re.compile(r"run #\d+"))
    last = world["runs"][-1]
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    page.wait_for_url(f"{live_server.url}/agents/runs/{last.pk}/")


def test_at_390_px_the_pages_do_not_scroll_sideways_and_the_menu_opens(browser, live_server, world):
    from playwright.sync_api import expect

    context = browser.new_context(viewport=NARROW, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        choose_zone(world["user"], "UTC")
        log_in(page, live_server)
        run = world["runs"][5]
        paths = [
            "/",
            "/agents/",
            f"/agents/{world['agent'].pk}/",
            "/agents/runs/",
            f"/agents/runs/{run.pk}/",
            "/proactive/schedules/",
            f"/proactive/schedules/{world['schedule'].pk}/",
            "/autonomy/",
            "/autonomy/metrics/queue_depth/",
            "/account/settings/",
        ]
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("load")
            widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], (path, widths)

        # Run tables keep run, status and when on screen; the rest scrolls inside the table.
        page.goto(f"{live_server.url}/agents/runs/")
        first_row = page.locator("table.runs tbody tr").first
        for cell in first_row.locator("td.key").all():
            cell_box = cell.bounding_box()
            assert cell_box["x"] + cell_box["width"] <= NARROW["width"] + 1, cell_box

        # The menu: one button; the links show when it is opened.
        page.goto(f"{live_server.url}/")
        main = page.get_by_role("navigation", name="Main")
        expect(main).to_have_count(0)  # hidden: the wide nav is not shown and the menu is closed
        menu = page.locator("summary", has_text="Menu")
        expect(menu).to_be_visible()
        menu_box = menu.bounding_box()
        header = page.locator("header.topbar").bounding_box()
        assert header["height"] < 70, header  # one row, not four
        assert menu_box["y"] < header["y"] + header["height"]
        menu.click()
        expect(main).to_be_visible()
        main.get_by_role("link", name="Schedules").click()
        page.wait_for_url(f"{live_server.url}/proactive/schedules/")
        expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_visible()
    finally:
        context.close()


def test_the_browser_zone_is_taken_once_and_times_show_it_with_utc_on_hover(browser, live_server, world):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, live_server)
        # The first page sends the browser's zone and reloads in it.
        expect(page.locator("body")).to_have_attribute("data-timezone", "America/New_York")
        assert UserProfile.objects.get(user=world["user"]).timezone == "America/New_York"

        run = world["runs"][3]
        run.refresh_from_db()
        page.goto(f"{live_server.url}/agents/runs/{run.pk}/")
        zone = ZoneInfo("America/New_York")
        created = page.locator("dt:text-is('Created') + dd time")
        expect(created).to_have_text(run.created.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"))
        expect(created).to_have_attribute("title", run.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
        expect(page.locator("dt:text-is('Times in') + dd")).to_have_text(re.compile(r"^America/New_York \(E[SD]T\)$"))

        # Lists say how long ago, with the local and the UTC instant on hover.
        page.goto(f"{live_server.url}/agents/runs/")
        latest = world["runs"][-1]
        latest.refresh_from_db()
        when = page.locator("table.runs tbody tr").first.locator("td.when time")
        expect(when).to_have_text(re.compile(r"ago$"))
        expect(when).to_have_attribute(
            "title",
            latest.created.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            + " · "
            + latest.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )

        # A zone the user chose is never replaced by the browser's.
        page.goto(f"{live_server.url}/account/settings/")
        page.get_by_label("Time zone").select_option("Asia/Tokyo")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Times are now shown in Asia/Tokyo.")).to_be_visible()
        page.goto(f"{live_server.url}/agents/runs/{run.pk}/")
        expect(created).to_have_text(run.created.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M:%S"))
        assert UserProfile.objects.get(user=world["user"]).timezone == "Asia/Tokyo"
    finally:
        context.close()


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (390, "light"), (1280, "dark")])
def test_screenshots_of_the_main_pages(browser, live_server, world, width, scheme, screenshot):
    """Pictures for people (GRADENT_SHOTS, GRADENT_SCREENSHOTS); asserts only that each page drew."""
    from playwright.sync_api import expect

    narrow = width == 390
    context = browser.new_context(viewport=NARROW if narrow else {"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        choose_zone(world["user"], "Europe/Riga")
        log_in(page, live_server)
        suffix = ("390" if narrow else "desktop") + ("-dark" if scheme == "dark" else "")
        pages = [
            ("dashboard", "/", ".chart[data-drawn]"),
            ("agent", f"/agents/{world['agent'].pk}/", ".chart[data-drawn]"),
            ("run", f"/agents/runs/{world['runs'][-4].pk}/", "#run-live"),
            ("autonomy", "/autonomy/metrics/queue_depth/", ".chart[data-drawn]"),
        ]
        for name, path, ready in pages:
            page.goto(f"{live_server.url}{path}")
            expect(page.locator(ready)).to_have_count(1)
            if name == "autonomy":  # show the hover values in the legend
                box = page.locator(".u-over").bounding_box()
                page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2)
            shoot(page, f"{name}-{suffix}.png")
            if suffix == "desktop" and name in ("dashboard", "run", "autonomy"):
                screenshot(page, f"screenshot-{name}.png")
    finally:
        context.close()


def test_dark_mode_follows_the_browser_and_the_keyboard_gets_a_skip_link_and_visible_focus(browser, live_server, world):
    from playwright.sync_api import expect

    backgrounds = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        try:
            choose_zone(world["user"], "UTC")
            log_in(page, live_server)
            backgrounds[scheme] = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            card = page.locator(".count-tile").first.evaluate("el => getComputedStyle(el).backgroundColor")
            backgrounds[f"{scheme}-card"] = card
            if scheme == "dark":
                continue
            # The first Tab stop is the skip link, shown when focused; Enter moves to the content.
            page.keyboard.press("Tab")
            skip = page.get_by_role("link", name="Skip to content")
            expect(skip).to_be_focused()
            box = skip.bounding_box()
            assert box["y"] >= 0, box  # on screen once focused
            assert skip.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
            page.keyboard.press("Enter")
            assert page.evaluate("() => document.activeElement.id") == "main"
            # Focus is visible on every control reached by keyboard.
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }"
            )
            assert focused == ["solid", "3px"], focused
            # The account links sit behind the user's name; a click elsewhere closes them.
            page.locator("summary", has_text="ada").click()
            expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Settings")).to_be_visible()
            page.locator("h1").click()
            expect(page.get_by_role("navigation", name="Account")).to_have_count(0)
        finally:
            context.close()
    assert backgrounds["light"] == "rgb(246, 247, 249)", backgrounds
    assert backgrounds["dark"] == "rgb(18, 22, 29)", backgrounds
    assert backgrounds["dark-card"] == "rgb(26, 32, 41)", backgrounds


STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def test_the_charts_menus_and_zone_script_work_under_a_strict_content_security_policy(browser, live_server, world):
    """Each page is served with a CSP that forbids inline script and inline style attributes:
    the charts still draw, the zone is still sent, and nothing of ours is refused."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Riga")
    page = context.new_page()
    refused = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )

    def with_csp(route):
        response = route.fetch(max_redirects=0)
        headers = {**response.headers, "content-security-policy": STRICT_CSP}
        route.fulfill(response=response, headers=headers)

    page.route(f"{live_server.url}/**", with_csp)
    try:
        log_in(page, live_server)
        expect(page.locator("body")).to_have_attribute("data-timezone", "Europe/Riga")  # gradent.js ran
        for path in ("/", f"/agents/{world['agent'].pk}/", "/autonomy/metrics/queue_depth/"):
            page.goto(f"{live_server.url}{path}")
            expect(page.locator(".chart[data-drawn] .uplot canvas")).to_have_count(1)
        page.locator("summary", has_text="ada").click()
        expect(page.get_by_role("navigation", name="Account")).to_be_visible()
        ours = [text for text in refused if "htmx" not in text]
        print("REFUSED", refused)
        assert not ours, ours
    finally:
        context.close()
