"""When a schedule fires: cron, interval and once, each in the schedule's own IANA timezone.

Pure functions, no database. Every instant going in must be timezone-aware; every instant
coming out is an aware UTC ``datetime``. The rules (see ``docs/cron-dst.md``):

- **cron** expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 with
  a *seconds* field first (cronsim's format). ``@yearly``/``@annually``, ``@monthly``,
  ``@weekly``, ``@daily``/``@midnight`` and ``@hourly`` are accepted and expanded.
  Daylight-saving changes follow Debian cron: a *fixed-time* job (neither the minute nor
  the hour field starts with ``*``) whose wall time is skipped by a spring-forward runs
  once, right after the jump; one whose wall time is repeated by a fall-back runs once, in
  the first pass. Every other job follows wall-clock time: a skipped slot does not exist
  and a repeated slot fires in both passes.
- **interval** schedules fire at ``anchor + k * interval`` in absolute seconds, so DST
  never stretches or shrinks them.
- **once** schedules fire at ``run_at``.

All kinds honour an inclusive ``[start, end]`` window.

What a schedule's timing is travels as one :class:`Timing` value (built from a ``Schedule``
or a dict); the functions below take it first. They still accept the older keyword
arguments (``kind=…, tz=…, cron=…``) instead, for callers not yet switched.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

KINDS = ("cron", "interval", "once")

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

FIELD_NAMES_5 = ("minute", "hour", "day-of-month", "month", "day-of-week")
FIELD_NAMES_6 = ("second", *FIELD_NAMES_5)
FIELD_RANGES = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (0, 7),
}
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# February counts 29: a 29th of February does occur, in leap years.
DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Host-specific files in the zoneinfo directory, not zones: a schedule must mean the same
# thing on every machine.
NOT_ZONES = frozenset({"localtime", "posixrules", "posix", "right"})


class ScheduleError(ValueError):
    """A schedule that cannot work, with the API field to blame."""

    def __init__(self, message: str, *, field: str = "cron_expression"):
        super().__init__(message)
        self.message = message
        self.field = field


# --- the value ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """When a schedule fires, as the functions here need it: no database, hashable.

    ``interval`` schedules count from ``anchor``, else ``start``, else the instant asked
    about. ``jitter_seconds`` only matters to :meth:`jittered`.
    """

    kind: str
    tz: str = "UTC"
    cron: str = ""
    interval_seconds: int | None = None
    anchor: datetime | None = None
    run_at: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    jitter_seconds: int = 0

    @classmethod
    def from_schedule(cls, schedule: Any) -> Timing:
        """From a ``Schedule``, saved or not (one without an ``anchor`` counts from when it was
        created), as ``Schedule.timing_kwargs`` gives it."""
        return cls(
            kind=schedule.kind,
            tz=schedule.timezone,
            cron=schedule.cron_expression or "",
            interval_seconds=schedule.interval_seconds,
            anchor=schedule.anchor or schedule.created,
            run_at=schedule.run_at,
            start=schedule.start_at,
            end=schedule.end_at,
            jitter_seconds=schedule.jitter_seconds or 0,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timing:
        """From a schedule's fields by their model names (``timezone``, ``cron_expression``,
        ``start_at``, …), as a form's cleaned data or an API body has them; absent ones are empty."""
        return cls(
            kind=data["kind"],
            tz=data.get("timezone") or "UTC",
            cron=data.get("cron_expression") or "",
            interval_seconds=data.get("interval_seconds"),
            anchor=data.get("anchor"),
            run_at=data.get("run_at"),
            start=data.get("start_at"),
            end=data.get("end_at"),
            jitter_seconds=data.get("jitter_seconds") or 0,
        )

    def deciding(self) -> Timing:
        """This timing without what cannot change its fires (a cron's anchor, the jitter…),
        so that schedules which fire alike compare equal."""
        if self.kind == "cron":
            return replace(self, interval_seconds=None, anchor=None, run_at=None, jitter_seconds=0)
        if self.kind == "interval":
            return replace(self, cron="", run_at=None, jitter_seconds=0)
        return replace(self, cron="", interval_seconds=None, anchor=None, jitter_seconds=0)

    def jittered(self, fire: datetime, *, seed: str) -> datetime:
        """``fire`` delayed by this timing's jitter (see :func:`jittered`)."""
        return jittered(fire, self.jitter_seconds, seed=seed)


def _timing(timing: Timing | None, legacy: dict[str, Any]) -> Timing:
    """The Timing given, or one built from the older keyword arguments (kind, tz, cron,
    interval_seconds, anchor, run_at, start, end)."""
    if timing is None:
        return Timing(**legacy)
    if legacy:
        raise TypeError(f"pass a Timing or keyword arguments, not both ({', '.join(sorted(legacy))})")
    return timing


# --- validation --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cron:
    expression: str  # normalised: aliases expanded, single spaces, upper case
    fixed_time: bool  # Debian's "fixed-time job": DST-skipped slots move, repeated ones run once


def validate_cron(expression: str) -> str:
    """Return the normalised expression, or raise ScheduleError naming what is wrong.

    Normalising expands aliases (``@daily`` → ``0 0 * * *``), collapses whitespace and
    upper-cases names (``mon-fri`` → ``MON-FRI``).
    """
    return _parse_cron(expression).expression


@functools.lru_cache(maxsize=512)
def _parse_cron(expression: str) -> _Cron:
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError("cron expression is empty")
    text = expression.strip()
    if text.startswith("@"):
        alias = text.lower()
        if alias == "@reboot":
            raise ScheduleError('"@reboot" has no fire times here; use a "once" schedule for a single run')
        if alias not in ALIASES:
            raise ScheduleError(f'unknown alias "{text}"; use one of {", ".join(ALIASES)}')
        text = ALIASES[alias]

    parts = text.split()
    if len(parts) not in (5, 6):
        raise ScheduleError(
            f"expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got {len(parts)}"
        )
    names = FIELD_NAMES_5 if len(parts) == 5 else FIELD_NAMES_6
    values = {name: _check_field(name, part) for name, part in zip(names, parts, strict=True)}
    parts = [part.upper() for part in parts]
    normalised = " ".join(parts)
    fields = dict(zip(names, parts, strict=True))

    # cronsim (like Debian cron) ANDs day-of-month and day-of-week when either starts with
    # "*", and ORs them otherwise; only in the AND case can a date be impossible.
    days_and = fields["day-of-month"].startswith("*") or fields["day-of-week"].startswith("*")
    days = values["day-of-month"]
    if days_and and days and "L" not in fields["day-of-month"]:
        months = sorted(values["month"])
        if min(days) > max(DAYS_IN_MONTH[m] for m in months):
            impossible = sorted(days)
            verb = "occurs" if len(impossible) == 1 else "occur"
            raise ScheduleError(
                f"day-of-month {_join([str(d) for d in impossible], 'and')} never {verb} in "
                f"{_join([calendar.month_name[m] for m in months], 'or')}"
            )

    try:
        simulation = CronSim(normalised, datetime(2000, 1, 1))
    except CronSimError as exc:
        # Our own checks above mirror cronsim's grammar; this is the safety net.
        raise ScheduleError(f"invalid cron expression: {exc}")
    try:
        next(simulation)
    except StopIteration:
        raise ScheduleError("cron expression never matches a date (checked 50 years ahead)")

    fixed_time = not fields["minute"].startswith("*") and not fields["hour"].startswith("*")
    return _Cron(expression=normalised, fixed_time=fixed_time)


def _join(items: list[str], word: str) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _check_field(name: str, text: str) -> set[int]:
    """Check one field against cronsim's grammar; return its plain numeric values."""
    values: set[int] = set()
    for term in text.split(","):
        if term == "":
            raise ScheduleError(f'{name} field "{text}" has an empty item')
        values |= _check_term(name, term)
    return values


def _check_term(name: str, term: str) -> set[int]:
    lo, hi = FIELD_RANGES[name]
    upper = term.upper()
    if upper == "*":
        return set(range(lo, hi + 1))

    if name == "day-of-month" and upper in ("L", "LW"):
        return set()
    if "L" in upper and name == "day-of-week":
        number = upper[:-1]
        if not upper.endswith("L") or not number.isdigit():
            raise ScheduleError(f'day-of-week "{term}": "L" must follow a day number, as in 5L (the last Friday)')
        _value(name, number)
        return set()
    if "#" in upper:
        if name != "day-of-week":
            raise ScheduleError(f'{name} "{term}": "#" is only allowed in day-of-week, as in MON#2')
        day, nth = term.split("#", 1)
        _value(name, day)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(f'day-of-week "{term}": the number after "#" must be 1-5')
        return set()

    if "/" in upper:
        base, step_text = term.split("/", 1)
        if not step_text.isdigit() or int(step_text) < 1:
            raise ScheduleError(f'{name} step "{step_text}" in "{term}" must be a whole number of at least 1')
        step = int(step_text)
        if name == "day-of-month" and base.upper() in ("L", "LW"):
            return set()
        if base == "":
            raise ScheduleError(f'{name} "{term}": a step needs something before "/", as in */{step}')
        base_values = sorted(_check_term(name, base))
        if len(base_values) == 1:
            # "5/15" means "from 5 to the end of the range, every 15th" (as in cronsim).
            base_values = list(range(base_values[0], hi + 1))
        return set(base_values[::step])

    if "-" in upper:
        first, last = term.split("-", 1)
        start, end = _value(name, first), _value(name, last)
        if end < start:
            raise ScheduleError(
                f"{name} range {term} runs backwards; ranges cannot wrap around, so split it in two"
                + (f" ({start}-{hi},{lo}-{end})" if name not in ("month", "day-of-week") else "")
            )
        return set(range(start, end + 1))

    return {_value(name, term)}


def _value(name: str, text: str) -> int:
    lo, hi = FIELD_RANGES[name]
    if name == "month" and text.upper() in MONTH_NAMES:
        return MONTH_NAMES.index(text.upper()) + 1
    if name == "day-of-week" and text.upper() in DAY_NAMES:
        return DAY_NAMES.index(text.upper())
    if not text.isdigit() or not text.isascii():
        what = {"month": " or a month name (JAN-DEC)", "day-of-week": " or a day name (SUN-SAT)"}.get(name, "")
        hint = ""
        if text == "?":
            hint = '; "?" is Quartz syntax, write "*"'
        elif name == "day-of-month" and text.upper().endswith("W"):
            hint = '; "W" (nearest weekday) is supported only as LW (last weekday)'
        elif "L" in text.upper() and name not in ("day-of-month", "day-of-week"):
            hint = '; "L" (last) is only allowed in day-of-month (L, LW) and day-of-week (as in 5L)'

        raise ScheduleError(f'{name} value "{text}" is not a number{what}{hint}')
    value = int(text)
    if not lo <= value <= hi:
        raise ScheduleError(f"{name} value {value} is out of range {lo}-{hi}")
    return value


def validate_timezone(name: str) -> ZoneInfo:
    """Return the zone for an IANA name (``"Europe/Riga"``, ``"UTC"``), or raise ScheduleError."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("timezone is required, e.g. Europe/Riga or UTC", field="timezone")
    name = name.strip()
    known = _known_zones()
    if name in NOT_ZONES or (known and name not in known):
        raise ScheduleError(_unknown_zone_message(name, known), field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(_unknown_zone_message(name, known), field="timezone")


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _unknown_zone_message(name: str, known: frozenset[str]) -> str:
    by_lower = {zone.lower(): zone for zone in known}
    suggestion = by_lower.get(name.lower())
    if suggestion and suggestion != name:
        return f'unknown timezone "{name}"; did you mean "{suggestion}"?'
    return f'unknown timezone "{name}"; use an IANA name such as "Europe/Riga" or "UTC"'


def describe_cron(expression: str) -> str:
    """Human-readable text for a cron expression, e.g. "At 09:00 on Monday through Friday"."""
    normalised = validate_cron(expression)
    try:
        return CronSim(normalised, datetime(2000, 1, 1)).explain()
    except Exception:  # explain() is best-effort text; never fail a page over it
        return normalised


# --- fire times --------------------------------------------------------------------------


def next_fire(timing: Timing | None = None, *, after: datetime, **legacy: Any) -> datetime | None:
    """The first fire instant strictly after ``after`` inside ``[start, end]``, or None."""
    return next(_fires(_timing(timing, legacy), after), None)


def next_fire_shared(timing: Timing | None = None, *, after: datetime, **legacy: Any) -> datetime | None:
    """next_fire (the same arguments), remembered: schedules that share an expression and
    zone (thousands of "0 9 * * *" in one zone) cost one computation per dispatcher tick,
    not one each. Only what decides the answer is in the key (a cron's anchor is not)."""
    return _next_fire_memo(_timing(timing, legacy).deciding(), after)


@functools.lru_cache(maxsize=4096)
def _next_fire_memo(timing: Timing, after: datetime) -> datetime | None:
    return next_fire(timing, after=after)


def fires_between(
    timing: Timing | None = None, *, after: datetime, until: datetime, limit: int = 1000, **legacy: Any
) -> list[datetime]:
    """Fire instants in ``(after, until]``, oldest first, at most ``limit`` of them."""
    timing = _timing(timing, legacy)
    until = _as_utc(until, "until")
    result: list[datetime] = []
    if limit <= 0:
        return result
    for fire in _fires(timing, after):
        if fire > until:
            break
        result.append(fire)
        if len(result) >= limit:
            break
    return result


def preview(
    timing: Timing | None = None, *, count: int = 10, after: datetime | None = None, **legacy: Any
) -> list[dict]:
    """The next ``count`` fires as shown to people: UTC instant, local text, offset, DST note.

    A fire whose UTC offset differs from the previous fire's (for the first, from the
    offset at ``after``) carries a ``dst_change`` note such as
    "DST starts: clocks go forward 1h (03:00→04:00)".
    """
    timing = _timing(timing, legacy)
    zone = validate_timezone(timing.tz)
    after = _as_utc(after, "after") if after is not None else datetime.now(UTC)
    fires: list[datetime] = []
    if count > 0:
        for fire in _fires(timing, after):
            fires.append(fire)
            if len(fires) >= count:
                break

    with_seconds = any(fire.second or fire.microsecond for fire in fires)
    time_format = "%Y-%m-%d %H:%M:%S %Z" if with_seconds else "%Y-%m-%d %H:%M %Z"
    rows = []
    previous = after
    for fire in fires:
        local = fire.astimezone(zone)
        rows.append(
            {
                "at": fire,
                "local": local.strftime(time_format),
                "utc_offset": _format_offset(local.utcoffset()),
                "dst_change": _offset_change(previous, fire, zone),
            }
        )
        previous = fire
    return rows


def jittered(fire: datetime, jitter_seconds: int, *, seed: str) -> datetime:
    """``fire`` delayed by a whole number of seconds in ``[0, jitter_seconds]``.

    The delay comes from a hash of ``seed`` and the fire instant, so every dispatcher
    computes the same value for the same schedule and slot.
    """
    if not jitter_seconds or jitter_seconds <= 0:
        return fire
    instant = _as_utc(fire, "fire").isoformat()
    digest = hashlib.sha256(f"{seed}\x00{instant}".encode()).digest()
    delay = int.from_bytes(digest[:8], "big") % (jitter_seconds + 1)
    return fire + timedelta(seconds=delay)


# --- internals ---------------------------------------------------------------------------


def _as_utc(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ScheduleError(f"{field} must be a datetime", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleError(f"{field} must include a timezone", field=field)
    return value.astimezone(UTC)


def _fires(timing: Timing, after: datetime) -> Iterator[datetime]:
    """All fires strictly after ``after`` inside ``[start, end]``, strictly increasing, UTC."""
    kind = timing.kind
    after = _as_utc(after, "after")
    start = _as_utc(timing.start, "start") if timing.start is not None else None
    end = _as_utc(timing.end, "end") if timing.end is not None else None
    if kind == "cron":
        zone = validate_timezone(timing.tz)
        parsed = _parse_cron(timing.cron)
        # Begin just before `start` so that a fire exactly at `start` counts.
        begin = max(after, start - timedelta(microseconds=1)) if start is not None else after
        fires = _cron_fires(parsed, zone, begin)
    elif kind == "interval":
        fires = _interval_fires(timing.interval_seconds, anchor=timing.anchor, start=start, after=after)
    elif kind == "once":
        if timing.run_at is None:
            raise ScheduleError("a once schedule needs run_at", field="run_at")
        fires = iter([_as_utc(timing.run_at, "run_at")])
    else:
        raise ScheduleError(f'unknown schedule kind "{kind}"; use one of {", ".join(KINDS)}', field="kind")

    for fire in fires:
        if fire <= after or (start is not None and fire < start):
            continue
        if end is not None and fire > end:
            return
        yield fire


def _cron_fires(parsed: _Cron, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Fires strictly after ``after``, strictly increasing.

    cronsim walks *naive wall time* here, and each wall-clock slot is turned into instants
    by us. We do not use cronsim's own timezone handling because (measured on 2.8):
    it applies Debian's rule to 5-field expressions only; started inside the second pass
    of a repeated hour it returns the first pass, an instant *before* its start; and in
    wall-clock mode it steps hours in absolute time, so after a 30-minute change
    (Australia/Lord_Howe) it lands on :30 and skips the first half of the next matching
    hour (``*/15 3 * * *`` fires 03:30 and 03:45 only).
    """
    slots = _fixed_time_instants if parsed.fixed_time else _wall_clock_instants
    last = after
    for fire in slots(parsed.expression, zone, after.astimezone(zone)):
        if fire > last:
            last = fire
            yield fire


def _fixed_time_instants(expression: str, zone: ZoneInfo, local_after: datetime) -> Iterator[datetime]:
    # Debian: a slot in a repeated hour runs once (first pass); a skipped one runs at the jump.
    for wall in CronSim(expression, local_after.replace(tzinfo=None)):
        yield _resolve_wall_time(wall, zone)


def _wall_clock_instants(expression: str, zone: ZoneInfo, local_after: datetime) -> Iterator[datetime]:
    # Every real instant whose wall time matches: skipped slots vanish, repeated slots fire
    # in both passes. Second-pass instants come after every first-pass one of the same
    # fold, so they wait in `second_pass` until the walk passes them.
    start = local_after.replace(tzinfo=None)
    fold_length = local_after.replace(fold=0).utcoffset() - local_after.replace(fold=1).utcoffset()
    if local_after.fold == 0 and fold_length > timedelta(0):
        # `after` is in the first pass of a repeated hour: the second pass of the slots
        # already behind it is still to come.
        start -= fold_length
    second_pass: list[datetime] = []
    for wall in CronSim(expression, start):
        first = wall.replace(tzinfo=zone, fold=0)
        if not _exists(first):
            continue
        instant = first.astimezone(UTC)
        while second_pass and second_pass[0] < instant:
            yield second_pass.pop(0)
        yield instant
        again = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if again != instant:
            second_pass.append(again)
    yield from second_pass


def _resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a fixed-time slot runs: its first occurrence, or the end of a DST gap."""
    local = wall.replace(tzinfo=zone, fold=0)
    if _exists(local):
        return local.astimezone(UTC)
    # Skipped by a spring-forward: run when the clocks land, i.e. at the first wall-clock
    # minute that exists (transitions happen on whole minutes).
    probe = wall.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        candidate = probe.replace(tzinfo=zone, fold=0)
        if _exists(candidate):
            return candidate.astimezone(UTC)
    raise ScheduleError(f"no valid local time after {wall:%Y-%m-%d %H:%M} in {zone.key}", field="timezone")


def _exists(local: datetime) -> bool:
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(tzinfo=None)


def _interval_fires(
    interval_seconds: int | None, *, anchor: datetime | None, start: datetime | None, after: datetime
) -> Iterator[datetime]:
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int) or interval_seconds <= 0:
        raise ScheduleError("interval must be a whole number of seconds, at least 1", field="interval_seconds")
    step = timedelta(seconds=interval_seconds)
    base = _as_utc(anchor, "anchor") if anchor is not None else (start or after)
    k = (after - base) // step + 1 if after >= base else 0
    if start is not None and start > base:
        k = max(k, -((base - start) // step))  # ceil((start - base) / step)
    while True:
        yield base + k * step
        k += 1


def _format_offset(offset: timedelta | None) -> str:
    seconds = int((offset or timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def _format_shift(seconds: int) -> str:
    hours, rest = divmod(abs(seconds), 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours}h{minutes:02d}m"
    return f"{hours}h" if hours else f"{minutes}m"


def _offset_change(previous: datetime, fire: datetime, zone: ZoneInfo) -> str:
    before, now = previous.astimezone(zone), fire.astimezone(zone)
    old, new = before.utcoffset(), now.utcoffset()
    if old == new:
        return ""
    # Bisect for the moment the offset changed, to show the clocks' jump in wall time.
    lo, hi = previous, fire
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == old:
            lo = mid
        else:
            hi = mid
    moment = hi.replace(microsecond=0)
    if moment.astimezone(zone).utcoffset() == old:
        moment += timedelta(seconds=1)
    wall_before = (moment + old).strftime("%H:%M")
    wall_after = (moment + new).strftime("%H:%M")
    shift = int((new - old).total_seconds())
    direction = "forward" if shift > 0 else "back"
    if before.dst() == now.dst():
        label = "UTC offset changes"
    else:
        label = "DST starts" if shift > 0 else "DST ends"
    return f"{label}: clocks go {direction} {_format_shift(shift)} ({wall_before}→{wall_after})"
