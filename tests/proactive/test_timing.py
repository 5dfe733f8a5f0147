"""Fire times for cron / interval / once schedules, with Debian cron's DST rules.

Expected instants in the tables are worked out by hand from the zones' 2025 rules:

- Europe/Riga, EET +02 / EEST +03: forward 2025-03-30 01:00Z (03:00→04:00),
  back 2025-10-26 01:00Z (04:00→03:00).
- America/New_York, EST -05 / EDT -04: forward 2025-03-09 07:00Z (02:00→03:00),
  back 2025-11-02 06:00Z (02:00→01:00).
- Australia/Lord_Howe, +10:30 / +11 (a 30-minute shift): back 2025-04-05 15:00Z
  (02:00→01:30 on 04-06), forward 2025-10-04 15:30Z (02:00→02:30 on 10-05).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from proactive import timing
from proactive.models import Schedule
from proactive.timing import (
    ScheduleError,
    Timing,
    describe_cron,
    fires_between,
    jittered,
    next_fire,
    preview,
    validate_cron,
    validate_timezone,
)


def utc(text: str) -> datetime:
    """'2025-03-30 01:00Z' (or with seconds) → aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def cron_fires(expression: str, zone: str, after: str, count: int) -> list[datetime]:
    fires, cursor, schedule_timing = [], utc(after), Timing(kind="cron", cron=expression, tz=zone)
    for _ in range(count):
        cursor = next_fire(schedule_timing, after=cursor)
        fires.append(cursor)
    return fires


def wall(fire: datetime, zone: str) -> str:
    return fire.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")


# --- the DST table -----------------------------------------------------------------------

# (zone, expression, after, expected UTC fires, expected local wall times)
DST_TABLE = {
    # Europe/Riga
    "riga-fixed-in-skipped-hour": (
        "Europe/Riga",
        "30 3 * * *",
        "2025-03-28 12:00Z",
        ["2025-03-29 01:30Z", "2025-03-30 01:00Z", "2025-03-31 00:30Z"],
        ["2025-03-29T03:30+02:00", "2025-03-30T04:00+03:00", "2025-03-31T03:30+03:00"],
    ),
    "riga-fixed-at-start-of-skipped-hour": (
        "Europe/Riga",
        "0 3 * * *",
        "2025-03-29 12:00Z",
        ["2025-03-30 01:00Z", "2025-03-31 00:00Z"],
        ["2025-03-30T04:00+03:00", "2025-03-31T03:00+03:00"],
    ),
    "riga-fixed-in-repeated-hour": (
        "Europe/Riga",
        "30 3 * * *",
        "2025-10-24 12:00Z",
        ["2025-10-25 00:30Z", "2025-10-26 00:30Z", "2025-10-27 01:30Z"],
        ["2025-10-25T03:30+03:00", "2025-10-26T03:30+03:00", "2025-10-27T03:30+02:00"],
    ),
    "riga-fixed-outside-spring": (
        "Europe/Riga",
        "0 9 * * *",
        "2025-03-28 12:00Z",
        ["2025-03-29 07:00Z", "2025-03-30 06:00Z", "2025-03-31 06:00Z"],
        ["2025-03-29T09:00+02:00", "2025-03-30T09:00+03:00", "2025-03-31T09:00+03:00"],
    ),
    "riga-fixed-outside-autumn": (
        "Europe/Riga",
        "0 9 * * *",
        "2025-10-24 12:00Z",
        ["2025-10-25 06:00Z", "2025-10-26 07:00Z", "2025-10-27 07:00Z"],
        ["2025-10-25T09:00+03:00", "2025-10-26T09:00+02:00", "2025-10-27T09:00+02:00"],
    ),
    "riga-hourly-across-fall-back": (
        "Europe/Riga",
        "0 * * * *",
        "2025-10-25 22:30Z",
        ["2025-10-25 23:00Z", "2025-10-26 00:00Z", "2025-10-26 01:00Z", "2025-10-26 02:00Z"],
        ["2025-10-26T02:00+03:00", "2025-10-26T03:00+03:00", "2025-10-26T03:00+02:00", "2025-10-26T04:00+02:00"],
    ),
    "riga-half-hourly-across-spring-forward": (
        "Europe/Riga",
        "*/30 * * * *",
        "2025-03-29 23:45Z",
        ["2025-03-30 00:00Z", "2025-03-30 00:30Z", "2025-03-30 01:00Z", "2025-03-30 01:30Z"],
        ["2025-03-30T02:00+02:00", "2025-03-30T02:30+02:00", "2025-03-30T04:00+03:00", "2025-03-30T04:30+03:00"],
    ),
    # America/New_York
    "new-york-fixed-in-skipped-hour": (
        "America/New_York",
        "30 2 * * *",
        "2025-03-07 12:00Z",
        ["2025-03-08 07:30Z", "2025-03-09 07:00Z", "2025-03-10 06:30Z"],
        ["2025-03-08T02:30-05:00", "2025-03-09T03:00-04:00", "2025-03-10T02:30-04:00"],
    ),
    "new-york-fixed-in-repeated-hour": (
        "America/New_York",
        "30 1 * * *",
        "2025-10-31 12:00Z",
        ["2025-11-01 05:30Z", "2025-11-02 05:30Z", "2025-11-03 06:30Z"],
        ["2025-11-01T01:30-04:00", "2025-11-02T01:30-04:00", "2025-11-03T01:30-05:00"],
    ),
    "new-york-fixed-outside-spring": (
        "America/New_York",
        "0 9 * * *",
        "2025-03-07 15:00Z",
        ["2025-03-08 14:00Z", "2025-03-09 13:00Z", "2025-03-10 13:00Z"],
        ["2025-03-08T09:00-05:00", "2025-03-09T09:00-04:00", "2025-03-10T09:00-04:00"],
    ),
    "new-york-fixed-outside-autumn": (
        "America/New_York",
        "0 9 * * *",
        "2025-10-31 15:00Z",
        ["2025-11-01 13:00Z", "2025-11-02 14:00Z", "2025-11-03 14:00Z"],
        ["2025-11-01T09:00-04:00", "2025-11-02T09:00-05:00", "2025-11-03T09:00-05:00"],
    ),
    "new-york-hourly-across-fall-back": (
        "America/New_York",
        "0 * * * *",
        "2025-11-02 03:30Z",
        ["2025-11-02 04:00Z", "2025-11-02 05:00Z", "2025-11-02 06:00Z", "2025-11-02 07:00Z"],
        ["2025-11-02T00:00-04:00", "2025-11-02T01:00-04:00", "2025-11-02T01:00-05:00", "2025-11-02T02:00-05:00"],
    ),
    "new-york-half-hourly-across-spring-forward": (
        "America/New_York",
        "*/30 * * * *",
        "2025-03-09 06:15Z",
        ["2025-03-09 06:30Z", "2025-03-09 07:00Z", "2025-03-09 07:30Z"],
        ["2025-03-09T01:30-05:00", "2025-03-09T03:00-04:00", "2025-03-09T03:30-04:00"],
    ),
    "new-york-six-field-in-skipped-hour": (
        "America/New_York",
        "0 30 2 * * *",
        "2025-03-07 12:00Z",
        ["2025-03-08 07:30Z", "2025-03-09 07:00Z", "2025-03-10 06:30Z"],
        ["2025-03-08T02:30-05:00", "2025-03-09T03:00-04:00", "2025-03-10T02:30-04:00"],
    ),
    "new-york-six-field-in-repeated-hour": (
        "America/New_York",
        "0 30 1 * * *",
        "2025-10-31 12:00Z",
        ["2025-11-01 05:30Z", "2025-11-02 05:30Z", "2025-11-03 06:30Z"],
        ["2025-11-01T01:30-04:00", "2025-11-02T01:30-04:00", "2025-11-03T01:30-05:00"],
    ),
    # Australia/Lord_Howe: the clocks move 30 minutes
    "lord-howe-fixed-in-skipped-half-hour": (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2025-10-03 00:00Z",
        ["2025-10-03 15:45Z", "2025-10-04 15:30Z", "2025-10-05 15:15Z"],
        ["2025-10-04T02:15+10:30", "2025-10-05T02:30+11:00", "2025-10-06T02:15+11:00"],
    ),
    "lord-howe-fixed-at-start-of-skipped-half-hour": (
        "Australia/Lord_Howe",
        "0 2 * * *",
        "2025-10-04 00:00Z",
        ["2025-10-04 15:30Z", "2025-10-05 15:00Z"],
        ["2025-10-05T02:30+11:00", "2025-10-06T02:00+11:00"],
    ),
    "lord-howe-fixed-in-repeated-half-hour": (
        "Australia/Lord_Howe",
        "45 1 * * *",
        "2025-04-04 00:00Z",
        ["2025-04-04 14:45Z", "2025-04-05 14:45Z", "2025-04-06 15:15Z"],
        ["2025-04-05T01:45+11:00", "2025-04-06T01:45+11:00", "2025-04-07T01:45+10:30"],
    ),
    "lord-howe-fixed-outside-autumn": (
        "Australia/Lord_Howe",
        "0 9 * * *",
        "2025-04-04 12:00Z",
        ["2025-04-04 22:00Z", "2025-04-05 22:30Z", "2025-04-06 22:30Z"],
        ["2025-04-05T09:00+11:00", "2025-04-06T09:00+10:30", "2025-04-07T09:00+10:30"],
    ),
    "lord-howe-fixed-outside-spring": (
        "Australia/Lord_Howe",
        "0 9 * * *",
        "2025-10-03 12:00Z",
        ["2025-10-03 22:30Z", "2025-10-04 22:00Z", "2025-10-05 22:00Z"],
        ["2025-10-04T09:00+10:30", "2025-10-05T09:00+11:00", "2025-10-06T09:00+11:00"],
    ),
    "lord-howe-half-hourly-across-fall-back": (
        "Australia/Lord_Howe",
        "*/30 * * * *",
        "2025-04-05 13:45Z",
        ["2025-04-05 14:00Z", "2025-04-05 14:30Z", "2025-04-05 15:00Z", "2025-04-05 15:30Z"],
        ["2025-04-06T01:00+11:00", "2025-04-06T01:30+11:00", "2025-04-06T01:30+10:30", "2025-04-06T02:00+10:30"],
    ),
    "lord-howe-hourly-across-fall-back": (
        "Australia/Lord_Howe",
        "0 * * * *",
        "2025-04-05 13:45Z",
        ["2025-04-05 14:00Z", "2025-04-05 15:30Z", "2025-04-05 16:30Z"],
        ["2025-04-06T01:00+11:00", "2025-04-06T02:00+10:30", "2025-04-06T03:00+10:30"],
    ),
    "lord-howe-half-hourly-across-spring-forward": (
        "Australia/Lord_Howe",
        "*/30 * * * *",
        "2025-10-04 14:45Z",
        ["2025-10-04 15:00Z", "2025-10-04 15:30Z", "2025-10-04 16:00Z"],
        ["2025-10-05T01:30+10:30", "2025-10-05T02:30+11:00", "2025-10-05T03:00+11:00"],
    ),
    "lord-howe-hourly-across-spring-forward": (
        "Australia/Lord_Howe",
        "0 * * * *",
        "2025-10-04 14:00Z",
        ["2025-10-04 14:30Z", "2025-10-04 16:00Z", "2025-10-04 17:00Z"],
        ["2025-10-05T01:00+10:30", "2025-10-05T03:00+11:00", "2025-10-05T04:00+11:00"],
    ),
}


@pytest.mark.parametrize(
    ("zone", "expression", "after", "expected_utc", "expected_local"), DST_TABLE.values(), ids=DST_TABLE.keys()
)
def test_it_fires_at_the_hand_computed_instants_across_dst(zone, expression, after, expected_utc, expected_local):
    fires = cron_fires(expression, zone, after, len(expected_utc))

    assert fires == [utc(text) for text in expected_utc]
    assert [wall(fire, zone) for fire in fires] == expected_local
    assert all(fire.tzinfo is UTC for fire in fires)


def test_it_fires_the_riga_3am_job_once_on_the_2021_fall_back_day():
    # The case that rules croniter out (docs/cron-dst.md): it fires at 00:00Z and 01:00Z.
    fires = fires_between(
        kind="cron", cron="0 3 * * *", tz="Europe/Riga", after=utc("2021-10-30 12:00Z"), until=utc("2021-11-01 12:00Z")
    )

    assert fires == [utc("2021-10-31 00:00Z"), utc("2021-11-01 01:00Z")]


def test_it_moves_each_skipped_slot_of_an_hour_range_to_the_jump_once():
    # 02:00 does not exist in New York on 2025-03-09; it runs at 03:00 EDT, together with
    # (not in addition to) the 03:00 slot.
    fires = fires_between(
        kind="cron",
        cron="0 1-4 * * *",
        tz="America/New_York",
        after=utc("2025-03-09 05:30Z"),
        until=utc("2025-03-09 09:00Z"),
    )

    assert fires == [utc("2025-03-09 06:00Z"), utc("2025-03-09 07:00Z"), utc("2025-03-09 08:00Z")]


def test_it_runs_a_repeated_slot_of_an_hour_range_once():
    fires = fires_between(
        kind="cron",
        cron="0 0-3 * * *",
        tz="America/New_York",
        after=utc("2025-11-02 03:30Z"),
        until=utc("2025-11-02 09:00Z"),
    )

    # 01:00 runs in the first pass (05:00Z) only; 02:00 and 03:00 are EST.
    assert fires == [
        utc("2025-11-02 04:00Z"),
        utc("2025-11-02 05:00Z"),
        utc("2025-11-02 07:00Z"),
        utc("2025-11-02 08:00Z"),
    ]


def test_it_does_not_go_back_when_asked_from_inside_the_second_pass_of_a_repeated_hour():
    # 01:30Z is 03:30 EET, the second pass of 03:00-04:00 in Riga. The 03:45 job already ran
    # at 00:45Z (first pass); cronsim alone would answer 00:45Z, before `after`.
    fire = next_fire(kind="cron", cron="45 3 * * *", tz="Europe/Riga", after=utc("2025-10-26 01:30Z"))

    assert fire == utc("2025-10-27 01:45Z")


def test_it_fires_a_wall_clock_job_in_both_passes_of_the_repeated_hour():
    fires = fires_between(
        kind="cron",
        cron="*/15 3 * * *",
        tz="Europe/Riga",
        after=utc("2025-10-25 23:00Z"),
        until=utc("2025-10-26 23:00Z"),
    )

    assert [wall(fire, "Europe/Riga") for fire in fires] == [
        "2025-10-26T03:00+03:00",
        "2025-10-26T03:15+03:00",
        "2025-10-26T03:30+03:00",
        "2025-10-26T03:45+03:00",
        "2025-10-26T03:00+02:00",
        "2025-10-26T03:15+02:00",
        "2025-10-26T03:30+02:00",
        "2025-10-26T03:45+02:00",
    ]


def test_it_fires_the_second_pass_when_asked_from_inside_the_first_pass():
    # 00:30Z is 03:30 EEST, the first pass; 03:00-03:45 EET (the second pass) are still due.
    fires = fires_between(
        kind="cron",
        cron="*/15 3 * * *",
        tz="Europe/Riga",
        after=utc("2025-10-26 00:30Z"),
        until=utc("2025-10-27 12:00Z"),
    )

    assert fires == [
        utc("2025-10-26 00:45Z"),
        utc("2025-10-26 01:00Z"),
        utc("2025-10-26 01:15Z"),
        utc("2025-10-26 01:30Z"),
        utc("2025-10-26 01:45Z"),
        utc("2025-10-27 01:00Z"),
        utc("2025-10-27 01:15Z"),
        utc("2025-10-27 01:30Z"),
        utc("2025-10-27 01:45Z"),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Fall-back: 01:30 LHST (second pass) → the whole 03:xx hour, in LHST.
        ("2025-04-05 15:00Z", ["2025-04-05 16:30Z", "2025-04-05 16:45Z", "2025-04-05 17:00Z", "2025-04-05 17:15Z"]),
        # Spring-forward: 01:30 LHST → the whole 03:xx hour, in LHDT.
        ("2025-10-04 15:00Z", ["2025-10-04 16:00Z", "2025-10-04 16:15Z", "2025-10-04 16:30Z", "2025-10-04 16:45Z"]),
    ],
)
def test_it_keeps_the_whole_hour_after_a_thirty_minute_change(after, expected):
    # cronsim 2.8's own wall-clock mode steps whole hours in absolute time and, after
    # Lord Howe's 30-minute change, starts this hour at 03:30 (skipping 03:00 and 03:15).
    fires = cron_fires("*/15 3 * * *", "Australia/Lord_Howe", after, 4)

    assert fires == [utc(text) for text in expected]


TRANSITIONS = [
    ("Europe/Riga", "2025-03-30 01:00Z"),
    ("Europe/Riga", "2025-10-26 01:00Z"),
    ("America/New_York", "2025-03-09 07:00Z"),
    ("America/New_York", "2025-11-02 06:00Z"),
    ("Australia/Lord_Howe", "2025-04-05 15:00Z"),
    ("Australia/Lord_Howe", "2025-10-04 15:30Z"),
    ("America/Santiago", "2025-04-06 03:00Z"),
    ("America/Santiago", "2025-09-07 04:00Z"),
]
WALL_CLOCK_JOBS = {
    "*/30 * * * *": lambda t: t.minute % 30 == 0,
    "0 * * * *": lambda t: t.minute == 0,
    "*/15 3 * * *": lambda t: t.hour == 3 and t.minute % 15 == 0,
    "*/10 1,2 * * *": lambda t: t.hour in (1, 2) and t.minute % 10 == 0,
    "*/20 23,0 * * *": lambda t: t.hour in (23, 0) and t.minute % 20 == 0,
}


@pytest.mark.parametrize(("zone", "moment"), TRANSITIONS)
@pytest.mark.parametrize("expression", WALL_CLOCK_JOBS)
def test_it_fires_wildcard_jobs_exactly_when_the_wall_clock_matches(zone, moment, expression):
    # Reference: every real UTC minute within 36 hours of the change whose local wall time
    # matches the fields (no cron library involved).
    matches = WALL_CLOCK_JOBS[expression]
    begin, finish = utc(moment) - timedelta(hours=36), utc(moment) + timedelta(hours=36)
    minutes = (begin + timedelta(minutes=i) for i in range(1, 72 * 60 + 1))
    expected = [m for m in minutes if matches(m.astimezone(ZoneInfo(zone)))]

    fires = fires_between(kind="cron", cron=expression, tz=zone, after=begin, until=finish)

    assert fires == expected
    assert expected  # the window is not empty, so the comparison means something
    # Asked from any moment near the change (inside either pass, inside the gap's
    # neighbourhood), the next fire is the next matching wall-clock minute.
    for step in range(-6 * 7, 6 * 7):
        moment_after = utc(moment) + timedelta(minutes=10 * step + 5 * (step % 2))
        following = [m for m in expected if m > moment_after]
        assert next_fire(kind="cron", cron=expression, tz=zone, after=moment_after) == following[0], moment_after


# --- two years of daily jobs -------------------------------------------------------------

SIMULATION_ZONES = [
    "Australia/Lord_Howe",
    "America/New_York",
    "Europe/Riga",
    "Australia/Sydney",  # southern hemisphere, 1 h
    "America/Santiago",  # changes at midnight: 00:00-01:00 skipped, 23:00-24:00 repeated
    "Asia/Tokyo",  # no DST
    "UTC",
]
SIMULATION_TIMES = [
    "00:00",
    "00:30",
    "01:30",
    "01:45",
    "02:00",
    "02:15",
    "02:30",
    "03:00",
    "03:30",
    "09:00",
    "23:30",
    "23:59",
]


@pytest.mark.parametrize("zone", SIMULATION_ZONES)
def test_it_fires_daily_jobs_exactly_once_per_local_date_for_two_years(zone):
    tzinfo = ZoneInfo(zone)
    begin, finish = utc("2025-01-01 00:00Z"), utc("2027-01-01 00:00Z")
    offsets_seen = set()
    for clock in SIMULATION_TIMES:
        hour, minute = map(int, clock.split(":"))
        expression = f"{minute} {hour} * * *"
        dates: list[date] = []
        cursor = begin
        while True:
            cursor = next_fire(kind="cron", cron=expression, tz=zone, after=cursor)
            if cursor > finish:
                break
            local = cursor.astimezone(tzinfo)
            offsets_seen.add(local.utcoffset())
            scheduled = datetime.combine(local.date(), time(hour, minute))
            exists = (
                scheduled.replace(tzinfo=tzinfo).astimezone(UTC).astimezone(tzinfo).replace(tzinfo=None) == scheduled
            )
            if exists:
                # On time, and in the first pass of a repeated hour.
                assert local.replace(tzinfo=None) == scheduled, (expression, local)
                assert local.fold == 0, (expression, local)
            else:
                # Skipped by the clocks: runs at the first minute that exists, same day.
                assert local.replace(tzinfo=None) > scheduled, (expression, local)
                a_minute_earlier = (cursor - timedelta(minutes=1)).astimezone(tzinfo)
                assert a_minute_earlier.replace(tzinfo=None) < scheduled, (expression, local)
            dates.append(local.date())

        assert len(dates) == len(set(dates)), f"{expression} in {zone} fired twice on a date"
        gaps = [(a, b) for a, b in zip(dates, dates[1:], strict=False) if b - a != timedelta(days=1)]
        assert gaps == [], f"{expression} in {zone} missed dates"
        assert len(dates) in (729, 730, 731), (expression, len(dates))

    assert len(offsets_seen) == (1 if zone in ("Asia/Tokyo", "UTC") else 2)


# --- interval, once, window --------------------------------------------------------------


def test_it_keeps_intervals_in_absolute_seconds_across_spring_forward():
    fires = fires_between(
        kind="interval",
        interval_seconds=3600,
        anchor=utc("2025-03-29 22:00Z"),
        tz="Europe/Riga",
        after=utc("2025-03-29 22:00Z"),
        until=utc("2025-03-30 02:00Z"),
    )

    assert fires == [
        utc("2025-03-29 23:00Z"),
        utc("2025-03-30 00:00Z"),
        utc("2025-03-30 01:00Z"),
        utc("2025-03-30 02:00Z"),
    ]
    # The wall clock jumps two hours between 02:00 EET and 04:00 EEST.
    assert [wall(f, "Europe/Riga")[11:16] for f in fires] == ["01:00", "02:00", "04:00", "05:00"]


def test_it_lets_a_daily_interval_drift_an_hour_on_the_wall_clock_across_dst():
    fire = next_fire(
        kind="interval",
        interval_seconds=86400,
        anchor=utc("2025-03-08 14:00Z"),
        tz="America/New_York",
        after=utc("2025-03-08 14:00Z"),
    )

    assert fire == utc("2025-03-09 14:00Z")
    assert wall(fire, "America/New_York") == "2025-03-09T10:00-04:00"


def test_it_counts_intervals_from_start_when_there_is_no_anchor():
    start = utc("2025-01-01 10:00Z")
    common = dict(kind="interval", interval_seconds=900, tz="UTC", start=start)

    assert next_fire(**common, after=utc("2024-12-31 00:00Z")) == start
    assert next_fire(**common, after=utc("2025-01-01 10:07Z")) == utc("2025-01-01 10:15Z")
    assert next_fire(**common, after=utc("2025-01-01 10:15Z")) == utc("2025-01-01 10:30Z")


def test_it_counts_intervals_from_after_when_there_is_no_anchor_or_start():
    fire = next_fire(kind="interval", interval_seconds=90, tz="UTC", after=utc("2025-05-05 12:00:10Z"))

    assert fire == utc("2025-05-05 12:01:40Z")


def test_it_keeps_the_anchor_phase_when_start_is_later():
    fire = next_fire(
        kind="interval",
        interval_seconds=3600,
        tz="UTC",
        anchor=utc("2025-01-01 00:20Z"),
        start=utc("2025-01-01 05:30Z"),
        after=utc("2025-01-01 00:00Z"),
    )

    assert fire == utc("2025-01-01 06:20Z")


@pytest.mark.parametrize("bad", [None, 0, -5, True, 1.5])
def test_it_rejects_an_interval_that_is_not_a_positive_whole_number(bad):
    with pytest.raises(ScheduleError) as info:
        next_fire(kind="interval", interval_seconds=bad, tz="UTC", after=utc("2025-01-01 00:00Z"))

    assert info.value.field == "interval_seconds"


def test_it_returns_none_for_a_once_schedule_in_the_past():
    run_at = utc("2025-06-01 12:00Z")

    assert next_fire(kind="once", run_at=run_at, tz="UTC", after=utc("2025-06-02 00:00Z")) is None
    assert next_fire(kind="once", run_at=run_at, tz="UTC", after=run_at) is None
    assert next_fire(kind="once", run_at=run_at, tz="UTC", after=utc("2025-06-01 11:59Z")) == run_at


def test_it_returns_a_once_fire_in_utc_whatever_zone_it_was_given_in():
    run_at = datetime(2025, 6, 1, 15, 0, tzinfo=ZoneInfo("Europe/Riga"))

    fire = next_fire(kind="once", run_at=run_at, tz="Europe/Riga", after=utc("2025-01-01 00:00Z"))

    assert fire == utc("2025-06-01 12:00Z")
    assert fire.tzinfo is UTC


def test_it_drops_a_once_fire_outside_the_window():
    fire = next_fire(
        kind="once",
        run_at=utc("2025-06-01 12:00Z"),
        end=utc("2025-05-31 00:00Z"),
        tz="UTC",
        after=utc("2025-01-01 00:00Z"),
    )

    assert fire is None


def test_it_includes_fires_exactly_at_start_and_end_of_the_window():
    fires = fires_between(
        kind="cron",
        cron="0 9 * * *",
        tz="UTC",
        start=utc("2025-06-01 09:00Z"),
        end=utc("2025-06-03 09:00Z"),
        after=utc("2025-01-01 00:00Z"),
        until=utc("2025-12-31 00:00Z"),
    )

    assert fires == [utc("2025-06-01 09:00Z"), utc("2025-06-02 09:00Z"), utc("2025-06-03 09:00Z")]


def test_it_returns_none_once_the_window_has_ended():
    common = dict(kind="cron", cron="0 9 * * *", tz="UTC", end=utc("2025-06-03 09:00Z"))

    assert next_fire(**common, after=utc("2025-06-03 09:00Z")) is None
    assert next_fire(**common, after=utc("2025-06-03 08:59Z")) == utc("2025-06-03 09:00Z")


def test_it_skips_ahead_to_a_start_far_in_the_future():
    fire = next_fire(
        kind="cron", cron="*/5 * * * *", tz="UTC", start=utc("2040-02-29 10:02Z"), after=utc("2025-01-01 00:00Z")
    )

    assert fire == utc("2040-02-29 10:05Z")


def test_it_caps_fires_between_at_the_limit_and_includes_until():
    common = dict(kind="cron", cron="*/10 * * * *", tz="UTC", after=utc("2025-01-01 00:00Z"))

    assert fires_between(**common, until=utc("2025-01-01 00:30Z")) == [
        utc("2025-01-01 00:10Z"),
        utc("2025-01-01 00:20Z"),
        utc("2025-01-01 00:30Z"),
    ]
    assert len(fires_between(**common, until=utc("2025-02-01 00:00Z"), limit=7)) == 7


def test_it_counts_misfires_of_a_missed_night_in_the_schedules_zone():
    # Dispatcher down for three hours over the Riga fall-back: the wall-clock job missed
    # six slots, with 03:00 and 03:30 each missed twice (once per pass).
    missed = fires_between(
        kind="cron",
        cron="*/30 * * * *",
        tz="Europe/Riga",
        after=utc("2025-10-25 23:59Z"),
        until=utc("2025-10-26 02:59Z"),
    )

    assert len(missed) == 6
    assert [wall(f, "Europe/Riga")[11:] for f in missed] == [
        "03:00+03:00",
        "03:30+03:00",
        "03:00+02:00",
        "03:30+02:00",
        "04:00+02:00",
        "04:30+02:00",
    ]


def test_it_rejects_naive_datetimes_naming_the_argument():
    with pytest.raises(ScheduleError) as info:
        next_fire(kind="cron", cron="0 9 * * *", tz="UTC", after=datetime(2025, 1, 1))

    assert info.value.field == "after"
    assert info.value.message == "after must include a timezone"


def test_it_rejects_an_unknown_kind():
    with pytest.raises(ScheduleError) as info:
        next_fire(kind="weekly", tz="UTC", after=utc("2025-01-01 00:00Z"))

    assert info.value.field == "kind"


# --- seconds -----------------------------------------------------------------------------


def test_it_reads_six_fields_as_seconds_first():
    fires = fires_between(
        kind="cron",
        cron="*/20 * * * * *",
        tz="UTC",
        after=utc("2025-01-01 10:00:05Z"),
        until=utc("2025-01-01 10:01:00Z"),
    )

    assert fires == [utc("2025-01-01 10:00:20Z"), utc("2025-01-01 10:00:40Z"), utc("2025-01-01 10:01:00Z")]


def test_it_fires_a_six_field_daily_job_at_its_second():
    fires = cron_fires("30 0 9 * * *", "Europe/Riga", "2025-03-29 12:00Z", 2)

    assert fires == [utc("2025-03-30 06:00:30Z"), utc("2025-03-31 06:00:30Z")]


def test_it_moves_a_skipped_six_field_slot_to_the_moment_of_the_jump():
    fire = next_fire(kind="cron", cron="45 15 2 * * *", tz="America/New_York", after=utc("2025-03-09 05:00Z"))

    assert fire == utc("2025-03-09 07:00:00Z")


def test_it_fires_a_six_field_wall_clock_job_in_both_passes():
    fires = fires_between(
        kind="cron",
        cron="0 */30 * * * *",
        tz="Europe/Riga",
        after=utc("2025-10-25 23:59Z"),
        until=utc("2025-10-26 01:59Z"),
    )

    assert fires == [
        utc("2025-10-26 00:00Z"),
        utc("2025-10-26 00:30Z"),
        utc("2025-10-26 01:00Z"),
        utc("2025-10-26 01:30Z"),
    ]


# --- validation --------------------------------------------------------------------------

INVALID = {
    "0 0 31 4 *": "day-of-month 31 never occurs in April",
    "0 0 30 2 *": "day-of-month 30 never occurs in February",
    "0 0 30,31 2 *": "day-of-month 30 and 31 never occur in February",
    "0 0 31 4,6,9 *": "day-of-month 31 never occurs in April, June or September",
    "61 * * * *": "minute value 61 is out of range 0-59",
    "0 24 * * *": "hour value 24 is out of range 0-23",
    "0 0 0 * *": "day-of-month value 0 is out of range 1-31",
    "0 0 * 13 *": "month value 13 is out of range 1-12",
    "0 0 * * 8": "day-of-week value 8 is out of range 0-7",
    "60 * * * * *": "second value 60 is out of range 0-59",
    "* * * *": "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got 4",
    "0 0 1 1 * 2030 *": "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got 7",
    "0 9 * * FUN": 'day-of-week value "FUN" is not a number or a day name (SUN-SAT)',
    "0 9 * Jun_ *": 'month value "Jun_" is not a number or a month name (JAN-DEC)',
    "0 x * * *": 'hour value "x" is not a number',
    "0 0 ? * MON": 'day-of-month value "?" is not a number; "?" is Quartz syntax, write "*"',
    "22-2 * * * *": "minute range 22-2 runs backwards; ranges cannot wrap around, so split it in two (22-59,0-2)",
    "*/0 * * * *": 'minute step "0" in "*/0" must be a whole number of at least 1',
    "1,,2 * * * *": 'minute field "1,,2" has an empty item',
    "0 0 * * MON#6": 'day-of-week "MON#6": the number after "#" must be 1-5',
    "0 L * * *": (
        'hour value "L" is not a number; "L" (last) is only allowed in day-of-month (L, LW) and day-of-week (as in 5L)'
    ),
    "0 0 15W * *": (
        'day-of-month value "15W" is not a number; "W" (nearest weekday) is supported only as LW (last weekday)'
    ),
    "": "cron expression is empty",
    "@often": 'unknown alias "@often"; use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly',
}


@pytest.mark.parametrize(("expression", "message"), INVALID.items(), ids=list(INVALID))
def test_it_names_the_problem_in_an_invalid_expression(expression, message):
    with pytest.raises(ScheduleError) as info:
        validate_cron(expression)

    assert str(info.value) == message
    assert info.value.field == "cron_expression"


@pytest.mark.parametrize(
    ("expression", "normalised"),
    [
        ("  0   9 * *  mon-fri ", "0 9 * * MON-FRI"),
        ("@daily", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("0 0 29 2 *", "0 0 29 2 *"),  # leap days exist
        ("0 0 31 4 MON", "0 0 31 4 MON"),  # day fields OR-ed: every Monday in April
        ("0 0 L * 5L", "0 0 L * 5L"),
        ("0 12 1 jul,Aug *", "0 12 1 JUL,AUG *"),  # JUL has an L, and is not "last"
        ("0 12 * JUL/2 *", "0 12 * JUL/2 *"),
        ("*/20 * * * * *", "*/20 * * * * *"),
    ],
)
def test_it_accepts_and_normalises_valid_expressions(expression, normalised):
    assert validate_cron(expression) == normalised


def test_it_fires_aliases_like_their_expansion():
    fire = next_fire(kind="cron", cron="@daily", tz="Europe/Riga", after=utc("2025-06-01 12:00Z"))

    assert fire == utc("2025-06-01 21:00Z")  # midnight EEST


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("0 9 * * 1-5", "At 09:00 on Monday through Friday"),
        ("@daily", "At 00:00 every day"),
        ("*/15 * * * *", "Every 15th minute of every hour"),
        ("0 0 L * *", "At 00:00 on the last day of every month"),
        ("*/20 * * * * *", "Every 20th second of every minute"),
    ],
)
def test_it_describes_expressions_in_words(expression, text):
    assert describe_cron(expression) == text


def test_it_refuses_to_describe_an_invalid_expression():
    with pytest.raises(ScheduleError):
        describe_cron("0 0 31 4 *")


def test_it_accepts_iana_zones_and_utc():
    assert validate_timezone("UTC").key == "UTC"
    assert validate_timezone("Australia/Lord_Howe").key == "Australia/Lord_Howe"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Mars/Olympus_Mons", 'unknown timezone "Mars/Olympus_Mons"; use an IANA name such as "Europe/Riga" or "UTC"'),
        ("europe/riga", 'unknown timezone "europe/riga"; did you mean "Europe/Riga"?'),
        ("../../etc/passwd", 'unknown timezone "../../etc/passwd"; use an IANA name such as "Europe/Riga" or "UTC"'),
        ("localtime", 'unknown timezone "localtime"; use an IANA name such as "Europe/Riga" or "UTC"'),
        ("", "timezone is required, e.g. Europe/Riga or UTC"),
    ],
)
def test_it_rejects_unknown_timezones_naming_the_field(name, message):
    with pytest.raises(ScheduleError) as info:
        validate_timezone(name)

    assert info.value.field == "timezone"
    assert str(info.value) == message


def test_it_uses_the_schedules_own_zone():
    after = utc("2025-06-01 00:00Z")

    riga = next_fire(kind="cron", cron="0 9 * * *", tz="Europe/Riga", after=after)
    new_york = next_fire(kind="cron", cron="0 9 * * *", tz="America/New_York", after=after)

    assert riga == utc("2025-06-01 06:00Z")
    assert new_york == utc("2025-06-01 13:00Z")


# --- preview -----------------------------------------------------------------------------


def test_it_marks_the_first_fire_after_spring_forward_in_a_preview():
    rows = preview(kind="cron", cron="0 9 * * *", tz="Europe/Riga", after=utc("2026-03-27 12:00Z"), count=3)

    assert rows == [
        {"at": utc("2026-03-28 07:00Z"), "local": "2026-03-28 09:00 EET", "utc_offset": "+02:00", "dst_change": ""},
        {
            "at": utc("2026-03-29 06:00Z"),
            "local": "2026-03-29 09:00 EEST",
            "utc_offset": "+03:00",
            "dst_change": "DST starts: clocks go forward 1h (03:00→04:00)",
        },
        {"at": utc("2026-03-30 06:00Z"), "local": "2026-03-30 09:00 EEST", "utc_offset": "+03:00", "dst_change": ""},
    ]


def test_it_marks_fall_back_in_new_york_in_a_preview():
    # 2026's fall-back in New York is on Sunday 1 November.
    rows = preview(kind="cron", cron="0 9 * * *", tz="America/New_York", after=utc("2026-10-30 15:00Z"), count=2)

    assert [row["dst_change"] for row in rows] == ["", "DST ends: clocks go back 1h (02:00→01:00)"]
    assert [row["utc_offset"] for row in rows] == ["-04:00", "-05:00"]


def test_it_marks_a_thirty_minute_change_in_a_preview():
    rows = preview(kind="cron", cron="0 9 * * *", tz="Australia/Lord_Howe", after=utc("2026-04-03 12:00Z"), count=2)

    assert rows[0]["dst_change"] == ""
    assert rows[1]["dst_change"] == "DST ends: clocks go back 30m (02:00→01:30)"
    assert rows[1]["utc_offset"] == "+10:30"
    assert rows[1]["at"] == utc("2026-04-04 22:30Z")


def test_it_compares_the_first_preview_fire_with_the_offset_at_after():
    # `after` is 02:30 EET, half an hour before the clocks jump.
    rows = preview(kind="cron", cron="0 9 * * *", tz="Europe/Riga", after=utc("2026-03-29 00:30Z"), count=1)

    assert rows[0]["dst_change"] == "DST starts: clocks go forward 1h (03:00→04:00)"


def test_it_previews_intervals_with_seconds_when_they_have_them():
    rows = preview(
        kind="interval",
        interval_seconds=45,
        anchor=utc("2025-01-01 00:00Z"),
        tz="UTC",
        after=utc("2025-01-01 00:00Z"),
        count=2,
    )

    assert [row["local"] for row in rows] == ["2025-01-01 00:00:45 UTC", "2025-01-01 00:01:30 UTC"]


def test_it_previews_nothing_for_a_finished_once_schedule():
    assert preview(kind="once", run_at=utc("2020-01-01 00:00Z"), tz="UTC", after=utc("2025-01-01 00:00Z")) == []


# --- jitter ------------------------------------------------------------------------------


def test_it_jitters_deterministically_within_range():
    fires = [utc("2025-01-01 00:00Z") + timedelta(hours=h) for h in range(200)]

    first = [jittered(f, 300, seed="schedule-42") for f in fires]
    again = [jittered(f, 300, seed="schedule-42") for f in fires]
    delays = [(j - f).total_seconds() for j, f in zip(first, fires, strict=True)]

    assert first == again
    assert all(0 <= d <= 300 and d == int(d) for d in delays)
    assert len(set(delays)) > 100  # spread, not a constant


def test_it_jitters_differently_per_seed_and_the_same_for_one_instant_in_any_zone():
    fire = utc("2025-06-01 12:00Z")
    seeds = [f"schedule-{i}" for i in range(20)]

    assert len({jittered(fire, 3600, seed=s) for s in seeds}) > 10
    assert jittered(fire.astimezone(ZoneInfo("Asia/Tokyo")), 3600, seed="x") == jittered(fire, 3600, seed="x")


def test_it_leaves_fires_alone_without_jitter():
    fire = utc("2025-06-01 12:00Z")

    assert jittered(fire, 0, seed="s") == fire


def test_the_remembered_next_fire_answers_as_next_fire_and_keys_only_what_matters():
    from proactive.timing import next_fire, next_fire_shared

    after = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    cases = [
        {"kind": "cron", "tz": "Europe/Riga", "cron": "0 3 * * *", "anchor": datetime(2020, 1, 1, tzinfo=UTC)},
        {"kind": "interval", "tz": "UTC", "interval_seconds": 7, "anchor": datetime(2026, 3, 29, 0, 0, 1, tzinfo=UTC)},
        {"kind": "interval", "tz": "UTC", "interval_seconds": 7, "anchor": datetime(2026, 3, 29, 0, 0, 2, tzinfo=UTC)},
        {"kind": "once", "tz": "UTC", "run_at": datetime(2026, 4, 1, tzinfo=UTC)},
    ]
    for case in cases:
        assert next_fire_shared(after=after, **case) == next_fire(after=after, **case)
    # A cron's anchor does not change its answer; an interval's does.
    other_anchor = {**cases[0], "anchor": datetime(2024, 6, 1, tzinfo=UTC)}
    assert next_fire_shared(after=after, **other_anchor) == next_fire_shared(after=after, **cases[0])
    assert next_fire_shared(after=after, **cases[1]) != next_fire_shared(after=after, **cases[2])


# --- the Timing value ----------------------------------------------------------------------


def test_a_timing_from_a_schedule_is_what_timing_kwargs_gives():
    schedule = Schedule(
        kind="interval",
        interval_seconds=900,
        timezone="Europe/Riga",
        anchor=utc("2025-01-01 10:00Z"),
        start_at=utc("2025-01-01 00:00Z"),
        end_at=utc("2025-12-31 00:00Z"),
        jitter_seconds=30,
    )
    assert Timing.from_schedule(schedule) == Timing(**schedule.timing_kwargs(), jitter_seconds=30)


def test_a_timing_from_a_dict_reads_the_model_field_names():
    data = {"kind": "once", "timezone": "America/New_York", "run_at": utc("2025-06-01 12:00Z"), "cron_expression": ""}
    assert Timing.from_dict(data) == Timing(kind="once", tz="America/New_York", run_at=utc("2025-06-01 12:00Z"))


def test_a_timing_and_the_older_keywords_give_the_same_fires():
    keywords = {"kind": "cron", "cron": "30 2 * * *", "tz": "Europe/Riga", "start": utc("2025-03-29 00:00Z")}
    value = Timing(**keywords)
    after, until = utc("2025-03-28 00:00Z"), utc("2025-04-02 00:00Z")
    assert fires_between(value, after=after, until=until) == fires_between(after=after, until=until, **keywords)
    assert next_fire(value, after=after) == next_fire(after=after, **keywords) == utc("2025-03-29 00:30Z")
    assert preview(value, count=3, after=after) == preview(count=3, after=after, **keywords)


def test_a_timing_and_keywords_together_are_refused():
    with pytest.raises(TypeError, match="not both"):
        next_fire(Timing(kind="cron", cron="* * * * *"), after=utc("2025-01-01 00:00Z"), tz="UTC")


def test_cron_timings_that_differ_only_in_anchor_or_jitter_share_a_next_fire():
    first = Timing(kind="cron", cron="0 9 * * *", tz="Europe/Riga", anchor=utc("2025-01-01 00:00Z"))
    second = Timing(kind="cron", cron="0 9 * * *", tz="Europe/Riga", anchor=utc("2025-02-01 00:00Z"), jitter_seconds=9)
    assert first.deciding() == second.deciding()
    after = utc("2025-05-05 12:00Z")
    timing._next_fire_memo.cache_clear()
    assert timing.next_fire_shared(first, after=after) == utc("2025-05-06 06:00Z")
    assert timing.next_fire_shared(second, after=after) == utc("2025-05-06 06:00Z")
    assert timing._next_fire_memo.cache_info().hits == 1
    # for an interval the anchor decides, so it stays in the key
    interval = Timing(kind="interval", interval_seconds=3600, anchor=utc("2025-01-01 00:30Z"))
    assert interval.deciding() != Timing(kind="interval", interval_seconds=3600, anchor=utc("2025-01-01 00:00Z"))


def test_a_timing_jitters_by_its_own_jitter():
    fire = utc("2025-01-01 09:00Z")
    value = Timing(kind="cron", cron="0 9 * * *", jitter_seconds=120)
    assert value.jittered(fire, seed="schedule:1") == jittered(fire, 120, seed="schedule:1")
    assert fire <= value.jittered(fire, seed="schedule:1") <= fire + timedelta(seconds=120)
    assert Timing(kind="cron", cron="0 9 * * *").jittered(fire, seed="schedule:1") == fire
