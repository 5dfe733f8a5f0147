"""Patterns in metrics and events, in pure Python (standard library only).

- `recurring_events`: per event type, the hour-of-day, weekday-and-hour and weekday
  buckets (local time of `tz`) that hold at least `min_share` of the type's occurrences and
  at least `min_count` of them.
- `anomalies`: the modified (robust) z-score 0.6745·(x − median) / MAD; when more than half
  the values are equal (MAD = 0) the mean absolute deviation stands in (x − median) /
  (1.253314·MeanAD), as Iglewicz and Hoaglin suggest. On Gaussian noise a threshold of 3.5
  flags about 1 point in 2,000 by chance. `relative_to="neighbours"` scores each point
  against the mean of its two neighbours instead: spikes on a trending or seasonal metric.
- `trend_changes`: binary segmentation. A segment is split where two separate least-squares
  lines (time as x, so irregular sampling is fine) reduce the squared error most; the
  split is kept when its F statistic ((SSE₁ − SSE₂)/2) / (SSE₂/(m − 4)) reaches `min_f` and
  both parts hold `min_segment` points, then each part is searched again. Then every cut is
  re-placed between its neighbours and dropped if no longer significant there, with F
  corrected for autocorrelated residuals (a first cut can fall between two real changes).
  A cut whose jump is not significant is re-placed with a continuous broken line, which
  locates a pure change of slope better. Candidates are scanned on a stride of about m/100
  points and the best one refined point by point, with prefix sums, so a segment costs O(m).
  Seasonal metrics: pass `season` to take the seasonal profile out first.
- `quiet_hours`: the local hours where a load metric's mean (or an event count) is lowest.
"""

from __future__ import annotations

import math
import operator
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import accumulate, repeat
from zoneinfo import ZoneInfo

from autonomy.forecasting import Point, Series, as_series

__all__ = ["anomalies", "quiet_hours", "recurring_events", "trend_changes"]

JUMP_F = 10.0  # a trend change keeps its level jump when the jump's F reaches this


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _aware(at, where: str) -> datetime:
    if not isinstance(at, datetime):
        raise ValueError(f"{where}: expected a datetime, got {at!r}")
    if at.tzinfo is None:
        raise ValueError(f"{where}: naive datetime {at}; timestamps must be timezone-aware")
    return at


# --- recurring events ----------------------------------------------------------------------
def recurring_events(
    events: Sequence[tuple[str, datetime]],
    *,
    tz: str = "UTC",
    min_count: int = 3,
    min_share: float = 0.5,
    min_days: int = 3,
    min_weeks: int = 3,
) -> list[dict]:
    """Buckets where an event type recurs, most concentrated first.

    Recurring means on several occasions, not many times at once: an hour-of-day bucket
    needs occurrences on at least `min_days` distinct dates, a weekday bucket (with or
    without an hour) on at least `min_weeks` distinct ISO weeks. A burst of events within
    one hour of one day is not a daily pattern.

    Each is {"event_type", "hour", "weekday", "count", "share", "total", "minute",
    "weekdays", "days"}: `hour` (0–23, local) and `weekday` (0 = Monday) say which bucket;
    an hour bucket has weekday None, a weekday bucket has hour None. `share` is count /
    total occurrences of the type, `minute` the median minute past the hour, `weekdays`
    the weekdays the bucket's occurrences fell on, `days` on how many distinct dates and
    `weeks` in how many distinct ISO weeks.
    """
    zone = _zone(tz)
    by_type: dict[str, list[datetime]] = defaultdict(list)
    for i, item in enumerate(events):
        try:
            event_type, at = item
        except (TypeError, ValueError):
            raise ValueError(f"event {i}: expected (event_type, datetime), got {item!r}") from None
        by_type[str(event_type)].append(_aware(at, f"event {i}").astimezone(zone))

    found = []
    for event_type, times in by_type.items():
        total = len(times)
        if total < min_count:
            continue
        buckets: dict[tuple[int | None, int | None], list[datetime]] = defaultdict(list)
        for local in times:
            buckets[(local.hour, None)].append(local)
            buckets[(local.hour, local.weekday())].append(local)
            buckets[(None, local.weekday())].append(local)
        for (hour, weekday), members in buckets.items():
            count = len(members)
            share = count / total
            if count < min_count or share < min_share:
                continue
            days = len({t.date() for t in members})
            weeks = len({t.isocalendar()[:2] for t in members})
            if (weekday is None and days < min_days) or (weekday is not None and weeks < min_weeks):
                continue
            found.append(
                {
                    "event_type": event_type,
                    "hour": hour,
                    "weekday": weekday,
                    "count": count,
                    "share": share,
                    "total": total,
                    "minute": int(statistics.median(t.minute for t in members)) if hour is not None else None,
                    "weekdays": sorted({t.weekday() for t in members}),
                    "days": days,
                    "weeks": weeks,
                }
            )
    found.sort(key=lambda f: (-f["share"], -f["count"], f["event_type"], f["hour"] or 0, f["weekday"] or 0))
    return found


# --- anomalies -----------------------------------------------------------------------------
def robust_scores(values: Sequence[float]) -> tuple[float, float]:
    """(median, scale) such that the robust z-score of x is (x − median) / scale."""
    median = statistics.median(values)
    deviations = list(map(abs, map(operator.sub, values, repeat(median))))
    mad = statistics.median(deviations)
    if mad > 0:
        return median, mad / 0.6745
    return median, 1.253314 * math.fsum(deviations) / len(deviations)


def anomalies(points: Sequence[Point] | Series, *, threshold: float = 3.5, relative_to: str = "median") -> list[dict]:
    """Points whose robust z-score reaches `threshold`, in time order:
    [{"at", "value", "score", "index"}] (score signed; index in the time-ordered series).

    relative_to="median" (default): the score of x is 0.6745·(x − median)/MAD over all the
    values: values far from the series' usual level.
    relative_to="neighbours": the same score of r = x − (mean of the two neighbours): spikes
    against the local level, so a trend, a season or a level shift is not flagged as a whole
    (the two points either side of a shift are). A spike's neighbours, which score about
    −½ of it, are not reported.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    if relative_to not in ("median", "neighbours"):
        raise ValueError(f"relative_to must be 'median' or 'neighbours', got {relative_to!r}")
    series = as_series(points)
    values = series.values
    n = len(values)
    if n < 3:
        return []
    if relative_to == "median":
        scored = values
    else:
        sub, mul = operator.sub, operator.mul
        # x - (left + right) / 2 for the inner points; the ends against their one neighbour.
        halves = map(mul, map(operator.add, values[:-2], values[2:]), repeat(0.5))
        scored = [values[0] - values[1], *map(sub, values[1:-1], halves), values[-1] - values[-2]]
    median, scale = robust_scores(scored)
    if scale <= 0:  # all equal
        return []
    low = median - threshold * scale
    high = median + threshold * scale
    flagged = {i: (r - median) / scale for i, r in enumerate(scored) if r <= low or r >= high}
    if relative_to == "neighbours":
        echoes = [
            i
            for i, z in flagged.items()
            if any(j in flagged and flagged[j] * z < 0 and abs(z) <= 0.85 * abs(flagged[j]) for j in (i - 1, i + 1))
        ]
        for i in echoes:
            del flagged[i]
    return [{"at": series.ats[i], "value": values[i], "score": z, "index": i} for i, z in sorted(flagged.items())]


# --- trend changes -------------------------------------------------------------------------
class _Sums:
    """Prefix sums of x, y, x², xy, y² for O(1) least-squares fits of any slice."""

    def __init__(self, xs: list[float], ys: list[float]):
        mul = operator.mul
        self.xs = xs
        self.x = list(accumulate(xs, initial=0.0))
        self.y = list(accumulate(ys, initial=0.0))
        self.xx = list(accumulate(map(mul, xs, xs), initial=0.0))
        self.xy = list(accumulate(map(mul, xs, ys), initial=0.0))
        self.yy = list(accumulate(map(mul, ys, ys), initial=0.0))

    def fit(self, lo: int, hi: int) -> tuple[float, float, float]:
        """(SSE, slope, intercept) of the least-squares line through points lo..hi-1."""
        m = hi - lo
        sx = self.x[hi] - self.x[lo]
        sy = self.y[hi] - self.y[lo]
        cxx = self.xx[hi] - self.xx[lo] - sx * sx / m
        cxy = self.xy[hi] - self.xy[lo] - sx * sy / m
        cyy = self.yy[hi] - self.yy[lo] - sy * sy / m
        if cxx <= 0:
            return max(cyy, 0.0), 0.0, sy / m
        slope = cxy / cxx
        return max(cyy - slope * cxy, 0.0), slope, (sy - slope * sx) / m

    def best_split(self, lo: int, hi: int, splits: range) -> tuple[float, int]:
        """(SSE of the two lines, k) for the k in `splits` that fits lo..k-1 and k..hi-1 best."""
        px, py, pxx, pxy, pyy = self.x, self.y, self.xx, self.xy, self.yy
        x0, y0, xx0, xy0, yy0 = px[lo], py[lo], pxx[lo], pxy[lo], pyy[lo]
        x1, y1, xx1, xy1, yy1 = px[hi], py[hi], pxx[hi], pxy[hi], pyy[hi]
        best, best_k = math.inf, splits[0]
        for k in splits:
            xk, yk, xxk, xyk, yyk = px[k], py[k], pxx[k], pxy[k], pyy[k]
            m = k - lo
            sx = xk - x0
            sy = yk - y0
            cxx = xxk - xx0 - sx * sx / m
            cxy = xyk - xy0 - sx * sy / m
            sse = yyk - yy0 - sy * sy / m
            if cxx > 0:
                sse -= cxy * cxy / cxx
            m = hi - k
            sx = x1 - xk
            sy = y1 - yk
            cxx = xx1 - xxk - sx * sx / m
            cxy = xy1 - xyk - sx * sy / m
            sse += yy1 - yyk - sy * sy / m
            if cxx > 0:
                sse -= cxy * cxy / cxx
            if sse < best:
                best, best_k = sse, k
        return max(best, 0.0), best_k

    def hinge(self, lo: int, hi: int, splits: range) -> tuple[float, int, float, float]:
        """Best continuous broken line y = a + b·x + c·max(0, x − x_k) through lo..hi-1 over k
        in `splits`: (SSE, k, slope before, slope after)."""
        px, py, pxx, pxy, pyy = self.x, self.y, self.xx, self.xy, self.yy
        m = hi - lo
        sx = px[hi] - px[lo]
        sy = py[hi] - py[lo]
        cxx = pxx[hi] - pxx[lo] - sx * sx / m
        cxy = pxy[hi] - pxy[lo] - sx * sy / m
        cyy = pyy[hi] - pyy[lo] - sy * sy / m
        x1, y1, xx1, xy1 = px[hi], py[hi], pxx[hi], pxy[hi]
        best = (math.inf, splits[0], 0.0, 0.0)
        for k in splits:
            xk = self.xs[k]
            mt = hi - k
            tx = x1 - px[k]
            ty = y1 - py[k]
            txx = xx1 - pxx[k]
            sz = tx - mt * xk
            czz = txx - 2 * xk * tx + mt * xk * xk - sz * sz / m
            cxz = txx - xk * tx - sx * sz / m
            czy = xy1 - pxy[k] - xk * ty - sz * sy / m
            det = cxx * czz - cxz * cxz
            if det <= 0:
                continue
            b = (czz * cxy - cxz * czy) / det
            c = (cxx * czy - cxz * cxy) / det
            sse = cyy - b * cxy - c * czy
            if sse < best[0]:
                best = (max(sse, 0.0), k, b, b + c)
        return best


def _best_split(sums: _Sums, lo: int, hi: int, min_segment: int) -> tuple[float, int] | None:
    first, last = lo + min_segment, hi - min_segment  # split k: left lo..k-1, right k..hi-1
    if first > last:
        return None
    stride = max(1, (last - first) // 100)
    _, coarse = sums.best_split(lo, hi, range(first, last + 1, stride))
    if stride == 1:
        return sums.best_split(lo, hi, range(coarse, coarse + 1))
    return sums.best_split(lo, hi, range(max(first, coarse - stride + 1), min(last, coarse + stride - 1) + 1))


def _deseasonalize(stamps: list[float], ys: list[float], period: float) -> list[float]:
    """ys minus their seasonal profile over `period` (classical decomposition: per phase, the
    median of the values minus a moving average one period wide, so that a trend does not
    leak into the profile, nor does the smeared edge of a level shift). Phases are as wide
    as the median sampling gap and aligned to the UTC epoch. Unchanged when the profile
    cannot be estimated."""
    n = len(ys)
    gaps = sorted(map(operator.sub, stamps[1:], stamps[:-1]))
    step = gaps[len(gaps) // 2] if gaps else 0.0
    if step <= 0:
        return ys
    phases = min(round(period / step), n // 4)
    if phases < 2:
        return ys
    width = period / phases
    if gaps[0] == gaps[-1] == width:  # regular: phase i is (first phase + i) mod phases
        first = int((stamps[0] % period) // width) % phases
        index = (list(range(first, phases)) + list(range(first))) * (n // phases + 1)
    else:
        index = [int((t % period) // width) % phases for t in stamps]
    # Value minus the moving average of the `phases` values around it, where there is room.
    cumulative = list(accumulate(ys, initial=0.0))
    half = phases // 2
    totals = map(operator.sub, cumulative[phases:], cumulative[:-phases])  # window i - half…
    detrended = list(map(operator.sub, ys[half:], map(operator.mul, totals, repeat(1 / phases))))
    if gaps[0] == gaps[-1] == width:
        # Regular: the detrended values of one phase are every `phases`-th from its first.
        starts = {index[half + j]: j for j in range(min(phases, len(detrended)))}
        profile = [statistics.median(detrended[starts[p] :: phases]) if p in starts else 0.0 for p in range(phases)]
    else:
        by_phase: list[list[float]] = [[] for _ in range(phases)]
        for p, d in zip(index[half:], detrended, strict=False):
            by_phase[p].append(d)
        profile = [statistics.median(d) if d else 0.0 for d in by_phase]
    centre = math.fsum(profile) / phases
    shift = [centre - v for v in profile]  # what to add to a value of each phase
    return list(map(operator.add, ys, map(shift.__getitem__, index)))


def trend_changes(
    points: Sequence[Point] | Series,
    *,
    min_segment: int = 10,
    min_f: float = 25.0,
    max_changes: int = 5,
    season: timedelta | None = None,
) -> list[dict]:
    """Change points in a metric's trend, in time order.

    Each is {"at", "index", "slope_before", "slope_after", "level_change", "continuous", "f"}:
    the first point of the new segment, the slopes per hour of the lines fitted either side
    (up to the neighbouring changes), the jump between the two lines at the change (0.0 and
    continuous True for a broken line without a jump: a pure change of slope), and the F
    statistic against one line.

    `min_f` (25) sits well above the 1 % critical values of the sup-F test for a break in a
    line (about 15–17). Residuals that are not white noise (a daily cycle, slow wander)
    inflate F, so when the cuts are confirmed F is divided by 2R − 1 whenever R, the
    residual variance over the local noise variance (from squared first differences), is
    above 1: the variance inflation of AR(1) noise with lag-1 correlation 1 − 1/R. With
    `season` (one day, or one week, which holds the daily cycle too) the seasonal profile is
    subtracted first, so that a seasonal metric's changes can be seen at all.
    """
    if min_segment < 3:
        raise ValueError(f"min_segment must be at least 3, got {min_segment}")
    series = as_series(points)
    n = len(series)
    if n < 2 * min_segment:
        return []
    stamps, ys = series.stamps, series.values
    if season is not None:
        if season.total_seconds() <= 0:
            raise ValueError(f"season must be positive, got {season}")
        ys = _deseasonalize(stamps, ys, season.total_seconds())
    # Prefix sums of squared first differences: the local noise level of any segment.
    steps = list(map(operator.sub, ys[1:], ys[:-1]))
    diffs = list(accumulate(map(operator.mul, steps, steps), initial=0.0))
    centre_x = math.fsum(stamps) / n
    centre_y = math.fsum(ys) / n
    # x in hours and both centred (fewer cancellations in the sums).
    xs = list(map(operator.mul, map(operator.sub, stamps, repeat(centre_x)), repeat(1 / 3600.0)))
    sums = _Sums(xs, list(map(operator.sub, ys, repeat(centre_y))))

    def f_at(lo: int, k: int, hi: int, sse2: float | None = None, *, adjust: bool = True) -> float:
        """F statistic of one line through lo..hi-1 against two split at k."""
        sse1 = sums.fit(lo, hi)[0]
        if sse2 is None:
            sse2 = sums.fit(lo, k)[0] + sums.fit(k, hi)[0]
        if sse2 <= sse1 * 1e-12:
            return math.inf if sse1 > 0 else 0.0
        m = hi - lo
        f = ((sse1 - sse2) / 2) / (sse2 / (m - 4))
        return f / inflation(lo, hi, sse2 / (m - 4)) if adjust else f

    def inflation(lo: int, hi: int, residual_variance: float) -> float:
        noise = (diffs[hi - 1] - diffs[lo]) / (2 * (hi - lo - 1))  # differences within lo..hi-1
        ratio = residual_variance / noise if noise > 0 else 1.0
        return 2 * ratio - 1 if ratio > 1 else 1.0

    splits: dict[tuple[int, int], tuple[float, int] | None] = {}

    def candidate(lo: int, hi: int, *, adjust: bool = True) -> tuple[float, int] | None:
        """(F, k) of the best split of lo..hi-1, or None when there is no room."""
        if (lo, hi) not in splits:
            splits[(lo, hi)] = _best_split(sums, lo, hi, min_segment)
        split = splits[(lo, hi)]
        if split is None:
            return None
        sse2, k = split
        return f_at(lo, k, hi, sse2, adjust=adjust), k

    def bounds(i: int) -> tuple[int, int]:
        return (cuts[i - 1] if i else 0), (cuts[i + 1] if i + 1 < len(cuts) else n)

    # 1. Binary segmentation: split the strongest segment first, then look inside its parts.
    # Plain F here (an unfound change looks like autocorrelated noise); step 2 corrects.
    cuts: list[int] = []
    pending = []
    first = candidate(0, n, adjust=False)
    if first and first[0] >= min_f:
        pending.append((first[0], 0, first[1], n))
    while pending and len(cuts) < 2 * max_changes:
        best = max(pending)
        pending.remove(best)
        _, lo, k, hi = best
        cuts.append(k)
        for a, b in ((lo, k), (k, hi)):
            found = candidate(a, b, adjust=False)
            if found and found[0] >= min_f:
                pending.append((found[0], a, found[1], b))

    # 2. Clean-up: a first split can land between two real changes (a three-part line is
    # best cut once in the middle). Re-place every cut between its neighbours and drop the
    # weakest one that is no longer significant there (F corrected for autocorrelation),
    # until nothing moves.
    cuts.sort()
    for _ in range(4 * len(cuts) + 4):
        moved = False
        scores = []
        for i in range(len(cuts)):
            found = candidate(*bounds(i))
            f, k = found if found else (0.0, cuts[i])
            if k != cuts[i]:
                cuts[i] = k
                moved = True
            scores.append(f)
        weak = [i for i, f in enumerate(scores) if f < min_f]
        if weak:
            del cuts[min(weak, key=scores.__getitem__)]
            continue
        if not moved:
            break
    while len(cuts) > max_changes:  # keep the strongest
        scores = [f_at(bounds(i)[0], k, bounds(i)[1]) for i, k in enumerate(cuts)]
        del cuts[min(range(len(cuts)), key=scores.__getitem__)]

    # 3. A pure change of slope is located better by a continuous broken line than by two
    # free lines (which trade a little jump for a shifted cut): use it, near the cut, unless
    # the jump is itself significant (F for the extra parameter >= JUMP_F).
    changes = []
    for i, k in enumerate(cuts):
        lo, hi = bounds(i)
        m = hi - lo
        sse_free = sums.fit(lo, k)[0] + sums.fit(k, hi)[0]
        reach = max(2 * min_segment, 2 * max(1, m // 100))
        near = range(max(lo + min_segment, k - reach), min(hi - min_segment, k + reach) + 1)
        sse_hinge, k_hinge, b_before, b_after = sums.hinge(lo, hi, near)
        sse1 = sums.fit(lo, hi)[0]
        if sse_free > 0 and (sse_hinge - sse_free) / (sse_free / (m - 4)) < JUMP_F and sse_hinge < sse1:
            f = (
                (sse1 - sse_hinge) / (sse_hinge / (m - 3)) / inflation(lo, hi, sse_hinge / (m - 3))
                if sse_hinge > 0
                else math.inf
            )
            change = {"index": k_hinge, "slope_before": b_before, "slope_after": b_after, "level_change": 0.0}
            change["continuous"] = True
        else:
            f = f_at(lo, k, hi)
            _, slope_before, icpt_before = sums.fit(lo, k)
            _, slope_after, icpt_after = sums.fit(k, hi)
            x_k = xs[k]
            change = {
                "index": k,
                "slope_before": slope_before,
                "slope_after": slope_after,
                "level_change": (icpt_after + slope_after * x_k) - (icpt_before + slope_before * x_k),
                "continuous": False,
            }
        change["at"] = series.ats[change["index"]]
        change["f"] = f if math.isfinite(f) else 1e308
        changes.append(change)
    return changes


# --- quiet hours ---------------------------------------------------------------------------
def quiet_hours(
    items: Sequence[Point] | Series | Sequence[tuple[str, datetime]] | Sequence[datetime],
    *,
    tz: str = "UTC",
    count: int | None = None,
    within: float = 0.1,
) -> list[int]:
    """Local hours (0–23) where load is lowest, quietest first.

    `items` are metric points (load = the mean value per hour of day), or events as
    (event_type, datetime) pairs or bare datetimes (load = occurrences per hour; hours with
    none are the quietest). With `count`, that many hours; otherwise every hour whose load
    is within `within` × (max − min) of the minimum.
    """
    zone = _zone(tz)
    if count is not None and not 1 <= count <= 24:
        raise ValueError(f"count must be between 1 and 24, got {count}")
    if not items:
        return []
    load: dict[int, float] = {}
    if isinstance(items, Series) or isinstance(items[0], Point):
        series = as_series(items)
        totals: dict[int, list[float]] = defaultdict(list)
        for at, v in zip(series.ats, series.values, strict=True):
            totals[at.astimezone(zone).hour].append(v)
        load = {hour: math.fsum(vs) / len(vs) for hour, vs in totals.items()}
    else:
        hours: Counter[int] = Counter()
        for i, item in enumerate(items):
            at = item if isinstance(item, datetime) else item[1]
            hours[_aware(at, f"event {i}").astimezone(zone).hour] += 1
        load = {hour: float(hours.get(hour, 0)) for hour in range(24)}
    ranked = sorted(load, key=lambda h: (load[h], h))
    if count is not None:
        return ranked[:count]
    low, high = load[ranked[0]], load[ranked[-1]]
    return [h for h in ranked if load[h] <= low + within * (high - low)]
