"""Server-rendered SVG: a metric's history as a line, its forecast as a dashed line inside
the interval band. Plain markup, no JavaScript."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

from autonomy.forecasting import Forecast, Series

WIDTH, HEIGHT, PAD = 720, 240, 24


def metric_chart(series: Series, best: Forecast | None) -> SafeString:
    if len(series) == 0:
        return SafeString("")
    xs = list(series.stamps)
    ys = list(series.values)
    band = []
    if best is not None:
        band = [(at.timestamp(), value, lower, upper) for at, value, lower, upper in best.points]
    all_x = xs + [b[0] for b in band]
    all_y = ys + [v for b in band for v in b[1:]]
    x0, x1 = min(all_x), max(all_x)
    y0, y1 = min(all_y), max(all_y)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1

    def px(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def py(y: float) -> float:
        return HEIGHT - PAD - (y - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)

    history = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    parts = []
    if band:
        upper = [f"{px(x):.1f},{py(u):.1f}" for x, _, _, u in band]
        lower = [f"{px(x):.1f},{py(lo):.1f}" for x, _, lo, _ in reversed(band)]
        forecast_line = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v, _, _ in band)
        parts.append(format_html('<polygon class="band" points="{}" fill="#8ab4f855" />', " ".join(upper + lower)))
        parts.append(
            format_html(
                '<polyline class="forecast" points="{}" fill="none" stroke="#1a73e8" stroke-dasharray="4 3" />',
                forecast_line,
            )
        )
    parts.append(format_html('<polyline class="history" points="{}" fill="none" stroke="#202124" />', history))
    labels = format_html(
        '<text x="2" y="{}" font-size="10">{}</text><text x="2" y="12" font-size="10">{}</text>',
        HEIGHT - 4,
        f"{y0:.4g}",
        f"{y1:.4g}",
    )
    body = format_html("{}" * len(parts), *parts)
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="History and forecast">{}{}</svg>',
        WIDTH,
        HEIGHT,
        body,
        labels,
    )
