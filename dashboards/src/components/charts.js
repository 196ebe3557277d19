// Reusable charts (Observable Plot from node_modules). Every chart takes rows from the data files
// and the available width, and has tooltips.
import * as Plot from "@observablehq/plot";
import {utcMonday, utcYear} from "d3-time";
import {WEEKDAYS, formatDay, formatHours, formatInt, formatShortMonth, hours, minutes} from "./format.js";

/** Listening time per week over the whole history, with a 13-week moving average. */
export function weeklyTrend(weeks, {width, height = 260} = {}) {
  return Plot.plot({
    width,
    height,
    marginLeft: 48,
    x: {type: "utc", label: null},
    y: {grid: true, label: "hours per week"},
    marks: [
      Plot.areaY(weeks, {x: "week", y: (d) => hours(d.track_ms), fill: "var(--theme-foreground-focus)", fillOpacity: 0.18, curve: "step"}),
      Plot.lineY(weeks, Plot.windowY({k: 13, anchor: "end"}, {x: "week", y: (d) => hours(d.track_ms), stroke: "var(--theme-foreground-focus)", strokeWidth: 2})),
      Plot.ruleY([0]),
      Plot.tip(
        weeks,
        Plot.pointerX({
          x: "week",
          y: (d) => hours(d.track_ms),
          title: (d) => `Week of ${formatDay(d.week)}\n${formatHours(d.track_ms)} of music · ${formatInt(d.listens)} listens\n${d.active_days} active day(s)`
        })
      )
    ]
  });
}

/** Hours listened per local weekday x hour. */
export function clockHeatmap(cells, {width, height = 260} = {}) {
  return Plot.plot({
    width,
    height,
    marginLeft: 40,
    padding: 0.04,
    x: {label: "hour of the day", tickFormat: (h) => String(h).padStart(2, "0")},
    y: {label: null, domain: WEEKDAYS, tickFormat: (d) => d},
    color: {type: "sqrt", scheme: "blues", legend: true, label: "hours"},
    marks: [
      Plot.cell(cells, {
        x: "hour",
        y: (d) => WEEKDAYS[d.iso_weekday - 1],
        fill: (d) => hours(d.ms),
        inset: 0.5,
        tip: true,
        title: (d) => `${WEEKDAYS[d.iso_weekday - 1]} ${String(d.hour).padStart(2, "0")}:00-${String(d.hour).padStart(2, "0")}:59\n${formatHours(d.ms)} · ${formatInt(d.listens)} listens`
      })
    ]
  });
}

/** A calendar of one year: a cell per day, coloured by minutes of music. */
export function calendarYear(days, year, {width, max} = {}) {
  const start = new Date(Date.UTC(year, 0, 1));
  const cellWidth = Math.max(6, Math.min(16, Math.floor(((width ?? 800) - 40) / 54)));
  return Plot.plot({
    width: cellWidth * 54 + 40,
    height: cellWidth * 7 + 30,
    marginLeft: 36,
    marginTop: 20,
    marginBottom: 4,
    padding: 0,
    x: {axis: null, domain: Array.from({length: 54}, (_, i) => i)},
    y: {domain: [1, 2, 3, 4, 5, 6, 7], tickFormat: (d) => WEEKDAYS[d - 1], tickSize: 0, label: null},
    color: {type: "sqrt", scheme: "greens", domain: [0, max ?? undefined].filter((v) => v !== undefined)},
    marks: [
      Plot.cell(days, {
        x: (d) => utcMonday.count(utcYear(start), d.local_date),
        y: (d) => ((d.local_date.getUTCDay() + 6) % 7) + 1,
        fill: (d) => minutes(d.track_ms),
        inset: 1,
        tip: true,
        title: (d) => `${formatDay(d.local_date)}\n${Math.round(minutes(d.track_ms))} min of music · ${formatInt(d.listens)} listens`
      }),
      Plot.text(
        Array.from({length: 12}, (_, m) => new Date(Date.UTC(year, m, 1))),
        {x: (d) => utcMonday.count(utcYear(start), d), y: 1, dy: -cellWidth, text: (d) => formatShortMonth(d).slice(0, 3), textAnchor: "start", frameAnchor: "top"}
      )
    ]
  });
}

/** `s` cut to at most `n` characters, an ellipsis marking the cut. */
function ellipsis(s, n) {
  return s.length <= n ? s : `${s.slice(0, Math.max(1, n - 1))}…`;
}

/** Horizontal bars: `y` a name, `x` a value, with a formatted label in the tooltip. */
export function barsX(rows, {x, y, label, width, format = (v) => formatInt(v), color, sort = true, marginLeft = 140, tickFormat} = {}) {
  return Plot.plot({
    width,
    height: Math.max(80, rows.length * 24 + 40),
    marginLeft,
    x: {grid: true, label, tickFormat},
    // Names longer than the margin are cut with an ellipsis (the tooltip shows them whole).
    y: {label: null, tickFormat: (s) => ellipsis(String(s), Math.floor((marginLeft - 10) / 5.5))},
    marks: [
      Plot.barX(rows, {
        x,
        y,
        fill: color ?? "var(--theme-foreground-focus)",
        sort: sort ? {y: "-x"} : undefined,
        tip: true,
        title: (d) => `${typeof y === "function" ? y(d) : d[y]}\n${format(typeof x === "function" ? x(d) : d[x], d)}`
      }),
      Plot.ruleX([0])
    ]
  });
}

/** Monthly bars over time: `y` per month (`x` a Date), optionally stacked by `fill`. */
export function monthlyBars(rows, {x = "month", y, fill, label, width, height = 240, title, legend = true} = {}) {
  return Plot.plot({
    width,
    height,
    marginLeft: 48,
    x: {type: "utc", label: null},
    y: {grid: true, label},
    color: fill ? {legend, type: "categorical"} : undefined,
    marks: [
      Plot.rectY(rows, {
        x,
        interval: "month",
        y,
        fill: fill ?? "var(--theme-foreground-focus)",
        insetLeft: 0.5,
        insetRight: 0.5,
        tip: true,
        title
      }),
      Plot.ruleY([0])
    ]
  });
}
