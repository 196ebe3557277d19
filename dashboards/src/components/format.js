// Formatting figures the same way on every page. Dates in the data are local calendar days stored
// as UTC midnight, so they are always formatted in UTC.
import {format} from "d3-format";
import {utcFormat} from "d3-time-format";

export const formatInt = format(",d");
export const formatPercent = format(".0%");
export const formatPercent1 = format(".1%");
export const formatDay = utcFormat("%a %-d %b %Y");
export const formatShortDay = utcFormat("%-d %b %Y");
export const formatMonth = utcFormat("%B %Y");
export const formatShortMonth = utcFormat("%b %Y");
export const formatTime = utcFormat("%-d %b %Y, %H:%M");

/** Hours (one decimal under 100 h, whole hours above). */
export function formatHours(ms) {
  const h = (ms ?? 0) / 3_600_000;
  return h < 100 ? `${h.toFixed(1)} h` : `${formatInt(Math.round(h))} h`;
}

/** A duration for people: minutes under two hours, hours above. */
export function formatDuration(ms) {
  const minutes = (ms ?? 0) / 60_000;
  return minutes < 120 ? `${Math.round(minutes)} min` : formatHours(ms);
}

export const hours = (ms) => (ms ?? 0) / 3_600_000;
export const minutes = (ms) => (ms ?? 0) / 60_000;

export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** "2024-07" as a Date (UTC). */
export function monthDate(key) {
  return new Date(`${key}-01T00:00:00Z`);
}
