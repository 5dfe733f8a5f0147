// Charts drawn with uPlot (static/vendor/uplot, see docs/dependencies.md) from data the
// page carries as JSON (Django's json_script): no inline script, so the CSP holds.
//
//   <div class="chart" data-chart="metric" data-source="ID">   autonomy/charts.py
//   <div class="chart" data-chart="runs" data-source="ID">     agents/charts.py
//
// Times are drawn in the page's zone (body[data-timezone], the user's profile zone).
(function () {
  "use strict";

  var HEIGHT = 260;

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function zone() {
    return (document.body && document.body.getAttribute("data-timezone")) || "UTC";
  }

  // Rounded for people: 3 significant digits at most, never more than 3 decimals.
  function number(value) {
    if (value == null || isNaN(value)) return "—";
    var size = Math.abs(value);
    var decimals = size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : 3;
    return value.toLocaleString("en-US", { maximumFractionDigits: decimals });
  }

  function seconds(value) {
    if (value == null) return "—";
    if (value >= 120) return number(value / 60) + " min";
    return number(value) + " s";
  }

  var fullDate = uPlot.fmtDate("{YYYY}-{MM}-{DD} {HH}:{mm}");
  var dayDate = uPlot.fmtDate("{MMM} {D}");
  var hourDate = uPlot.fmtDate("{HH}:{mm}");

  function timeAxis(colors) {
    return {
      stroke: colors.text,
      grid: { stroke: colors.grid, width: 1 },
      ticks: { stroke: colors.grid, width: 1 },
      // 24-hour times, with the date under the first tick of each day.
      values: function (u, splits, axisIdx, space, increment) {
        var lastDay = null;
        return splits.map(function (ts) {
          var date = tzDate(ts);
          var day = dayDate(date);
          if (increment >= 86400) return day;
          var text = hourDate(date);
          if (day !== lastDay) text += "\n" + day;
          lastDay = day;
          return text;
        });
      },
    };
  }

  function valueAxis(colors, label, format) {
    return {
      stroke: colors.text,
      grid: { stroke: colors.grid, width: 1 },
      ticks: { stroke: colors.grid, width: 1 },
      label: label,
      labelSize: label ? 20 : 0,
      size: 60,
      values: function (u, splits) {
        return splits.map(format);
      },
    };
  }

  function palette() {
    return {
      text: cssVar("--muted", "#5f6b7a"),
      grid: cssVar("--chart-grid", "#e6e9ee"),
      line: cssVar("--chart-line", "#1d2330"),
      forecast: cssVar("--accent", "#2f5fd0"),
      band: cssVar("--chart-band", "rgba(47, 95, 208, 0.15)"),
      warning: cssVar("--chart-warning", "#c98a00"),
      critical: cssVar("--danger", "#c0352b"),
    };
  }

  function tzDate(ts) {
    return uPlot.tzDate(new Date(ts * 1e3), zone());
  }

  function timeSeries(extra) {
    return {
      label: "time",
      value: function (u, ts, seriesIdx, idx) {
        if (ts == null) return "—";
        var text = fullDate(tzDate(ts));
        return extra ? text + extra(idx) : text;
      },
    };
  }

  function metricOptions(data, colors) {
    var series = [
      timeSeries(),
      { label: "value", stroke: colors.line, width: 2, value: valueOf, points: { show: data.x.length <= 60, size: 5 } },
    ];
    var columns = [data.x, data.history];
    var bands = [];
    if (data.has_forecast) {
      series.push(
        { label: "forecast", stroke: colors.forecast, width: 2, dash: [6, 4], value: valueOf, points: { show: false } },
        { label: "lower", stroke: colors.band, width: 1, value: valueOf, points: { show: false } },
        { label: "upper", stroke: colors.band, width: 1, value: valueOf, points: { show: false } }
      );
      columns.push(data.forecast, data.lower, data.upper);
      bands.push({ series: [4, 3], fill: colors.band });
    }
    data.thresholds.forEach(function (threshold) {
      series.push({
        label: threshold.label,
        class: "threshold-" + threshold.level,
        stroke: threshold.level === "critical" ? colors.critical : colors.warning,
        width: 1.5,
        dash: [3, 3],
        value: valueOf,
        points: { show: false },
      });
      columns.push(data.x.map(function () { return threshold.value; }));
    });
    return {
      options: {
        height: HEIGHT,
        tzDate: tzDate,
        scales: { x: { time: true } },
        series: series,
        bands: bands,
        axes: [timeAxis(colors), valueAxis(colors, "", number)],
        legend: { live: true },
        cursor: { points: { size: 7 } },
      },
      columns: columns,
    };

    function valueOf(u, value) {
      return number(value);
    }
  }

  function runsOptions(data, colors, element) {
    var series = [
      timeSeries(function (idx) {
        var duration = data.duration[idx];
        return " · run #" + data.ids[idx] + (duration == null ? "" : " · " + seconds(duration));
      }),
    ];
    var columns = [data.x];
    data.statuses.forEach(function (status) {
      var color = cssVar("--status-" + status.status, "#5f6b7a");
      series.push({
        label: status.label,
        class: "runs-" + status.status,
        stroke: color,
        fill: color,
        width: 0,
        paths: function () { return null; },
        points: { show: true, size: 8, space: 0, stroke: color, fill: color },
        value: function (u, value, seriesIdx, idx) {
          if (value == null || idx == null) return "—";
          return data.duration[idx] == null ? "no duration" : seconds(data.duration[idx]);
        },
      });
      columns.push(status.values);
    });
    return {
      options: {
        height: HEIGHT - 40,
        tzDate: tzDate,
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } } },
        series: series,
        axes: [timeAxis(colors), valueAxis(colors, "duration", seconds)],
        legend: { live: true },
        cursor: { points: { size: 10 } },
        hooks: {
          ready: [
            function (u) {
              // A click on the chart opens the run under the cursor.
              u.over.addEventListener("click", function () {
                var idx = u.cursor.idx;
                if (idx == null) return;
                window.location.href = data.run_url.replace(/\/0\/$/, "/" + data.ids[idx] + "/");
              });
              u.over.classList.add("clickable");
            },
          ],
        },
      },
      columns: columns,
    };
  }

  var builders = { metric: metricOptions, runs: runsOptions };

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-source"));
    var build = builders[element.getAttribute("data-chart")];
    if (!source || !build) return;
    var data = JSON.parse(source.textContent);
    if (!data) return;
    var made = build(data, palette(), element);
    made.options.width = Math.max(200, element.clientWidth);
    var chart = new uPlot(made.options, made.columns, element);
    element.uplot = chart; // for the browser tests (tests/browser/test_look.py)
    element.setAttribute("data-drawn", "");
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) cancelAnimationFrame(pending);
      pending = requestAnimationFrame(function () {
        chart.setSize({ width: Math.max(200, element.clientWidth), height: made.options.height });
      });
    });
  }

  function drawAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
