"""How long does one autonomy analysis cycle take over many metrics?

    python bench/analysis.py [--metrics 1000] [--points 2000] [--horizon-hours 24] [--seed 1]

Prints one JSON object. Synthetic data, generated first and not timed: `--metrics` hourly
series of `--points` points each (all on the same hourly timestamps, ending now-ish), each a
random mix of level, linear trend, daily and weekday seasonality, Gaussian noise, 0–3
planted spikes (8–12 noise SDs) and, for 40 % of the metrics, one planted level shift or
slope change. Then, in one process (the analysis is pure Python, one core):

(a) cycle: per metric `Series.from_points` (validation and conversion, once), `forecast`
    with every method + ensemble (4 rolling back-test windows each), `breach` of the best
    forecast against a threshold, `anomalies(relative_to="neighbours")` (spikes against the
    local level: on trending / seasonal metrics the global median flags whole stretches),
    `trend_changes(season=…)` when the forecast detected a season (one week with three
    weeks of data: a weekly profile holds the daily one too);
(b) baseline: per metric `Series.from_points` + `forecast(methods=["linear"])`, the
    single-method pass over the same data.

Reported: wall and CPU seconds (the machine is shared: CPU seconds are this process's own
cost) and points/s of each, seconds per stage, the ratio, whether the
cycle meets the 10 s target, and what the analysis found against what was planted (best
method counts, mean back-test MAE per method, spike recall, change recall). The points are
moved out of the garbage collector's sight before timing (`gc.freeze()`), as in the app
they are loaded one metric at a time.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autonomy.forecasting import Point, Series, breach, forecast
from autonomy.patterns import anomalies, trend_changes

TARGET_SECONDS = 10.0
WEEK = timedelta(days=7)


def generate(metrics: int, points: int, seed: int) -> tuple[list[list[Point]], list[dict]]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ats = [end - timedelta(hours=points - 1 - i) for i in range(points)]
    series, truth = [], []
    for m in range(metrics):
        rng = random.Random(seed * 1_000_003 + m)
        level = rng.uniform(10, 100)
        sd = level * rng.uniform(0.01, 0.05)
        slope = rng.uniform(-1, 1) * level / points * rng.choice((0, 0.5, 1))
        daily = level * rng.choice((0, 0, 0.1, 0.3))
        weekly = level * rng.choice((0, 0, 0.2))
        phase = rng.uniform(0, 2 * math.pi)
        change = None
        if rng.random() < 0.4:
            at = rng.randrange(points // 5, points - points // 5)
            kind = rng.choice(("shift", "slope"))
            size = level * rng.uniform(0.2, 0.5) if kind == "shift" else level * rng.uniform(2, 5) / points
            change = {"index": at, "kind": kind, "size": size}
        spikes = sorted(rng.sample(range(points), rng.randrange(4)))
        values = []
        for i, at in enumerate(ats):
            v = level + slope * i + rng.gauss(0, sd)
            if daily:
                v += daily * math.sin(2 * math.pi * at.hour / 24 + phase)
            if weekly and at.weekday() >= 5:
                v -= weekly
            if change and i >= change["index"]:
                v += change["size"] if change["kind"] == "shift" else change["size"] * (i - change["index"])
            values.append(v)
        for i in spikes:
            values[i] += rng.choice((-1, 1)) * rng.uniform(8, 12) * sd
        series.append([Point(at, v) for at, v in zip(ats, values, strict=True)])
        truth.append({"threshold": level * 1.5, "spikes": spikes, "change": change})
    return series, truth


def cycle(data: list[list[Point]], truth: list[dict], horizon: timedelta) -> dict:
    stages = Counter()
    best = Counter()
    errors: dict[str, list[float]] = {}
    ensemble_beats_naive = breaches = 0
    spikes = spikes_found = changes = changes_found = changes_reported = anomalies_reported = 0
    clock = time.perf_counter
    started = clock()
    cpu_started = time.process_time()
    for points, known in zip(data, truth, strict=True):
        t0 = clock()
        series = Series.from_points(points)
        t1 = clock()
        fc = forecast(series, horizon=horizon)
        t2 = clock()
        hit = breach(fc["best"], threshold=known["threshold"], direction="above")
        t3 = clock()
        flagged = anomalies(series, relative_to="neighbours")
        t4 = clock()
        # A weekly profile also holds the daily one: use it when there are three weeks.
        seasonal = fc.get("seasonal_naive")
        season = None
        if seasonal:
            season = WEEK if len(points) >= 3 * 168 else timedelta(hours=seasonal.params["season"])
        found = trend_changes(series, season=season)
        t5 = clock()
        stages["series"] += t1 - t0
        stages["forecast"] += t2 - t1
        stages["breach"] += t3 - t2
        stages["anomalies"] += t4 - t3
        stages["trend_changes"] += t5 - t4

        best[fc["best"].method] += 1
        for method, f in fc.items():
            if method != "best":
                errors.setdefault(method, []).append(f.backtest_error)
        ensemble_beats_naive += fc["ensemble"].backtest_error < fc["naive"].backtest_error
        breaches += hit is not None
        indices = {a["index"] for a in flagged}
        anomalies_reported += len(flagged)
        spikes += len(known["spikes"])
        spikes_found += sum(i in indices for i in known["spikes"])
        changes_reported += len(found)
        if known["change"]:
            changes += 1
            changes_found += any(abs(c["index"] - known["change"]["index"]) <= 10 for c in found)
    seconds = clock() - started
    cpu_seconds = time.process_time() - cpu_started
    total = sum(len(p) for p in data)
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "points_per_s": round(total / seconds),
        "points_per_cpu_s": round(total / cpu_seconds),
        "ms_per_metric": round(seconds / len(data) * 1000, 3),
        "stages_seconds": {k: round(v, 3) for k, v in stages.items()},
        "findings": {
            "best_method": dict(best.most_common()),
            "mean_backtest_mae": {m: round(sum(e) / len(e), 4) for m, e in sorted(errors.items())},
            "ensemble_beats_naive_share": round(ensemble_beats_naive / len(data), 3),
            "forecast_breaches": breaches,
            "anomalies_reported": anomalies_reported,
            "planted_spikes": spikes,
            "spike_recall": round(spikes_found / spikes, 3) if spikes else None,
            "trend_changes_reported": changes_reported,
            "planted_changes": changes,
            "change_recall_within_10": round(changes_found / changes, 3) if changes else None,
        },
    }


def baseline(data: list[list[Point]], horizon: timedelta) -> dict:
    clock = time.perf_counter
    started = clock()
    cpu_started = time.process_time()
    for points in data:
        forecast(Series.from_points(points), horizon=horizon, methods=["linear"])
    seconds = clock() - started
    cpu_seconds = time.process_time() - cpu_started
    total = sum(len(p) for p in data)
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "points_per_s": round(total / seconds),
        "points_per_cpu_s": round(total / cpu_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--horizon-hours", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.metrics < 1 or args.points < 3:
        parser.error("--metrics must be >= 1 and --points >= 3")

    started = time.perf_counter()
    data, truth = generate(args.metrics, args.points, args.seed)
    generate_seconds = time.perf_counter() - started
    gc.collect()
    gc.freeze()

    horizon = timedelta(hours=args.horizon_hours)
    full = cycle(data, truth, horizon)
    base = baseline(data, horizon)
    print(
        json.dumps(
            {
                "metrics": args.metrics,
                "points_per_metric": args.points,
                "total_points": args.metrics * args.points,
                "horizon_steps": args.horizon_hours,
                "generate_seconds": round(generate_seconds, 3),
                "cycle": full,
                "baseline_linear_only": base,
                "cycle_over_baseline": round(full["seconds"] / base["seconds"], 2),
                "target_seconds": TARGET_SECONDS,
                "meets_target": full["seconds"] <= TARGET_SECONDS,
                "meets_target_in_cpu_time": full["cpu_seconds"] <= TARGET_SECONDS,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
