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

/**
 * The entry's image (album art, an artist's picture) on a tile, from Spotify's CDN (the only other
 * origin the site's Content-Security-Policy allows images from): lazy, sent without a referrer.
 * Without an image (enrichment has not found one), the initials of `name`.
 */
export function art(name, image) {
  const letters = String(name ?? "?")
    .split(/\s+/)
    .filter((w) => /\w/.test(w))
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
  const initials = html`<span class="art" aria-hidden="true">${letters || "?"}</span>`;
  if (!image) return initials;
  const small = thumbnail(image);
  // The small variant is Spotify's naming, not a promise: if it fails, the image as the catalog has it, then the initials.
  const onerror = (event) => {
    const img = event.currentTarget;
    if (img.src !== image) img.src = image;
    else img.replaceWith(initials);
  };
  return html`<img class="art" src=${small} alt="" aria-hidden="true" loading="lazy" decoding="async" referrerpolicy="no-referrer" width="24" height="24" onerror=${onerror}>`;
}

/**
 * A small variant of a Spotify image URL: the catalog keeps the largest image (640 px, 50-150 kB),
 * a tile shows 24 px. Spotify's image ids start with a prefix naming the size; the album cover's
 * 640 px prefix (ab67616d0000b273) has a 64 px sibling (ab67616d00004851), as the images arrays of
 * the Web API list them; an artist's 640 px (ab6761610000e5eb) a 160 px one (ab6761610000f178).
 * Any other URL is used as it is.
 */
export function thumbnail(url) {
  return String(url)
    .replace(/^(https:\/\/i\.scdn\.co\/image\/ab67616d)0000b273/, "$100004851")
    .replace(/^(https:\/\/i\.scdn\.co\/image\/ab676161)0000e5eb/, "$10000f178");
}

/** Rows of the `art` dataset as a lookup: artOf(entity, name, artist) is the entry's image URL or undefined. */
export function artLookup(rows) {
  const images = new Map(rows.map((r) => [`${r.entity}\u001f${r.name}\u001f${r.artist ?? ""}`, r.image]));
  return (entity, name, artist) => images.get(`${entity}\u001f${name}\u001f${artist ?? ""}`);
}

/**
 * A numbered list (top fives): rows with rank, name, artist and a count; with `image`, a tile with the
 * entry's image (or initials) beside each.
 */
export function topList(rows, {figure, count = (r) => `${formatInt(r.plays)} plays`, image} = {}) {
  if (!rows.length) return empty("Nothing here yet.");
  return html`<ol class=${image ? "toplist toplist-art" : "toplist"} data-figure=${figure ?? null}>
    ${rows.map(
      (r) => html`<li>
        <span class="rank">${r.rank}</span>
        ${image ? art(r.name, image(r)) : ""}
        <span class="what">${r.name}${r.artist ? html`<small>${r.artist}</small>` : ""}</span>
        <span class="count">${count(r)}</span>
      </li>`
    )}
  </ol>`;
}
