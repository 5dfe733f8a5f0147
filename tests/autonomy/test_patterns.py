"""Patterns on synthetic events and series with planted structure (seeded noise)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from autonomy.forecasting import Point, Series
from autonomy.patterns import anomalies, quiet_hours, recurring_events, trend_changes

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)


def noise_series(n: int, *, seed: int, level: float = 5.0, sd: float = 1.0) -> list[Point]:
    rng = random.Random(seed)
    return [Point(T0 + i * HOUR, level + rng.gauss(0, sd)) for i in range(n)]


# --- recurring events ----------------------------------------------------------------------
def test_weekday_morning_event_is_found_among_random_ones():
    rng = random.Random(1)
    events = []
    for day in range(28):
        date = T0 + timedelta(days=day)
        if date.weekday() < 5:  # 09:00–09:59 on weekdays
            events.append(("backup_failed", date + timedelta(hours=9, minutes=rng.randrange(60))))
    for _ in range(12):  # the same type at random times
        events.append(("backup_failed", T0 + timedelta(minutes=rng.randrange(28 * 24 * 60))))
    for _ in range(200):  # another type, uniformly spread
        events.append(("login", T0 + timedelta(minutes=rng.randrange(28 * 24 * 60))))

    found = recurring_events(events)
    hourly = [f for f in found if f["event_type"] == "backup_failed" and f["weekday"] is None]
    assert len(hourly) == 1
    nine = hourly[0]
    assert nine["hour"] == 9
    assert nine["count"] >= 20 and nine["share"] >= 0.5 and nine["total"] == 32
    assert nine["weekdays"][:5] == [0, 1, 2, 3, 4]
    assert nine["days"] >= 20
    assert 0 <= nine["minute"] < 60
    assert not [f for f in found if f["event_type"] == "login"]


def test_recurring_events_use_the_local_time_zone():
    # 08:30 UTC on Mondays is 10:30 in Riga in winter.
    events = [("report", T0 + timedelta(weeks=w, hours=8, minutes=30)) for w in range(4)]
    found = recurring_events(events, tz="Europe/Riga")
    assert {(f["hour"], f["weekday"]) for f in found} == {(10, None), (10, 0), (None, 0)}
    assert all(f["share"] == 1.0 and f["count"] == 4 for f in found)


def test_recurring_events_need_min_count_and_reject_bad_input():
    events = [("rare", T0 + timedelta(days=d, hours=9)) for d in range(2)]
    assert recurring_events(events, min_count=3) == []
    with pytest.raises(ValueError, match="naive datetime"):
        recurring_events([("x", datetime(2025, 1, 1))])  # noqa: DTZ001
    with pytest.raises(ValueError, match="time zone"):
        recurring_events(events, tz="Mars/Olympus")


# --- anomalies -----------------------------------------------------------------------------
def test_planted_spikes_are_flagged():
    points = noise_series(500, seed=2)
    for i, delta in ((100, 12.0), (250, -10.0), (400, 15.0)):
        points[i] = Point(points[i].at, points[i].value + delta)
    found = anomalies(points)
    by_index = {a["index"]: a for a in found}
    assert {100, 250, 400} <= set(by_index)
    strongest = sorted(found, key=lambda a: -abs(a["score"]))[:3]
    assert {a["index"] for a in strongest} == {100, 250, 400}
    assert by_index[100]["at"] == T0 + 100 * HOUR
    assert by_index[250]["score"] < -3.5 < 3.5 < by_index[100]["score"]
    assert [a["index"] for a in found] == sorted(by_index)
    assert len(found) <= 4  # at most one chance flag besides the three


@pytest.mark.parametrize("seed", range(5))
def test_nothing_is_flagged_on_clean_bounded_noise(seed):
    # Uniform noise never strays past ~1.5 robust SDs.
    rng = random.Random(seed)
    points = [Point(T0 + i * HOUR, 5 + rng.uniform(-1, 1)) for i in range(2000)]
    assert anomalies(points) == []


def test_gaussian_noise_is_flagged_at_the_expected_rate():
    # |z| >= 3.5 has probability 4.7e-4 for a normal variable; with the median and MAD
    # estimated from 300 points about 6e-4. 15,000 points: expect ~10 flags, allow 30.
    flagged = sum(len(anomalies(noise_series(300, seed=seed))) for seed in range(50))
    assert flagged <= 30


def test_spikes_on_a_trending_seasonal_metric_are_found_against_the_neighbours():
    rng = random.Random(4)
    points = [
        Point(T0 + i * HOUR, 100 + 0.05 * i + 30 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1))
        for i in range(24 * 21)
    ]
    for i in (50, 200, 333):
        points[i] = Point(points[i].at, points[i].value + 10)
    # Against the global median the spikes hide inside the daily swing of ±30.
    assert not {50, 200, 333} <= {a["index"] for a in anomalies(points)}
    local = anomalies(points, relative_to="neighbours")
    assert {50, 200, 333} <= {a["index"] for a in local}
    assert not {49, 51, 199, 201, 332, 334} & {a["index"] for a in local}  # echoes suppressed
    assert len(local) <= 5
    with pytest.raises(ValueError, match="relative_to"):
        anomalies(points, relative_to="mean")


def test_anomalies_when_most_values_are_equal():
    values = [1.0] * 50 + [1.0, 2.0, 1.0, 40.0]
    points = [Point(T0 + i * HOUR, v) for i, v in enumerate(values)]
    found = anomalies(points)  # MAD = 0: the mean absolute deviation stands in
    assert [a["value"] for a in found] == [40.0]
    assert anomalies([Point(T0 + i * HOUR, 3.0) for i in range(10)]) == []
    assert anomalies(points[:2]) == []


def test_anomalies_reject_non_finite_values():
    points = noise_series(20, seed=3)
    points[7] = Point(points[7].at, math.nan)
    with pytest.raises(ValueError, match="point 7"):
        anomalies(points)


# --- trend changes -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_slope_change_is_found_near_its_index(seed):
    rng = random.Random(seed)
    knee = 130
    points = [
        Point(T0 + i * HOUR, (0.5 * i if i < knee else 0.5 * knee - 0.3 * (i - knee)) + rng.gauss(0, 2))
        for i in range(300)
    ]
    found = trend_changes(points)
    assert len(found) == 1
    change = found[0]
    assert abs(change["index"] - knee) <= 5
    assert change["slope_before"] == pytest.approx(0.5, abs=0.05)
    assert change["slope_after"] == pytest.approx(-0.3, abs=0.05)
    assert change["continuous"] is True and change["level_change"] == 0.0
    assert change["at"] == points[change["index"]].at


def test_two_changes_and_none_on_a_clean_line():
    rng = random.Random(7)

    def f(i):
        return 0.1 * i if i < 200 else 20 + 0.6 * (i - 200) if i < 500 else 200 - 0.2 * (i - 500)

    points = [Point(T0 + i * HOUR, f(i) + rng.gauss(0, 1)) for i in range(800)]
    assert [c["index"] for c in trend_changes(points)] == pytest.approx([200, 500], abs=5)
    line = [Point(T0 + i * HOUR, 3 + 0.2 * i + rng.gauss(0, 1)) for i in range(800)]
    assert trend_changes(line) == []
    assert trend_changes(noise_series(2000, seed=8)) == []


def test_trend_change_slopes_are_per_hour_with_irregular_sampling():
    rng = random.Random(9)
    hours = sorted(rng.uniform(0, 400) for _ in range(300))
    points = [Point(T0 + timedelta(hours=h), (2 * h if h < 200 else 400 - h) + rng.gauss(0, 1)) for h in hours]
    (change,) = trend_changes(points)
    assert abs((change["at"] - T0) / HOUR - 200) < 5
    assert change["slope_before"] == pytest.approx(2, abs=0.05)
    assert change["slope_after"] == pytest.approx(-1, abs=0.05)


def test_level_shift_reports_its_jump_and_short_series_none():
    rng = random.Random(10)
    points = [Point(T0 + i * HOUR, (10 if i < 100 else 30) + rng.gauss(0, 1)) for i in range(200)]
    (change,) = trend_changes(points)
    assert change["index"] == 100
    assert change["level_change"] == pytest.approx(20, abs=1.5)
    assert change["continuous"] is False
    assert trend_changes(points[:15]) == []


def test_a_level_shift_under_a_daily_cycle_needs_the_season():
    rng = random.Random(12)
    points = [
        Point(T0 + i * HOUR, 50 + 20 * math.sin(2 * math.pi * i / 24) + (6 if i >= 400 else 0) + rng.gauss(0, 1))
        for i in range(24 * 30)
    ]
    assert trend_changes(points) == []  # the cycle's residuals drown it (F corrected for them)
    (change,) = trend_changes(points, season=timedelta(days=1))
    assert abs(change["index"] - 400) <= 2
    assert change["level_change"] == pytest.approx(6, abs=1)
    # A weekly profile holds the daily one too.
    (weekly,) = trend_changes(points, season=timedelta(days=7))
    assert abs(weekly["index"] - 400) <= 2


def test_no_changes_on_a_seasonal_metric_without_any():
    rng = random.Random(13)
    points = [
        Point(T0 + i * HOUR, 50 + 20 * math.sin(2 * math.pi * i / 24) + 0.01 * i + rng.gauss(0, 1)) for i in range(2000)
    ]
    assert trend_changes(points) == []
    assert trend_changes(points, season=timedelta(days=1)) == []
    assert trend_changes(points, season=timedelta(days=7)) == []


# --- quiet hours ---------------------------------------------------------------------------
def test_quiet_hours_of_a_daily_load_curve():
    rng = random.Random(11)
    # Load peaks at 15:00 UTC and bottoms out at 03:00 UTC.
    points = [
        Point(T0 + i * HOUR, 50 + 40 * math.sin(2 * math.pi * ((i % 24) - 9) / 24) + rng.gauss(0, 2))
        for i in range(24 * 14)
    ]
    quiet = quiet_hours(points, tz="UTC")
    assert quiet[0] in (2, 3, 4)
    assert set(quiet) <= {0, 1, 2, 3, 4, 5, 6}
    assert quiet_hours(points, tz="UTC", count=3) == sorted(quiet_hours(points, tz="UTC", count=3), key=quiet.index)
    assert set(quiet_hours(Series.from_points(points), tz="UTC", count=3)) <= {1, 2, 3, 4, 5}
    # The same curve seen from UTC+2 (Riga in winter) is quiet two hours later.
    assert quiet_hours(points, tz="Europe/Riga")[0] in (4, 5, 6)


def test_quiet_hours_from_events_count_empty_hours_as_quietest():
    events = [("run", T0 + timedelta(days=d, hours=h)) for d in range(7) for h in range(24) if h not in (1, 2)]
    events += [("run", T0 + timedelta(days=d, hours=12, minutes=30)) for d in range(7)]
    assert quiet_hours(events) == [1, 2]
    assert quiet_hours([at for _, at in events], count=3)[:2] == [1, 2]
    assert quiet_hours([]) == []
