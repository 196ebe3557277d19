/**
 * The built dashboards in a real browser, served by the real API server: a demo export imported
 * through the import workflow (real Temporal), the site built, `buildApp` listening on a real port,
 * a Bearer token made by the API's token code, headless Chromium (playwright-core, /usr/bin/chromium).
 *
 * Every page: opened, every chart drew marks (or every table has rows), no console error, no request
 * leaving the server's origin, and a screenshot saved (printed at the end). A few figures on the
 * pages are compared with the same figures from `rewind sql` (queryWarehouse). Last, the catalog gets
 * images for top entries (as enrichment writes them): the pages draw them from https://i.scdn.co,
 * answered here by playwright's page.route with local PNGs (no internet).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig, PROJECT_ROOT, type Config } from '../../config.ts';
import { createContext } from '../../cli/context.ts';
import { runImport } from '../../cli/import.ts';
import { writeDemoExport } from '../../cli/demo/generate.ts';
import { Layout } from '../../warehouse/layout.ts';
import { buildSite } from '../../warehouse/dashboards.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { ensureUser } from '../../warehouse/users.ts';
import { rebuildUserModels } from '../../warehouse/models.ts';
import { artistRowFromApi, trackRowFromApi, writeCatalog } from '../../warehouse/catalog.ts';
import { withDb } from '../../warehouse/duckdb.ts';
import { buildApp } from '../../api/app.ts';
import { createToken } from '../../api/auth/tokens.ts';
import { createTemporalImports } from '../../api/imports.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { writePlays } from '../helpers/plays.ts';

/** Screenshots are kept for people to look at (test-output/ is not committed). */
const SHOTS = path.join(PROJECT_ROOT, 'test-output', 'dashboards');

let temporal: TestTemporal;
let root: string;
let config: Config;
let layout: Layout;
let app: FastifyInstance;
let origin: string;
let browser: Browser;
let token: string;
let pages: string[];
const shots: string[] = [];

async function sql(q: string): Promise<Record<string, unknown>[]> {
  return (await queryWarehouse(layout, {}, q)).rows;
}

const formatInt = (n: number) => n.toLocaleString('en-US');

interface Visit {
  page: Page;
  errors: string[];
  foreign: string[];
  context: BrowserContext;
}

/** Open a page as the demo user (Bearer token on every request), record errors and foreign requests. */
async function visit(
  rel: string,
  opts: { colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number }; setup?: (context: BrowserContext) => Promise<void> } = {},
): Promise<Visit> {
  const context = await browser.newContext({
    extraHTTPHeaders: { authorization: `Bearer ${token}` },
    colorScheme: opts.colorScheme ?? 'light',
    viewport: opts.viewport ?? { width: 1280, height: 900 },
  });
  await opts.setup?.(context);
  const page = await context.newPage();
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(`${origin}/`) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  const response = await page.goto(`${origin}/${rel}`, { waitUntil: 'networkidle' });
  assert.equal(response?.status(), 200, rel);
  // Charts are drawn by cells after the data arrived; give the runtime a moment after the network.
  await page.waitForFunction(() => document.querySelectorAll('#observablehq-main [data-chart], #observablehq-main .empty').length > 0, null, { timeout: 20_000 });
  await page.waitForTimeout(300);
  return { page, errors, foreign, context };
}

/** A small solid PNG (size x size, one RGB colour): what the test's "Spotify image server" answers. */
function png(size: number, [r, g, b]: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(Array.from({ length: size }, () => row)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function shot(v: Visit, name: string): Promise<void> {
  const file = path.join(SHOTS, `${name}.png`);
  await v.page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

/** Every [data-chart] drew something: SVG marks for charts, rows for tables. */
async function assertChartsDrawn(v: Visit, rel: string): Promise<number> {
  const charts = await v.page.$$eval('#observablehq-main [data-chart]', (els) =>
    els.map((el) => ({
      name: el.getAttribute('data-chart'),
      svgs: el.querySelectorAll('svg').length,
      marks: el.querySelectorAll('svg rect, svg path, svg circle, svg line').length,
      rows: el.querySelectorAll('table tbody tr').length,
    })),
  );
  for (const c of charts) {
    assert.ok(c.svgs > 0 ? c.marks > 0 : c.rows > 0, `${rel}: chart ${c.name} drew nothing (${JSON.stringify(c)})`);
  }
  const runtimeErrors = await v.page.$$eval('.observablehq--error', (els) => els.map((e) => e.textContent));
  assert.deepEqual(runtimeErrors, [], `${rel}: cells failed`);
  return charts.length;
}

async function figure(v: Visit, name: string): Promise<{ text: string; value: string | null }> {
  const el = v.page.locator(`[data-figure="${name}"]`).first();
  return { text: (await el.textContent())?.trim() ?? '', value: await el.getAttribute('data-value') };
}

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-site-browser-test-'));
  config = loadConfig({ REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: temporal.address, REWIND_DUCKDB_MEMORY: '512MB' });
  layout = new Layout(config.home);
  const zip = path.join(root, 'my_spotify_data.zip');
  // History up to yesterday, as `rewind demo` writes it: the rolling periods (last 7 days...) have data.
  const today = new Date();
  await writeDemoExport(zip, { streams: 6000, seed: 11, years: 2, endDate: new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()) - 86_400_000) });
  await runImport(createContext(config, () => undefined), { paths: [zip], userId: 'demo' });
  await ensureUser(layout, 'other', 'UTC');
  await writePlays(layout, 'other', [{ artist_name: 'Zebra Secret', track_name: 'Hidden', album_name: 'Private', started_at: '2021-04-01T12:00:00Z', ms_played: 185_000 }]);
  await rebuildUserModels(layout, { threads: 2 }, 'other');
  pages = (await buildSite(config, 'demo')).pages;
  await buildSite(config, 'other');
  app = await buildApp({ config, layout, imports: createTemporalImports(createContext(config, () => undefined)), temporalReady: async () => true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  token = (await createToken(layout, 'demo', 'browser test')).token;
  await fs.rm(SHOTS, { recursive: true, force: true });
  await fs.mkdir(SHOTS, { recursive: true });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await app?.close();
  await temporal?.stop();
  await fs.rm(root, { recursive: true, force: true });
  if (shots.length) process.stdout.write(`\nScreenshots of the dashboards (${shots.length}):\n${shots.map((s) => `  ${s}`).join('\n')}\n`);
});

describe('the dashboards in Chromium, through the API server', () => {
  test('without a token the site is not served', async () => {
    const res = await fetch(`${origin}/`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 401);
    assert.doesNotMatch(await res.text(), /Your listening/);
  });

  test('every page opens, draws its charts, logs no error and fetches nothing from elsewhere', async () => {
    assert.ok(pages.length >= 10, pages.join(', '));
    for (const rel of pages) {
      const v = await visit(rel);
      try {
        const charts = await assertChartsDrawn(v, rel);
        assert.ok(charts > 0, `${rel} has no chart`);
        assert.deepEqual(v.errors, [], `${rel}: errors`);
        assert.deepEqual(v.foreign, [], `${rel}: requests outside the server`);
        await shot(v, rel.replace(/\.html$/, '').replace(/[\\/]/g, '-'));
      } finally {
        await v.context.close();
      }
    }
  });

  test('Overview: the listens and listening time equal period_snapshots', async () => {
    const periods = await sql(`select period_type, listens, track_ms from period_snapshots where user_id = 'demo' and period_type in ('week', 'month', 'year', 'all_time')`);
    const v = await visit('index.html');
    try {
      for (const p of periods) {
        const listens = await figure(v, `listens-${p.period_type}`);
        assert.equal(listens.text, formatInt(Number(p.listens)), `listens ${p.period_type}`);
        const time = await figure(v, `track_ms-${p.period_type}`);
        assert.equal(time.value, String(p.track_ms));
        const hours = Number(p.track_ms) / 3_600_000;
        assert.equal(time.text, hours < 100 ? `${hours.toFixed(1)} h` : `${formatInt(Math.round(hours))} h`);
      }
      assert.match((await v.page.textContent('#observablehq-main')) ?? '', /Your listening/);
    } finally {
      await v.context.close();
    }
  });

  test("Year in review: totals and the top five artists equal the year's snapshot", async () => {
    const [year] = (await sql(`select period_key, listens, unique_artists from period_snapshots where user_id = 'demo' and period_type = 'calendar_year' order by listens desc limit 1`));
    const top5 = (await sql(`select a.artist_name from period_snapshots, unnest(top_artists) as t(a) where user_id = 'demo' and period_type = 'calendar_year' and period_key = '${year!.period_key}' and a.rank <= 5 order by a.rank`)).map((r) => r.artist_name);
    const v = await visit(`years/${year!.period_key}.html`);
    try {
      assert.equal((await figure(v, `listens-${year!.period_key}`)).text, formatInt(Number(year!.listens)));
      assert.equal((await figure(v, `unique_artists-${year!.period_key}`)).value, String(year!.unique_artists));
      const names = await v.page.$$eval(`[data-figure="top5-artist-${year!.period_key}"] li .what`, (els) => els.map((e) => e.childNodes[0]?.textContent?.trim()));
      assert.deepEqual(names, top5);
      await shot(v, `years-${year!.period_key}-top`);
    } finally {
      await v.context.close();
    }
  });

  test('Data health: plays stored equal count(*) of plays; every source is listed', async () => {
    const [{ n }] = (await sql(`select count(*) as n from plays where user_id = 'demo'`)) as [{ n: number }];
    const sources = await sql(`select source, count(*) as n from plays where user_id = 'demo' group by all`);
    const v = await visit('health.html');
    try {
      assert.equal((await figure(v, 'plays-all')).text, formatInt(n));
      for (const s of sources) assert.equal((await figure(v, `plays-${s.source}`)).value, String(s.n));
    } finally {
      await v.context.close();
    }
  });

  test('Top: picking a month loads its lists; search filters the table', async () => {
    const [month] = await sql(`select period_key from period_snapshots where user_id = 'demo' and period_type = 'calendar_month' order by listens desc limit 1`);
    const [first] = await sql(`select a.artist_name from period_snapshots, unnest(top_artists) as t(a) where user_id = 'demo' and period_key = '${month!.period_key}' and a.rank = 1`);
    const v = await visit('top.html');
    try {
      const label = new Date(`${month!.period_key}-01T00:00:00Z`).toLocaleString('en-US', { month: 'long', year: 'numeric', timeZone: 'UTC' });
      await v.page.locator('select').first().selectOption({ label });
      await v.page.waitForSelector(`[data-figure="top-artist-${month!.period_key}"] tbody tr`);
      const firstRow = await v.page.locator(`[data-figure="top-artist-${month!.period_key}"] tbody tr`).first().textContent();
      assert.ok(firstRow?.includes(String(first!.artist_name)), `${firstRow} should show ${first!.artist_name}`);
      await v.page.locator('input[type=search]').first().fill(String(first!.artist_name));
      await v.page.waitForTimeout(300);
      const rows = await v.page.locator(`[data-figure="top-artist-${month!.period_key}"] tbody tr`).count();
      assert.equal(rows, 1);
      assert.deepEqual(v.errors, []);
      await shot(v, 'top-month-search');
    } finally {
      await v.context.close();
    }
  });

  test('dark theme and a phone-sized screen', async () => {
    const dark = await visit('index.html', { colorScheme: 'dark' });
    try {
      const bg = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.notEqual(bg, 'rgb(255, 255, 255)', 'dark background');
      await shot(dark, 'index-dark');
    } finally {
      await dark.context.close();
    }
    const phone = await visit('index.html', { viewport: { width: 390, height: 844 } });
    try {
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px on a phone`);
      await assertChartsDrawn(phone, 'index.html (phone)');
      await shot(phone, 'index-phone');
    } finally {
      await phone.context.close();
    }
  });
  test('Top and Year in review: album art and artist pictures where the catalog has them, from i.scdn.co only', async () => {
    // The enrichment found images for the #1 artist and the #1 track of the last 365 days, and for the
    // #1 artist of the last complete year (the shared catalog, as the enrich workflow writes it).
    const [artist] = await sql(`select a.artist_name as name from period_snapshots, unnest(top_artists) as t(a) where user_id = 'demo' and period_type = 'year' and a.rank = 1`);
    const [track] = await sql(`select t.track_name as name, t.artist_name as artist, t.album_name as album, t.track_uri as uri from period_snapshots, unnest(top_tracks) as x(t) where user_id = 'demo' and period_type = 'year' and t.rank = 1`);
    const year = String(new Date().getUTCFullYear() - 1);
    const [yearArtist] = await sql(`select a.artist_name as name from period_snapshots, unnest(top_artists) as t(a) where user_id = 'demo' and period_type = 'calendar_year' and period_key = '${year}' and a.rank = 1`);
    assert.match(String(track!.uri), /^spotify:track:[A-Za-z0-9]{22}$/);
    const hex = (n: number) => n.toString(16).padStart(24, '0');
    const artistImage = `https://i.scdn.co/image/ab6761610000e5eb${hex(1)}`; // 640 px: the page asks for the 160 px sibling
    const yearArtistImage = `https://i.scdn.co/image/ab6761610000e5eb${hex(2)}`;
    const albumImage = `https://i.scdn.co/image/ab67616d0000b273${hex(3)}`; // 640 px: the page asks for the 64 px sibling
    const small = (url: string) => url.replace('ab6761610000e5eb', 'ab6761610000f178').replace('ab67616d0000b273', 'ab67616d00004851');
    const fetchedAt = new Date().toISOString();
    const artistRow = (n: number, name: string, url: string) =>
      artistRowFromApi({ uri: `spotify:artist:${String(n).padStart(22, '0')}`, name, genres: [], images: [{ url, width: 640, height: 640 }] }, { source: 'lookup', fetchedAt })!;
    await withDb({ threads: 1, memoryLimit: '256MB' }, (db) =>
      writeCatalog(db, layout, {
        tracks: [
          trackRowFromApi(
            { uri: track!.uri, name: track!.name, album: { uri: `spotify:album:${'1'.repeat(22)}`, name: track!.album, images: [{ url: albumImage, width: 640, height: 640 }] }, artists: [{ uri: `spotify:artist:${'9'.repeat(22)}`, name: track!.artist }] },
            { source: 'lookup', fetchedAt },
          )!,
        ],
        artists: [artistRow(1, String(artist!.name), artistImage), ...(yearArtist!.name === artist!.name ? [] : [artistRow(2, String(yearArtist!.name), yearArtistImage)])],
      }),
    );
    const rebuilt = await buildSite(config, 'demo');
    assert.equal(rebuilt.mode, 'data', 'only the art (and the backlog) changed');
    assert.deepEqual(rebuilt.datasets.computed.sort(), ['art', 'enrichment', 'year_tops']);

    // The "Spotify image server": every request to i.scdn.co answered with a local PNG (no internet).
    const served: string[] = [];
    const imageServer = async (context: BrowserContext) => {
      await context.route('https://i.scdn.co/**', async (route) => {
        served.push(route.request().url());
        const i = served.length;
        await route.fulfill({ status: 200, contentType: 'image/png', body: png(64, [40 + ((i * 70) % 200), 120, 200 - ((i * 50) % 150)]) });
      });
    };
    const drawn = (v: Visit, url: string) =>
      v.page.waitForFunction((src) => [...document.querySelectorAll('img.art')].some((img) => (img as HTMLImageElement).src === src && (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0), url, { timeout: 10_000 });

    const v = await visit('top.html', { setup: imageServer });
    try {
      const response = await v.page.request.get(`${origin}/top.html`, { headers: { authorization: `Bearer ${token}` } });
      assert.match(response.headers()['content-security-policy'] ?? '', /img-src 'self' data: blob: https:\/\/i\.scdn\.co;/);
      // Artists (the default): the #1 row shows the artist's picture, rows without one their initials.
      await drawn(v, small(artistImage));
      const first = v.page.locator('[data-chart="top-table"] tbody tr').first();
      assert.ok((await first.textContent())?.includes(String(artist!.name)));
      const img = first.locator('img.art');
      assert.equal(await img.getAttribute('src'), small(artistImage));
      assert.equal(await img.getAttribute('loading'), 'lazy');
      assert.equal(await img.getAttribute('referrerpolicy'), 'no-referrer');
      assert.ok((await v.page.locator('[data-chart="top-table"] tbody tr span.art').count()) > 0, 'initials where there is no image');
      await shot(v, 'top-art-artists');
      // Tracks: the #1 track shows its album's cover (matched by the URI its plays carry).
      await v.page.getByLabel('Tracks').check();
      await drawn(v, small(albumImage));
      const firstTrack = v.page.locator('[data-figure="top-track-year"] tbody tr').first();
      assert.ok((await firstTrack.textContent())?.includes(String(track!.name)));
      assert.equal(await firstTrack.locator('img.art').getAttribute('src'), small(albumImage));
      await shot(v, 'top-art-tracks');
      assert.ok(served.includes(small(artistImage)) && served.includes(small(albumImage)), served.join(', '));
      assert.deepEqual(v.foreign.filter((u) => !u.startsWith('https://i.scdn.co/')), [], 'nothing else from elsewhere');
      assert.deepEqual(v.errors, []);
    } finally {
      await v.context.close();
    }

    const y = await visit(`years/${year}.html`, { setup: imageServer });
    try {
      const url = small(yearArtist!.name === artist!.name ? artistImage : yearArtistImage);
      await drawn(y, url);
      const firstArtist = y.page.locator(`[data-figure="top5-artist-${year}"] li`).first();
      assert.equal(await firstArtist.locator('img.art').getAttribute('src'), url);
      assert.equal((await firstArtist.locator('.what').evaluate((e) => e.childNodes[0]?.textContent))?.trim(), yearArtist!.name);
      assert.deepEqual(y.errors, []);
      await shot(y, `years-${year}-art`);
    } finally {
      await y.context.close();
    }
  });
});
