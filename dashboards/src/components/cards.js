// Small HTML building blocks: KPI cards, change against a previous period, empty states, top lists.
import {html} from "htl";
import {formatInt, formatPercent} from "./format.js";

/**
 * A change against the previous period, as an element: "▲ 12%" / "▼ 3%" / "same", or a note when
 * there is nothing to compare with. `complete` is false when the previous period predates the history.
 */
export function delta(current, previous, {complete = true} = {}) {
  if (previous == null) return html`<span class="delta-flat">no previous period</span>`;
  if (!complete && previous === 0) return html`<span class="delta-flat">history starts in this period</span>`;
  if (previous === 0) return current > 0 ? html`<span class="delta-up">▲ new</span>` : html`<span class="delta-flat">no change</span>`;
  const change = (current - previous) / previous;
  if (Math.abs(change) < 0.005) return html`<span class="delta-flat">≈ same as before</span>`;
  return change > 0
    ? html`<span class="delta-up" title="previous: ${formatInt(previous)}">▲ ${formatPercent(change)}</span>`
    : html`<span class="delta-down" title="previous: ${formatInt(previous)}">▼ ${formatPercent(-change)}</span>`;
}

/**
 * A KPI card. `figure` names the number for tests and tools (data-figure), `raw` is its exact value
 * from the warehouse (data-value), `value` what people read.
 */
export function kpi({title, value, figure, raw, sub}) {
  return html`<div class="card kpi">
    <h2>${title}</h2>
    <span class="big" data-figure=${figure ?? null} data-value=${raw ?? null}>${value}</span>
    ${sub == null ? "" : html`<span class="sub">${sub}</span>`}
  </div>`;
}

/** An honest empty state. */
export function empty(message) {
  return html`<div class="empty">${message}</div>`;
}

/** Initials on a tile, where album art would be once enrichment finds it. */
export function art(name) {
  const letters = String(name ?? "?")
    .split(/\s+/)
    .filter((w) => /\w/.test(w))
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
  return html`<span class="art" aria-hidden="true">${letters || "?"}</span>`;
}

/** A numbered list (top fives): rows with rank, name, artist and a count. */
export function topList(rows, {figure, count = (r) => `${formatInt(r.plays)} plays`} = {}) {
  if (!rows.length) return empty("Nothing here yet.");
  return html`<ol class="toplist" data-figure=${figure ?? null}>
    ${rows.map(
      (r) => html`<li>
        <span class="rank">${r.rank}</span>
        <span class="what">${r.name}${r.artist ? html`<small>${r.artist}</small>` : ""}</span>
        <span class="count">${count(r)}</span>
      </li>`
    )}
  </ol>`;
}
