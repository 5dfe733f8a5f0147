"""Times on the pages: the user's zone (profile, browser default set once), one format, the
UTC instant on hover, relative times in lists, and the zone named on run pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from agents.models import Run
from tests.helpers import make_agent, make_user
from workspaces.models import UserProfile

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 4, 8, 47, 5, tzinfo=UTC)


@pytest.fixture
def ada():
    user = make_user("ada")
    client = Client()
    client.force_login(user)
    return user, client


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_the_filters_write_the_current_zone_with_utc_on_hover():
    with timezone.override("America/New_York"):
        assert render("{{ at|when }}", at=AT) == (
            '<time datetime="2026-12-04T08:47:05+00:00" title="2026-12-04 08:47:05 UTC">2026-12-04 03:47</time>'
        )
        assert ">2026-12-04 03:47:05</time>" in render('{{ at|when:"s" }}', at=AT)
        assert render("{% zone_label %}") == "America/New_York (EST)"
        assert render("{{ at|utc }}", at=AT) == "2026-12-04 08:47:05 UTC"
        ago = render("{{ at|ago }}", at=timezone.now())
        assert re.fullmatch(r'<time datetime="[^"]+" title="[\d-]+ [\d:]+ · [\d-]+ [\d:]+ UTC">just now</time>', ago)
    assert render("{{ at|when }}", at=None) == "—"


def test_a_bare_datetime_uses_the_same_format():
    with timezone.override("Europe/Paris"):
        assert render("{{ at }} {{ at|date }}", at=AT) == "2026-12-04 09:47 2026-12-04"


def test_pages_show_times_in_the_users_zone_and_run_pages_name_it(ada):
    user, client = ada
    run = Run.objects.create(workspace=make_agent(user).workspace, agent=make_agent(user, name="B"))
    Run.objects.filter(pk=run.pk).update(created=AT)
    UserProfile.objects.create(user=user, timezone="Asia/Tokyo")
    page = client.get(f"/agents/runs/{run.pk}/").content.decode()
    assert 'title="2026-12-04 08:47:05 UTC">2026-12-04 17:47:05</time>' in page
    assert re.search(r"<dt>Times in</dt><dd><a [^>]+>Asia/Tokyo \(JST\)</a>", page)
    assert 'data-timezone="Asia/Tokyo"' in page and "data-timezone-unset" not in page
    listed = client.get("/agents/runs/").content.decode()
    assert 'title="2026-12-04 17:47 · 2026-12-04 08:47:05 UTC"' in listed
    # Another user, with no zone yet, sees UTC and the page asks the browser for its zone.
    other = make_user("bob")
    client.force_login(other)
    page = client.get("/").content.decode()
    assert 'data-timezone="UTC"' in page and "data-timezone-unset" in page


def test_the_browser_zone_is_stored_once_and_never_replaces_a_chosen_one(ada):
    user, client = ada
    response = client.post("/account/timezone/", {"timezone": "Europe/Riga"})
    assert response.status_code == 200 and response.json() == {"timezone": "Europe/Riga", "changed": True}
    assert UserProfile.objects.get(user=user).timezone == "Europe/Riga"
    response = client.post("/account/timezone/", {"timezone": "America/Chicago"})
    assert response.json()["changed"] is False
    assert UserProfile.objects.get(user=user).timezone == "Europe/Riga"


def test_an_unknown_zone_is_a_400_naming_the_field(ada):
    user, client = ada
    response = client.post("/account/timezone/", {"timezone": "Mars/Olympus"})
    assert response.status_code == 400 and "timezone" in response.json()
    response = client.post("/account/settings/", {"timezone": "Mars/Olympus"})
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not UserProfile.objects.filter(user=user).exclude(timezone="").exists()


def test_the_settings_page_changes_the_zone(ada):
    user, client = ada
    response = client.post("/account/settings/", {"timezone": "Australia/Sydney"})
    assert response.status_code == 302
    assert UserProfile.objects.get(user=user).timezone == "Australia/Sydney"
    page = client.get("/account/settings/").content.decode()
    assert "Australia/Sydney (AEDT)" in page or "Australia/Sydney (AEST)" in page


def test_the_zone_does_not_leak_to_the_next_request(ada):
    user, client = ada
    UserProfile.objects.create(user=user, timezone="Asia/Tokyo")
    client.get("/")
    assert timezone.get_current_timezone_name() == "UTC"
