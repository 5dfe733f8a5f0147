"""One format for instants: local minutes or seconds, the UTC instant, short relative times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gradent.lib import timefmt

AT = datetime(2026, 12, 4, 8, 47, 5, tzinfo=UTC)


def test_it_writes_an_instant_in_a_zone_and_in_utc():
    assert timefmt.local(AT, ZoneInfo("Europe/Paris")) == "2026-12-04 09:47"
    assert timefmt.local(AT, ZoneInfo("America/New_York"), seconds=True) == "2026-12-04 03:47:05"
    assert timefmt.utc(AT.astimezone(ZoneInfo("Asia/Tokyo"))) == "2026-12-04 08:47:05 UTC"


def test_it_labels_a_zone_with_its_abbreviation_at_that_instant():
    assert timefmt.zone_label(ZoneInfo("Europe/Paris"), AT) == "Europe/Paris (CET)"
    assert timefmt.zone_label(ZoneInfo("Europe/Paris"), AT.replace(month=7)) == "Europe/Paris (CEST)"
    assert timefmt.zone_label(ZoneInfo("UTC"), AT) == "UTC"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(seconds=-30), "just now"),
        (timedelta(minutes=3), "3 min ago"),
        (timedelta(minutes=-29, seconds=-50), "in 30 min"),
        (timedelta(minutes=72), "1 h ago"),
        (timedelta(hours=-5), "in 5 h"),
        (timedelta(hours=46), "2 days ago"),
        (timedelta(days=20), "2026-11-14"),
    ],
)
def test_it_says_how_long_ago_short_and_rounded(delta, text):
    assert timefmt.relative(AT - delta, AT) == text


def test_it_accepts_only_known_zone_names():
    assert timefmt.zone_or_none("Europe/Riga") == ZoneInfo("Europe/Riga")
    assert timefmt.zone_or_none("") is None
    assert timefmt.zone_or_none("Mars/Olympus") is None
    assert timefmt.zone_or_none("../../etc/passwd") is None
