"""Forecasting metric series, in pure Python (standard library only).

A metric is a list of `Point(at, value)` with aware timestamps, or a `Series` built once
from them. `forecast()` resamples it to a regular grid (`regularize`: the mean per
step-sized bucket, gaps carried forward, buckets aligned to the UTC epoch so hour-of-day
and weekday seasons line up), then:

- **back-tests** every method on up to 4 consecutive held-out tails (rolling origin) of
  `holdout = min(horizon steps, n // 4)` points each, every origin leaving at least half
  the series to fit on: the method is fitted on everything before a tail and asked to
  predict it; its error is the **MAE** (mean absolute error, in the metric's own unit)
  over all the tails;
- forecasts `horizon` ahead with every method fitted on the whole series: `linear`
  (least-squares line), `holt` (Holt's linear / double exponential smoothing; alpha and
  beta by a 4×3 grid search plus a local refinement on the one-step SSE, over at most the
  336 values before the first tail), `seasonal_naive` (the value one season ago; the
  season is a day or a week of steps, only when the series holds two seasons before the
  first tail *and* repeats at that lag clearly better than at half of it, see
  `_seasonality`), `naive` (the last value; a baseline, not in the ensemble) and
  `ensemble` (the weighted mean of linear, holt and seasonal naive, weights proportional
  to 1 / MAE², summing to 1);
- gives each forecast a **prediction interval** (80 % by default): the RMSE of its
  back-test residuals is the error's standard deviation, widened by sqrt(h / holdout) for
  steps past the tail's length, and the interval is value ± z·sigma (normal residuals
  assumed);
- names the one with the lowest back-test error `best`.

The ensemble's weights are chosen on the same tails its error is measured on, so its
reported error is slightly optimistic; it can never exceed the weighted mean of its
members' errors. Fewer than 3 points give a flat `naive` forecast. NaN, infinity,
non-numbers and naive datetimes raise `ValueError` naming the point.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from statistics import NormalDist

__all__ = [
    "ENSEMBLE_MEMBERS",
    "Forecast",
    "Point",
    "Series",
    "as_series",
    "backtest",
    "breach",
    "forecast",
    "holt",
    "holt_fit",
    "linear_fit",
    "linear_trend",
    "naive",
    "regularize",
    "seasonal_naive",
]

DEFAULT_LEVEL = 0.8
MAX_BUCKETS = 1_000_000  # a series spanning more steps than this is refused, not allocated
HOLT_WINDOW = 336  # Holt is fitted on (and run over) at most this many trailing values
SEASONALITY_MIN_STRENGTH = 0.2  # 1 − (lag-s error / lag-s/2 error), see _seasonality
BACKTEST_WINDOWS = 4  # rolling-origin tails back-tested per method
ENSEMBLE_MEMBERS = ("linear", "holt", "seasonal_naive")
ALL_METHODS = ("linear", "holt", "seasonal_naive", "naive")

_HOLT_ALPHAS = (0.1, 0.3, 0.6, 0.9)
_HOLT_BETAS = (0.02, 0.1, 0.3)


@dataclass(slots=True)
class Point:
    at: datetime  # aware
    value: float


@dataclass
class Forecast:
    method: str  # "linear" | "holt" | "seasonal_naive" | "naive" | "ensemble"
    points: list[tuple[datetime, float, float, float]]  # (at, value, lower, upper)
    backtest_error: float  # MAE on the held-out tail (0.0 with holdout == 0: not back-tested)
    weights: dict[str, float] | None = None  # ensemble only
    params: dict = field(default_factory=dict)  # fitted parameters (slope, alpha/beta, season…)
    holdout: int = 0  # length of each back-tested tail, in steps
    windows: int = 0  # how many tails (rolling origins) were back-tested
    level: float = DEFAULT_LEVEL  # coverage of the (lower, upper) interval
    sigma: float = 0.0  # RMSE of the back-test residuals

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "backtest_error": self.backtest_error,
            "error_metric": "mae",
            "holdout": self.holdout,
            "windows": self.windows,
            "level": self.level,
            "weights": self.weights,
            "params": self.params,
            "points": [
                {"at": at.isoformat(), "value": value, "lower": lower, "upper": upper}
                for at, value, lower, upper in self.points
            ],
        }


# --- input ---------------------------------------------------------------------------------
_get_at = operator.attrgetter("at")
_get_value = operator.attrgetter("value")
_get_tzinfo = operator.attrgetter("tzinfo")


class Series:
    """A validated, time-ordered metric series: epoch seconds and float values.

    Every analysis function takes either a list of `Point`s or a `Series`; build the series
    once (`Series.from_points`, or `Series.from_pairs` for `(datetime, value)` rows straight
    from a query) when several analyses read the same metric, so it is validated and
    converted once.
    """

    __slots__ = ("ats", "stamps", "values")

    def __init__(self, ats: list[datetime], stamps: list[float], values: list[float]):
        self.ats = ats
        self.stamps = stamps
        self.values = values

    @classmethod
    def from_points(cls, points: Sequence[Point]) -> Series:
        try:
            ats = list(map(_get_at, points))
            raw = list(map(_get_value, points))
        except AttributeError:
            i = next(i for i, p in enumerate(points) if not (hasattr(p, "at") and hasattr(p, "value")))
            raise ValueError(f"point {i} is not a Point (needs .at and .value): {points[i]!r}") from None
        return cls._build(ats, raw)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[datetime, float]]) -> Series:
        ats: list[datetime] = []
        raw: list = []
        for i, pair in enumerate(pairs):
            try:
                at, value = pair
            except (TypeError, ValueError):
                raise ValueError(f"point {i}: expected (datetime, value), got {pair!r}") from None
            ats.append(at)
            raw.append(value)
        return cls._build(ats, raw)

    @classmethod
    def _build(cls, ats: list, raw: list) -> Series:
        values = _floats(raw, ats)
        stamps = _stamps(ats)
        if not all(map(operator.le, stamps, stamps[1:])):
            order = sorted(range(len(stamps)), key=stamps.__getitem__)
            ats = [ats[i] for i in order]
            stamps = [stamps[i] for i in order]
            values = [values[i] for i in order]
        return cls(ats, stamps, values)

    def __len__(self) -> int:
        return len(self.values)

    def points(self) -> list[Point]:
        return list(map(Point, self.ats, self.values))


def as_series(points: Sequence[Point] | Series) -> Series:
    return points if isinstance(points, Series) else Series.from_points(points)


def _floats(raw: Sequence, ats: Sequence) -> list[float]:
    """The values as floats; ValueError naming the first non-numeric or non-finite one."""
    try:
        values = list(map(float, raw))
    except (TypeError, ValueError):
        for i, v in enumerate(raw):
            try:
                float(v)
            except (TypeError, ValueError):
                raise ValueError(f"point {i} (at {ats[i]}) has a non-numeric value: {v!r}") from None
        raise
    if not all(map(math.isfinite, values)):
        i = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise ValueError(
            f"point {i} (at {ats[i]}) has a non-finite value ({values[i]}): NaN and infinity are not allowed"
        )
    return values


def _stamps(ats: Sequence) -> list[float]:
    """Epoch seconds; ValueError for anything but aware datetimes."""
    try:
        if None in map(_get_tzinfo, ats):
            i = next(i for i, at in enumerate(ats) if at.tzinfo is None)
            raise ValueError(f"point {i} has a naive datetime ({ats[i]}); timestamps must be timezone-aware")
        return list(map(datetime.timestamp, ats))
    except (AttributeError, TypeError):
        i = next(i for i, at in enumerate(ats) if not isinstance(at, datetime))
        raise ValueError(f"point {i} has no datetime: {ats[i]!r}") from None


def _check_values(values: Sequence[float], name: str = "values") -> list[float]:
    values = list(values)
    if not all(map(math.isfinite, values)):
        i = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise ValueError(f"{name}[{i}] is not finite ({values[i]}): NaN and infinity are not allowed")
    return values


def _step_seconds(step: timedelta) -> float:
    seconds = step.total_seconds()
    if seconds <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return seconds


def _grid(points: Sequence[Point] | Series, step_s: float) -> tuple[float, list[float]]:
    """(epoch seconds of the first bucket's start, mean value per bucket)."""
    series = as_series(points)
    stamps, values = series.stamps, series.values
    if not values:
        raise ValueError("no points")
    start = math.floor(stamps[0] / step_s) * step_s
    buckets = int((stamps[-1] - start) // step_s) + 1
    if buckets > MAX_BUCKETS:
        raise ValueError(
            f"the points span {buckets} steps of {step_s:g} s (more than {MAX_BUCKETS}); use a larger step"
        )
    if buckets == len(values):
        gaps = list(map(operator.sub, stamps[1:], stamps[:-1]))
        if not gaps or (min(gaps) > step_s * (1 - 1e-9) and max(gaps) < step_s * (1 + 1e-9)):
            return start, values  # already one point per step: nothing to average or fill
    sums = [0.0] * buckets
    counts = [0] * buckets
    for t, v in zip(stamps, values, strict=True):
        i = int((t - start) // step_s)
        sums[i] += v
        counts[i] += 1
    out = []
    last = values[0]
    for s, c in zip(sums, counts, strict=True):
        if c:
            last = s / c
        out.append(last)
    return start, out


def regularize(points: Sequence[Point] | Series, *, step: timedelta) -> list[float]:
    """Resample to a regular grid of `step` (buckets aligned to the UTC epoch): the mean of
    the points in each bucket; an empty bucket carries the previous bucket's value forward."""
    return _grid(points, _step_seconds(step))[1]


# --- methods -------------------------------------------------------------------------------
def linear_fit(values: Sequence[float]) -> tuple[float, float]:
    """Least-squares line through (i, values[i]): (intercept, slope per step)."""
    n = len(values)
    if n == 0:
        raise ValueError("values is empty")
    if n == 1:
        return float(values[0]), 0.0
    mean_x = (n - 1) / 2
    mean_y = math.fsum(values) / n
    sxx = n * (n * n - 1) / 12  # sum of (i - mean_x)^2
    sxy = sum(map(operator.mul, range(n), values)) - mean_x * mean_y * n
    slope = sxy / sxx
    return mean_y - slope * mean_x, slope


def _linear_fits(values: Sequence[float], ends: Sequence[int]) -> dict[int, tuple[float, float]]:
    """linear_fit(values[:end]) for every end, from the whole series' sums minus each tail."""
    n = len(values)
    total_y = math.fsum(values)
    total_xy = sum(map(operator.mul, range(n), values))
    fits = {}
    for end in ends:
        if end < 2:
            fits[end] = (float(values[0]), 0.0)
            continue
        tail = values[end:]
        sy = total_y - math.fsum(tail)
        sxy = total_xy - sum(map(operator.mul, range(end, n), tail))
        mean_x = (end - 1) / 2
        slope = (sxy - mean_x * sy) / (end * (end * end - 1) / 12)
        fits[end] = (sy / end - slope * mean_x, slope)
    return fits


def linear_trend(values: Sequence[float], horizon: int) -> list[float]:
    intercept, slope = linear_fit(values)
    n = len(values)
    return [intercept + slope * (n + k) for k in range(horizon)]


def naive(values: Sequence[float], horizon: int) -> list[float]:
    if not values:
        raise ValueError("values is empty")
    return [float(values[-1])] * horizon


def _holt_run(values: Sequence[float], alpha: float, beta: float) -> tuple[float, float, float]:
    """One pass of Holt's method in error-correction form: (level, trend, one-step SSE)."""
    n = len(values)
    k = min(n, 10)
    level = values[0]
    trend = linear_fit(values[:k])[1] if k > 1 else 0.0
    ab = alpha * beta
    sse = 0.0
    for y in values[1:]:
        f = level + trend
        e = y - f
        sse += e * e
        level = f + alpha * e
        trend += ab * e
    return level, trend, sse


def _holt_states(
    values: Sequence[float], alpha: float, beta: float, ends: Sequence[int]
) -> dict[int, tuple[float, float]]:
    """(level, trend) after values[:end] for every end (>= 1), in one pass."""
    wanted = set(ends)
    k = min(len(values), 10)
    level = values[0]
    trend = linear_fit(values[:k])[1] if k > 1 else 0.0
    ab = alpha * beta
    states = {1: (level, trend)} if 1 in wanted else {}
    for i in range(1, len(values)):
        f = level + trend
        e = values[i] - f
        level = f + alpha * e
        trend += ab * e
        if i + 1 in wanted:
            states[i + 1] = (level, trend)
    return states


def holt_fit(values: Sequence[float]) -> tuple[float, float]:
    """(alpha, beta) minimising the one-step SSE: a 4×3 grid, then the best point's four
    neighbours along each axis (alpha × 0.6 / × 1.4, beta ÷ 2 / × 2)."""
    if len(values) < 3:
        return 1.0, 0.1
    best = min(
        ((_holt_run(values, a, b)[2], a, b) for a in _HOLT_ALPHAS for b in _HOLT_BETAS),
        key=operator.itemgetter(0),
    )
    _, a0, b0 = best
    for a, b in (
        (max(0.02, a0 * 0.6), b0),
        (min(1.0, a0 * 1.4), b0),
        (a0, max(0.005, b0 / 2)),
        (a0, min(0.6, b0 * 2)),
    ):
        if (a, b) != (a0, b0):
            sse = _holt_run(values, a, b)[2]
            if sse < best[0]:
                best = (sse, a, b)
    return best[1], best[2]


def holt(
    values: Sequence[float], horizon: int, *, alpha: float | None = None, beta: float | None = None
) -> list[float]:
    """Holt's linear (double exponential) smoothing; alpha / beta fitted by `holt_fit` when None."""
    values = list(values)
    if not values:
        raise ValueError("values is empty")
    if alpha is None or beta is None:
        fit_a, fit_b = holt_fit(values)
        alpha = fit_a if alpha is None else alpha
        beta = fit_b if beta is None else beta
    if not (0 < alpha <= 1 and 0 <= beta <= 1):
        raise ValueError(f"alpha must be in (0, 1] and beta in [0, 1], got {alpha}, {beta}")
    level, trend, _ = _holt_run(values, alpha, beta)
    return [level + trend * (k + 1) for k in range(horizon)]


def seasonal_naive(values: Sequence[float], horizon: int, *, season: int) -> list[float]:
    """The value one season earlier (24 = hour of day and 168 = weekday at an hourly step)."""
    n = len(values)
    if season < 1:
        raise ValueError(f"season must be >= 1, got {season}")
    if n < season:
        raise ValueError(f"seasonal naive needs at least one season ({season} values), got {n}")
    return [float(values[n - season + k % season]) for k in range(horizon)]


_METHODS: dict[str, Callable[..., list[float]]] = {
    "linear": linear_trend,
    "holt": holt,
    "seasonal_naive": seasonal_naive,
    "naive": naive,
}


def _mae(actual: Sequence[float], predicted: Sequence[float]) -> float:
    return math.fsum(map(abs, map(operator.sub, actual, predicted))) / len(actual)


def _rmse(actual: Sequence[float], predicted: Sequence[float]) -> float:
    return math.sqrt(math.fsum(d * d for d in map(operator.sub, actual, predicted)) / len(actual))


def _origins(n: int, holdout: int, windows: int) -> list[int]:
    """Ends of the training data for up to `windows` consecutive tails of `holdout` values
    (oldest first), each leaving at least half the series (and 2 values) to fit on."""
    floor = max(2, n // 2)
    origins = [n - j * holdout for j in range(1, max(windows, 1) + 1)]
    return sorted(o for o in origins if o >= floor) or [n - holdout]


def backtest(
    method: str | Callable[..., list[float]],
    values: Sequence[float],
    *,
    holdout: int,
    windows: int = 1,
    **kwargs,
) -> float:
    """MAE of `method` (a name or a `(values, horizon, **kwargs) -> list` callable) fitted on
    all but the last `holdout` values and asked to predict them; with `windows` > 1 also on
    the tails before (rolling origin), errors pooled."""
    values = _check_values(values)
    if not 1 <= holdout < len(values):
        raise ValueError(f"holdout must be between 1 and len(values) - 1 = {len(values) - 1}, got {holdout}")
    fn = _METHODS[method] if isinstance(method, str) else method
    actual: list[float] = []
    predicted: list[float] = []
    for origin in _origins(len(values), holdout, windows):
        actual += values[origin : origin + holdout]
        predicted += fn(values[:origin], holdout, **kwargs)
    return _mae(actual, predicted)


# --- seasonality ---------------------------------------------------------------------------
def _seasonality(values: Sequence[float], seasons: Sequence[int]) -> dict[int, float]:
    """Per candidate season s (with two seasons of data): 1 − e(s) / e(s/2), where e(lag) is
    the median absolute lag difference over the last min(n − s, max(4·s, 672)) values, net
    of drift. A
    series that repeats every s steps but not every s/2 scores near 1; noise, a trend, a
    level shift or spikes score near 0."""
    strength = {}
    for s in seasons:
        if s < 2 or len(values) < 2 * s:
            continue
        window = min(len(values) - s, max(4 * s, 672))
        reference = _lag_error(values, s // 2, window, robust=True)
        strength[s] = 1 - _lag_error(values, s, window, robust=True) / reference if reference > 0 else 0.0
    return strength


def _lag_error(values: Sequence[float], lag: int, window: int, *, robust: bool = False) -> float:
    """How far y[t] is from y[t - lag] over the last `window` values.

    Plain: the mean |y[t] − y[t − lag]|, which is the seasonal naive forecast's error for
    season `lag`. With `robust`: the median absolute deviation of those differences from
    their median (net of a trend's drift, and blind to a level shift or spikes, which touch
    only some of the differences)."""
    tail = values[-window:]
    diffs = list(map(operator.sub, tail, values[-window - lag : len(values) - lag]))
    if not robust:
        return math.fsum(map(abs, diffs)) / len(diffs)
    diffs.sort()
    drift = diffs[len(diffs) // 2]
    deviations = sorted(map(abs, map(operator.sub, diffs, repeat(drift))))
    return deviations[len(deviations) // 2]


def _season_candidates(step_s: float) -> list[int]:
    seasons = []
    for period in (86400.0, 7 * 86400.0):
        season = round(period / step_s)
        if season >= 2 and abs(season * step_s - period) < step_s / 2 and season not in seasons:
            seasons.append(season)
    return seasons


# --- forecast ------------------------------------------------------------------------------
def _interval_points(
    times: list[datetime], values: list[float], sigma: float, holdout: int, z: float
) -> list[tuple[datetime, float, float, float]]:
    out = []
    scale = max(holdout, 1)
    for h, (at, v) in enumerate(zip(times, values, strict=True), start=1):
        half = z * sigma * (math.sqrt(h / scale) if h > scale else 1.0)
        out.append((at, v, v - half, v + half))
    return out


def _weights(errors: dict[str, float]) -> dict[str, float]:
    zero = [m for m, e in errors.items() if e <= 0]
    if zero:
        return {m: (1 / len(zero) if m in zero else 0.0) for m in errors}
    raw = {m: 1 / (e * e) for m, e in errors.items()}
    total = math.fsum(raw.values())
    return {m: w / total for m, w in raw.items()}


def _combine(weights: dict[str, float], series: dict[str, list[float]]) -> list[float]:
    columns = [[w * v for v in series[m]] for m, w in weights.items()]
    return list(map(math.fsum, zip(*columns, strict=True)))


def forecast(
    points: Sequence[Point] | Series,
    *,
    horizon: timedelta,
    step: timedelta = timedelta(hours=1),
    level: float = DEFAULT_LEVEL,
    methods: Sequence[str] | None = None,
    windows: int = BACKTEST_WINDOWS,
) -> dict[str, Forecast]:
    """Forecast `horizon` ahead with every method (or only `methods`), plus "ensemble" (when
    two or more members ran) and "best" (the lowest back-test MAE). Fewer than 3 points:
    {"naive": …, "best": …}, a flat forecast."""
    step_s = _step_seconds(step)
    if horizon.total_seconds() <= 0:
        raise ValueError(f"horizon must be positive, got {horizon}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    wanted = tuple(ALL_METHODS if methods is None else methods)
    unknown = [m for m in wanted if m not in ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown forecasting method(s) {unknown}; known: {list(ALL_METHODS)}")
    start, values = _grid(points, step_s)
    n = len(values)
    steps = math.ceil(horizon.total_seconds() / step_s)
    times = [datetime.fromtimestamp(start + (n + k) * step_s, tz=UTC) for k in range(steps)]
    z = NormalDist().inv_cdf((1 + level) / 2)

    if n < 3:
        sigma = abs(values[1] - values[0]) if n == 2 else 0.0
        flat = Forecast(
            method="naive",
            points=_interval_points(times, naive(values, steps), sigma, 1, z),
            backtest_error=sigma,
            holdout=n - 1,
            level=level,
            sigma=sigma,
            params={"reason": "fewer than 3 points"},
        )
        return {"naive": flat, "best": flat}

    holdout = min(steps, max(1, n // 4))
    origins = _origins(n, holdout, windows)
    first = origins[0]
    actual = [v for o in origins for v in values[o : o + holdout]]
    predicted: dict[str, list[float]] = {}  # back-test predictions of the tails, pooled
    final: dict[str, list[float]] = {}  # forecasts from the whole series
    params: dict[str, dict] = {}

    if "linear" in wanted:
        fits = _linear_fits(values, [*origins, n])
        predicted["linear"] = [a + b * (o + k) for o in origins for a, b in [fits[o]] for k in range(holdout)]
        intercept, slope = fits[n]
        final["linear"] = [intercept + slope * (n + k) for k in range(steps)]
        params["linear"] = {"intercept": intercept, "slope_per_step": slope}
    if "holt" in wanted:
        # Parameters from the data before the first tail; then one pass over the window
        # gives the state at every origin and at the end.
        begin = max(0, first - HOLT_WINDOW)
        alpha, beta = holt_fit(values[begin:first])
        states = _holt_states(values[begin:], alpha, beta, [o - begin for o in origins] + [n - begin])
        predicted["holt"] = [
            level_ + trend * (k + 1) for o in origins for level_, trend in [states[o - begin]] for k in range(holdout)
        ]
        level_, trend = states[n - begin]
        final["holt"] = [level_ + trend * (k + 1) for k in range(steps)]
        params["holt"] = {"alpha": alpha, "beta": beta}
    if "seasonal_naive" in wanted:
        train = values[:first]
        strength = _seasonality(train, _season_candidates(step_s))
        seasons = [s for s, v in strength.items() if v >= SEASONALITY_MIN_STRENGTH]
        if seasons:
            # A week only wins over a day when, as a seasonal naive forecast, it does clearly
            # better over the last two weeks of the training data.
            daily = min(seasons)
            season = daily
            window = min(len(train) - max(seasons), 2 * max(seasons))
            for s in seasons:
                if s != daily and _lag_error(train, s, window) < 0.8 * _lag_error(train, daily, window):
                    season = s
            predicted["seasonal_naive"] = [values[o - season + k % season] for o in origins for k in range(holdout)]
            final["seasonal_naive"] = seasonal_naive(values, steps, season=season)
            params["seasonal_naive"] = {
                "season": season,
                "strength": {str(s): round(v, 4) for s, v in strength.items()},
            }
    if "naive" in wanted:
        predicted["naive"] = [values[o - 1] for o in origins for _ in range(holdout)]
        final["naive"] = [values[-1]] * steps

    out: dict[str, Forecast] = {}
    errors = {}
    for method in predicted:
        errors[method] = _mae(actual, predicted[method])
        sigma = _rmse(actual, predicted[method])
        out[method] = Forecast(
            method=method,
            points=_interval_points(times, final[method], sigma, holdout, z),
            backtest_error=errors[method],
            params=params.get(method, {}),
            holdout=holdout,
            windows=len(origins),
            level=level,
            sigma=sigma,
        )
    members = {m: errors[m] for m in ENSEMBLE_MEMBERS if m in errors}
    if len(members) >= 2:
        weights = _weights(members)
        ens_predicted = _combine(weights, predicted)
        sigma = _rmse(actual, ens_predicted)
        out["ensemble"] = Forecast(
            method="ensemble",
            points=_interval_points(times, _combine(weights, final), sigma, holdout, z),
            backtest_error=_mae(actual, ens_predicted),
            weights=weights,
            holdout=holdout,
            windows=len(origins),
            level=level,
            sigma=sigma,
        )
    preference = {"ensemble": 0, "holt": 1, "linear": 2, "seasonal_naive": 3, "naive": 4}
    out["best"] = min(out.values(), key=lambda f: (f.backtest_error, preference[f.method]))
    return out


# --- breach --------------------------------------------------------------------------------
def breach(
    forecast: Forecast, *, threshold: float, direction: str = "above", min_probability: float = 0.5
) -> dict | None:
    """The first forecast step where the metric is likely past `threshold`.

    The probability of being past it is read from the step's interval assuming normal
    residuals (sigma = half the interval / z of the forecast's level). With the default
    `min_probability` 0.5 this is the first step whose forecast value reaches the threshold;
    a lower value warns earlier. Returns {"at", "value", "probability", "lower", "upper",
    "step"} (step counts from 1) or None.
    """
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    z = NormalDist().inv_cdf((1 + forecast.level) / 2)
    unit = NormalDist()
    for step, (at, value, lower, upper) in enumerate(forecast.points, start=1):
        sigma = (upper - lower) / (2 * z)
        gap = value - threshold if direction == "above" else threshold - value
        if sigma > 0:
            probability = unit.cdf(gap / sigma)
        else:
            probability = 1.0 if gap >= 0 else 0.0
        if probability >= min_probability and probability > 0:
            return {
                "at": at,
                "value": value,
                "probability": probability,
                "lower": lower,
                "upper": upper,
                "step": step,
            }
    return None
