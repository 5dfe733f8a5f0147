"""Forecasting on synthetic series whose trend, seasonality and noise are known.

Every series is generated here with a seeded `random.Random`; hourly points from a Monday
00:00 UTC. Bounds asserted (and why they are safe rather than tuned to one seed):

- linear slope recovered within 0.01 of the true 0.5 / step (standard error ≈ 0.0004);
- the ensemble's back-test MAE ≤ 1.1 × the best single method's on a trend + daily series,
  and always ≤ the weighted mean of its members' MAEs (the triangle inequality), and below
  the naive last-value forecast's;
- 80 % intervals hold 70–90 % of 24 truly held-out future points, averaged over 20 seeds.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from autonomy.forecasting import (
    Forecast,
    Point,
    Series,
    backtest,
    breach,
    forecast,
    holt,
    holt_fit,
    linear_fit,
    linear_trend,
    regularize,
    seasonal_naive,
)

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def make(n: int, fn, *, seed: int = 0, noise: float = 1.0, start: datetime = T0) -> list[Point]:
    rng = random.Random(seed)
    return [Point(start + i * HOUR, fn(i) + rng.gauss(0, noise)) for i in range(n)]


def daily(i: int) -> float:
    return 50 + 20 * math.sin(2 * math.pi * i / 24)


def trend_and_daily(i: int) -> float:
    return 50 + 0.1 * i + 10 * math.sin(2 * math.pi * i / 24)


SINGLE = ("linear", "holt", "seasonal_naive")


# --- building blocks -----------------------------------------------------------------------
def test_linear_trend_recovers_the_slope():
    values = [v.value for v in make(400, lambda i: 10 + 0.5 * i, seed=1)]
    intercept, slope = linear_fit(values)
    assert slope == pytest.approx(0.5, abs=0.01)
    assert intercept == pytest.approx(10, abs=0.5)
    ahead = linear_trend(values, 5)
    assert [b - a for a, b in zip(ahead, ahead[1:], strict=False)] == pytest.approx([slope] * 4)
    assert ahead[0] == pytest.approx(10 + 0.5 * 400, abs=1.0)


def test_forecast_reports_the_linear_slope_and_extends_it():
    fc = forecast(make(300, lambda i: 10 + 0.5 * i, seed=2), horizon=timedelta(hours=12))
    linear = fc["linear"]
    assert linear.params["slope_per_step"] == pytest.approx(0.5, abs=0.01)
    assert len(linear.points) == 12
    assert linear.points[0][0] == T0 + 300 * HOUR
    assert linear.points[-1][0] == T0 + 311 * HOUR
    assert linear.points[-1][1] == pytest.approx(10 + 0.5 * 311, abs=1.0)


def test_holt_follows_a_line_exactly():
    values = [3.0 + 2.0 * i for i in range(50)]
    assert holt(values, 3, alpha=0.5, beta=0.3) == pytest.approx([103, 105, 107])
    alpha, beta = holt_fit(values)
    assert 0 < alpha <= 1 and 0 < beta <= 1


def test_seasonal_naive_repeats_the_last_season():
    values = list(range(10)) + [100, 101, 102]
    assert seasonal_naive(values, 7, season=3) == [100, 101, 102, 100, 101, 102, 100]
    with pytest.raises(ValueError, match="at least one season"):
        seasonal_naive([1.0, 2.0], 2, season=3)


def test_backtest_is_the_mae_of_the_held_out_tail():
    values = [0.0, 0.0, 0.0, 0.0, 1.0, 3.0]
    assert backtest("naive", values, holdout=2) == pytest.approx(2.0)  # predicts 0, 0 for 1, 3
    assert backtest(lambda v, h: [v[-1] + 1] * h, values, holdout=2) == pytest.approx(1.0)
    assert backtest("naive", values, holdout=1, windows=2) == pytest.approx((1 + 2) / 2)
    with pytest.raises(ValueError, match="holdout"):
        backtest("naive", values, holdout=6)


def test_regularize_averages_buckets_and_carries_gaps_forward():
    points = [
        Point(T0 + timedelta(minutes=5), 1.0),
        Point(T0 + timedelta(minutes=50), 3.0),  # same hour: mean 2
        Point(T0 + timedelta(hours=3, minutes=1), 7.0),  # hours 1 and 2 empty
        Point(T0 + timedelta(hours=1, minutes=30), 4.0),  # out of order
    ]
    assert regularize(points, step=HOUR) == [2.0, 4.0, 4.0, 7.0]
    assert regularize(points, step=timedelta(hours=2)) == [pytest.approx(8 / 3), 7.0]


# --- method choice and accuracy ------------------------------------------------------------
def test_holt_beats_linear_after_a_level_shift():
    # The shift (at 200) is before the back-tested tails (from 336 - 4 × 24 = 240 on).
    points = make(24 * 14, lambda i: 10.0 if i < 200 else 30.0, seed=3)
    fc = forecast(points, horizon=DAY)
    assert fc["holt"].backtest_error < fc["linear"].backtest_error / 1.5
    assert fc["holt"].points[-1][1] == pytest.approx(30, abs=3)


def test_seasonal_naive_wins_on_a_strongly_daily_series():
    fc = forecast(make(24 * 14, daily, seed=4), horizon=DAY)
    assert fc["seasonal_naive"].params["season"] == 24
    errors = {m: fc[m].backtest_error for m in SINGLE}
    assert min(errors, key=errors.get) == "seasonal_naive"
    assert errors["seasonal_naive"] < 2.0 < errors["linear"]  # noise sd 1: |e| of a difference ≈ 1.13


def test_weekly_season_is_chosen_when_weekends_differ():
    def business(i: int) -> float:
        weekday = (i // 24) % 7 < 5
        return 20 + (30 if weekday and 8 <= i % 24 < 18 else 0)

    fc = forecast(make(24 * 28, business, seed=5), horizon=DAY)
    assert fc["seasonal_naive"].params["season"] == 168


def test_no_seasonal_method_without_two_seasons_or_seasonality():
    assert "seasonal_naive" not in forecast(make(40, daily, seed=6), horizon=DAY)
    assert "seasonal_naive" not in forecast(make(24 * 14, lambda i: 5.0, seed=6), horizon=DAY)


@pytest.mark.parametrize("seed", range(5))
def test_ensemble_is_within_bound_and_beats_naive(seed):
    fc = forecast(make(24 * 21, trend_and_daily, seed=seed), horizon=DAY)
    ensemble = fc["ensemble"]
    best_single = min(fc[m].backtest_error for m in SINGLE)
    assert ensemble.backtest_error <= 1.1 * best_single
    assert ensemble.backtest_error < fc["naive"].backtest_error
    assert sum(ensemble.weights.values()) == pytest.approx(1.0)
    assert set(ensemble.weights) == set(SINGLE)
    assert fc["best"].backtest_error == min(f.backtest_error for f in fc.values())


@pytest.mark.parametrize(
    "fn",
    [lambda i: 10 + 0.5 * i, daily, trend_and_daily, lambda i: 10.0 if i < 300 else 25.0, lambda i: 5.0],
    ids=["trend", "daily", "trend+daily", "shift", "noise"],
)
def test_ensemble_error_never_exceeds_its_members_weighted_error(fn):
    fc = forecast(make(24 * 21, fn, seed=11), horizon=DAY)
    ensemble = fc["ensemble"]
    bound = sum(w * fc[m].backtest_error for m, w in ensemble.weights.items())
    assert ensemble.backtest_error <= bound + 1e-9


def test_ensemble_beats_naive_on_the_truly_held_out_future():
    """Not just on the back-test: on 24 future points the forecaster never saw."""
    ensemble_err = naive_err = 0.0
    for seed in range(10):
        points = make(24 * 21 + 24, trend_and_daily, seed=seed)
        history, future = points[:-24], points[-24:]
        fc = forecast(history, horizon=DAY)
        ensemble_err += sum(abs(p.value - f[1]) for p, f in zip(future, fc["ensemble"].points, strict=True))
        naive_err += sum(abs(p.value - f[1]) for p, f in zip(future, fc["naive"].points, strict=True))
    assert ensemble_err < 0.5 * naive_err


@pytest.mark.parametrize("fn", [lambda i: 10 + 0.5 * i, daily, trend_and_daily], ids=["trend", "daily", "trend+daily"])
def test_intervals_hold_about_the_stated_share(fn):
    inside = total = 0
    for seed in range(20):
        points = make(24 * 21 + 24, fn, seed=100 + seed)
        fc = forecast(points[:-24], horizon=DAY, level=0.8)
        best = fc["best"]
        assert best.level == 0.8
        for actual, (at, value, lower, upper) in zip(points[-24:], best.points, strict=True):
            assert at == actual.at
            assert lower <= value <= upper
            inside += lower <= actual.value <= upper
            total += 1
    assert 0.7 <= inside / total <= 0.9


def test_intervals_widen_past_the_back_tested_length():
    # 80 points: tails of 80 // 4 = 20 steps, two of them (each origin keeps half the series).
    fc = forecast(make(80, lambda i: 10 + 0.5 * i, seed=7), horizon=timedelta(hours=45))
    widths = [upper - lower for _, _, lower, upper in fc["linear"].points]
    assert (fc["linear"].holdout, fc["linear"].windows) == (20, 2)
    assert widths[0] > 0
    assert widths[0] == pytest.approx(widths[19])
    assert widths[-1] == pytest.approx(widths[0] * math.sqrt(45 / 20))


# --- breach --------------------------------------------------------------------------------
def test_breach_finds_when_a_rising_metric_crosses_a_threshold():
    points = make(200, lambda i: 20 + 0.25 * i, seed=8, noise=0.2)  # 70 at the last point (199)
    fc = forecast(points, horizon=timedelta(hours=48))
    hit = breach(fc["linear"], threshold=80, direction="above")  # 20 + 0.25 i = 80 at i = 240
    assert hit is not None
    assert abs(hit["at"] - (T0 + 240 * HOUR)) <= timedelta(hours=2)
    assert hit["value"] >= 80
    assert 0.5 <= hit["probability"] < 1
    early = breach(fc["linear"], threshold=80, direction="above", min_probability=0.05)
    assert early["at"] <= hit["at"] and early["probability"] >= 0.05
    assert breach(fc["linear"], threshold=200, direction="above") is None
    assert breach(fc["linear"], threshold=60, direction="below") is None


def test_breach_below_and_probability_from_interval():
    at = T0
    fc = Forecast(
        method="linear",
        points=[(at, 10.0, 8.0, 12.0), (at + HOUR, 5.0, 3.0, 7.0), (at + 2 * HOUR, 1.0, -1.0, 3.0)],
        backtest_error=1.0,
        level=0.8,
    )
    hit = breach(fc, threshold=5.0, direction="below")
    assert hit["at"] == at + HOUR and hit["probability"] == pytest.approx(0.5)
    hit = breach(fc, threshold=3.0, direction="below", min_probability=0.9)
    # sigma = 2 / 1.2816 = 1.56; P(x < 3 | 1.0) = Φ(1.2816) = 0.9
    assert hit["at"] == at + 2 * HOUR and hit["probability"] == pytest.approx(0.9, abs=1e-6)
    with pytest.raises(ValueError, match="direction"):
        breach(fc, threshold=1, direction="sideways")


# --- bad and short input -------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2])
def test_short_series_get_a_flat_naive_forecast(n):
    points = [Point(T0 + i * HOUR, 5.0 + i) for i in range(n)]
    fc = forecast(points, horizon=timedelta(hours=6))
    assert set(fc) == {"naive", "best"}
    assert fc["best"].method == "naive"
    assert [p[1] for p in fc["best"].points] == [5.0 + n - 1] * 6


def test_three_points_are_enough_for_every_method():
    fc = forecast([Point(T0 + i * HOUR, float(i)) for i in range(3)], horizon=timedelta(hours=2))
    assert {"linear", "holt", "naive", "ensemble", "best"} <= set(fc)
    assert fc["linear"].points[0][1] == pytest.approx(3.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_rejected(bad):
    points = make(10, lambda i: 1.0, seed=9)
    points[4] = Point(points[4].at, bad)
    with pytest.raises(ValueError, match=r"point 4 .*non-finite"):
        forecast(points, horizon=DAY)
    with pytest.raises(ValueError, match="not finite"):
        backtest("naive", [1.0, bad, 2.0], holdout=1)


def test_other_bad_input_is_rejected_with_a_reason():
    good = make(10, lambda i: 1.0, seed=10)
    with pytest.raises(ValueError, match="non-numeric"):
        forecast([*good, Point(T0 + 20 * HOUR, "abc")], horizon=DAY)
    with pytest.raises(ValueError, match="naive datetime"):
        forecast([Point(datetime(2025, 1, 1), 1.0)], horizon=DAY)  # noqa: DTZ001
    with pytest.raises(ValueError, match="no points"):
        forecast([], horizon=DAY)
    with pytest.raises(ValueError, match="horizon"):
        forecast(good, horizon=timedelta(0))
    with pytest.raises(ValueError, match="step"):
        forecast(good, horizon=DAY, step=timedelta(0))
    with pytest.raises(ValueError, match="unknown forecasting method"):
        forecast(good, horizon=DAY, methods=["prophet"])
    with pytest.raises(ValueError, match="steps"):
        forecast([Point(T0, 1.0), Point(T0 + timedelta(days=365 * 300), 2.0)], horizon=DAY, step=timedelta(minutes=1))


def test_series_is_accepted_in_place_of_points():
    points = make(24 * 14, trend_and_daily, seed=12)
    from_points = forecast(points, horizon=DAY)
    from_series = forecast(Series.from_pairs((p.at, p.value) for p in points), horizon=DAY)
    assert from_series["ensemble"].points == from_points["ensemble"].points


def test_series_sorts_and_validates_once():
    points = make(50, lambda i: float(i), seed=15)
    shuffled = points[::-1]
    series = Series.from_points(shuffled)
    assert series.values == [p.value for p in points]
    assert series.ats == [p.at for p in points]
    assert len(series) == 50 and series.points() == points
    with pytest.raises(ValueError, match="expected"):
        Series.from_pairs([(T0, 1.0), (T0,)])
    with pytest.raises(ValueError, match="not a Point"):
        Series.from_points([object()])


def test_only_the_requested_methods_run():
    fc = forecast(make(100, lambda i: i, seed=13), horizon=DAY, methods=["linear"])
    assert set(fc) == {"linear", "best"}


def test_as_dict_is_json_ready():
    import json

    fc = forecast(make(24 * 14, daily, seed=14), horizon=timedelta(hours=3))
    data = json.loads(json.dumps(fc["ensemble"].as_dict()))
    assert data["method"] == "ensemble" and data["error_metric"] == "mae"
    assert len(data["points"]) == 3 and {"at", "value", "lower", "upper"} <= set(data["points"][0])
