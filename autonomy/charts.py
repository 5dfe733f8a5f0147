"""What the metric chart draws, as plain data for the page's JSON (`json_script`): the
history, the best forecast with its interval band, and the metric rule's thresholds. The
chart itself is drawn in the browser by uPlot (static/charts.js)."""

from __future__ import annotations

from autonomy.forecasting import Forecast, Series
from autonomy.models import MetricRule


def rounded(value: float | None) -> float | None:
    """Six significant digits: enough for any axis or hover value, and a small page."""
    return None if value is None else float(f"{value:.6g}")


def metric_chart_data(series: Series, best: Forecast | None, rule: MetricRule | None = None) -> dict | None:
    """Columns over one shared time axis (epoch seconds); None where a series has no value.

    The forecast, its lower and upper bounds start at the last recorded point, so the
    dashed line and the band continue the history without a gap."""
    if len(series) == 0:
        return None
    stamps = [int(stamp) for stamp in series.stamps]
    history = [rounded(value) for value in series.values]
    n = len(stamps)
    forecast_points = [
        (int(at.timestamp()), value, lower, upper)
        for at, value, lower, upper in (best.points if best else [])
        if at.timestamp() > stamps[-1]
    ]
    x = stamps + [point[0] for point in forecast_points]
    empty: list[float | None] = [None] * (n - 1)
    data = {
        "x": x,
        "history": history + [None] * len(forecast_points),
        "forecast": empty + [history[-1]] + [rounded(point[1]) for point in forecast_points],
        "lower": empty + [history[-1]] + [rounded(point[2]) for point in forecast_points],
        "upper": empty + [history[-1]] + [rounded(point[3]) for point in forecast_points],
        "has_forecast": bool(forecast_points),
        "thresholds": [],
    }
    if rule is not None:
        levels = [("warning", rule.warning), ("critical", rule.critical)]
        data["thresholds"] = [
            {"level": level, "value": rounded(value), "label": f"{level} ({rule.direction} {value:g})"}
            for level, value in levels
            if value is not None
        ]
    return data
