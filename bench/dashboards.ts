/**
 * npm run bench:dashboards [-- --streams N] [-- --home DIR --user ID]
 *
 * The dashboards of a 1,000,000-play user. Setup (not timed): a synthetic export of a million streams
 * over 15 years (Spotify's format) imported end to end through the import workflow (a real Temporal
 * dev server, in-process worker), and a fully enriched shared catalog (an album image for every
 * track, a picture for every artist: the art dataset at its largest). Then, timed:
 *
 *   full build   what `rewind build --user` does: every model rebuilt, then the site built by
 *                Observable Framework from a clean cache (target < 60 s);
 *   rebuild      after a sync-sized batch (50 recently-played plays staged and merged by the sync's
 *                own code, the marts of the touched days rebuilt as the sync does), the site rebuilt
 *                (target < 15 s): the datasets whose files changed computed again, the pages kept,
 *                their data files replaced; the models step is printed beside it;
 *   profile      the same rebuild split: datasets / the rest; and, same run, the site rebuilt by
 *                Framework anyway (what every rebuild cost before: its render and bundle of every
 *                page), and the datasets alone (every query, no cache, one DuckDB session);
 *   transfer     each page of the built site opened in headless Chromium from a local server: the
 *                bytes it fetched from it (target < 1.5 MB per page); requests for images to
 *                i.scdn.co are answered by a stand-in and counted, not weighed.
 *
 * --home DIR --user ID reuse an existing data folder (a scratch copy: the batch is merged into it).
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { loadConfig } from '../config.ts';
import { createContext, connectTemporal } from '../cli/context.ts';
import { runImport } from '../cli/import.ts';
import { rebuildUser } from '../cli/build.ts';
import { writeDemoExport } from '../cli/demo/generate.ts';
import { commitStagedPlays } from '../activities/import.ts';
import { Db } from '../warehouse/duckdb.ts';
import { stageApiPlays, type ApiPlay } from '../warehouse/api-plays.ts';
import { buildSite, datasetOptions, siteDatasets } from '../warehouse/dashboards.ts';
import { ensureUser } from '../warehouse/users.ts';
import { withDb } from '../warehouse/duckdb.ts';
import { type ArtistRow, type TrackRow, writeCatalog } from '../warehouse/catalog.ts';
import { queryWarehouse } from '../warehouse/query.ts';
import { freePort, stopEmbeddedTemporal } from '../worker/temporal-server.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const streams = Number(arg('streams') ?? 1_000_000);
const reuseHome = arg('home');
const userId = arg('user') ?? 'bench';


const seconds = (t0: number) => (performance.now() - t0) / 1000;
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MB`;

const root = mkdtempSync(path.join(os.tmpdir(), 'rewind-bench-dashboards-'));
const config = loadConfig({
  ...process.env,
  REWIND_HOME: reuseHome ? path.resolve(reuseHome) : path.join(root, 'home'),
  REWIND_TEMPORAL_PORT: String(await freePort()),
  REWIND_TEMPORAL_UI_PORT: String(await freePort()),
  TEMPORAL_ADDRESS: '',
});
const ctx = createContext(config, () => undefined);
const rows: [string, string][] = [];
let plays = 0;
try {
  // Setup: the million-play user, through the real import.
  if (!reuseHome) {
    const zip = path.join(root, 'my_spotify_data.zip');
    const end = new Date();
    let t0 = performance.now();
    await writeDemoExport(zip, { streams, seed: 7, years: 15, endDate: new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), end.getUTCDate()) - 86_400_000) });
    const generate = seconds(t0);
    const session = await connectTemporal(ctx);
    t0 = performance.now();
    try {
      const summary = await runImport(ctx, { paths: [zip], userId, session });
      plays = summary.playsAdded;
    } finally {
      await session.close();
      await stopEmbeddedTemporal(ctx.layout);
    }
    rows.push(['setup (not timed): export, import', `${generate.toFixed(1)} s to write, ${seconds(t0).toFixed(1)} s to import ${plays.toLocaleString('en-US')} plays`]);
  }

  // A fully enriched catalog (not timed): an album image for every track URI of the plays, a picture
  // for every artist (as the enrich workflow would leave it after looking every one up).
  {
    const t = performance.now();
    const rows = (await queryWarehouse(ctx.layout, {}, `select track_uri, any_value(track_name) as name, any_value(artist_name) as artist, any_value(album_name) as album from plays where user_id = '${userId}' and track_uri like 'spotify:track:%' group by 1`)).rows;
    const id = (s: string, n: number) => Buffer.from(s).toString('hex').padEnd(n, '0').slice(0, n);
    const artistUri = (name: string) => `spotify:artist:${id(name, 22).replace(/[^A-Za-z0-9]/g, 'x')}`;
    const at = new Date().toISOString();
    const tracks = rows.map((r) => ({
      track_uri: String(r.track_uri), name: String(r.name), duration_ms: 200_000, album_uri: null, album_name: String(r.album),
      album_image_url: `https://i.scdn.co/image/ab67616d0000b273${id(`${r.artist}/${r.album}`, 24)}`, album_release_date: null,
      artist_uris: [artistUri(String(r.artist))], artist_names: [String(r.artist)], explicit: false,
      danceability: null, energy: null, key: null, loudness: null, mode: null, speechiness: null, acousticness: null, instrumentalness: null,
      liveness: null, valence: null, tempo: null, time_signature: null, features_status: null, source: 'lookup', fetched_at: at,
    })) as TrackRow[];
    const artists = [...new Set(rows.map((r) => String(r.artist)))].map((name) => ({
      artist_uri: artistUri(name), name, genres: [], image_url: `https://i.scdn.co/image/ab6761610000e5eb${id(name, 24)}`, source: 'lookup', fetched_at: at,
    })) as ArtistRow[];
    await withDb({ threads: config.duckdb.threads, memoryLimit: config.duckdb.memoryLimit, tempDirectory: ctx.layout.tmp }, (db) => writeCatalog(db, ctx.layout, { tracks, artists }));
    process.stdout.write(`catalog: ${tracks.length} tracks, ${artists.length} artists with images (${seconds(t).toFixed(1)} s, not timed)\n`);
  }

  // Full build: `rewind build --user`: every model, then the site from a clean cache (first build).
  let t0 = performance.now();
  const models = await rebuildUser(ctx, userId);
  const modelsFull = seconds(t0);
  const site = await buildSite(config, userId);
  const full = seconds(t0);
  rows.push(['full build (rewind build --user)', `${full.toFixed(1)} s (target < 60 s) -> ${full < 60 ? 'MET' : 'MISSED'}`]);
  rows.push(['  of which: every model', `${modelsFull.toFixed(1)} s (${models.dailyRows.toLocaleString('en-US')} daily rollups)`]);
  rows.push(['  of which: the site', `${site.seconds.toFixed(1)} s (${site.pages.length} pages by ${site.mode}, Framework's library bundles built too; datasets ${site.datasets.seconds.toFixed(1)} s)`]);

  // Baseline, same run: every dataset of the site, in one DuckDB session, no Framework.
  t0 = performance.now();
  const datasets = await siteDatasets(ctx.layout, datasetOptions(config, ctx.layout), userId);
  const baseline = seconds(t0);
  const dataBytes = [...datasets.values()].reduce((n, b) => n + b.length, 0);
  rows.push(['baseline: the datasets alone', `${baseline.toFixed(1)} s (${datasets.size} Arrow files, ${mb(dataBytes)})`]);

  // A sync-sized batch: 50 recently-played plays of the last hours, staged and merged as the sync does.
  const now = Date.now();
  const batch: ApiPlay[] = Array.from({ length: 50 }, (_, i) => ({
    playedAt: new Date(now - (50 - i) * 200_000).toISOString(),
    trackUri: `spotify:track:bench${String(i % 17).padStart(17, '0')}`,
    trackName: `Bench Sync Track ${i % 17}`,
    durationMs: 185_000,
    artistName: 'Bench Sync Artist',
    artistUris: [],
    albumName: 'Bench Sync Album',
    albumUri: null,
    contextUri: null,
    contextType: null,
  }));
  const user = await ensureUser(ctx.layout, userId, config.defaultTimezone);
  const dbOptions = { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: ctx.layout.tmp };
  const staged = path.join(ctx.layout.staging(`api:${userId}:bench`), 'recently-played.parquet');
  await fs.mkdir(ctx.layout.tmp, { recursive: true });
  const db = await Db.open(dbOptions);
  try {
    await stageApiPlays(db, { plays: batch, importId: `api:${userId}:bench`, entry: 'recently-played', outFile: staged });
  } finally {
    db.close();
  }
  const merge = await commitStagedPlays(ctx.layout, dbOptions, { userId, timezone: user.timezone, stagedFiles: [staged], record: async (m) => m });
  t0 = performance.now();
  await rebuildUser(ctx, userId, merge.affectedDays);
  const modelsIncremental = seconds(t0);
  t0 = performance.now();
  const rebuilt = await buildSite(config, userId);
  const rebuild = seconds(t0);
  rows.push(['rebuild of the site after a sync', `${rebuild.toFixed(1)} s (target < 15 s) -> ${rebuild < 15 ? 'MET' : 'MISSED'}`]);
  rows.push(['  of which: datasets / the rest', `${rebuilt.datasets.seconds.toFixed(1)} s (${rebuilt.datasets.computed.length} computed: ${rebuilt.datasets.computed.join(' ')}; ${rebuilt.datasets.reused.length} unchanged) / ${(rebuild - rebuilt.datasets.seconds).toFixed(1)} s (pages: ${rebuilt.mode})`]);
  rows.push(['  before it: the marts of the batch days', `${modelsIncremental.toFixed(1)} s (${merge.added} plays added on ${merge.affectedDays.length} day(s); the sync workflow does this)`]);
  rows.push(['  models + site', `${(modelsIncremental + rebuild).toFixed(1)} s`]);

  // Profile, same run: the same site rebuilt by Framework anyway (every dataset cached by now).
  t0 = performance.now();
  const forced = await buildSite(config, userId, undefined, { full: true });
  rows.push(['  profile: the site rebuilt by Framework', `${seconds(t0).toFixed(1)} s (datasets ${forced.datasets.seconds.toFixed(1)} s, all cached; the rest is Framework rendering and bundling ${forced.pages.length} pages)`]);

  // Transfer per page: each page opened in Chromium, every byte it fetched counted.
  const served = rebuilt.site;
  const server = http
    .createServer(async (req, res) => {
      let p = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (p.endsWith('/')) p += 'index.html';
      const file = path.join(served, path.normalize(p));
      if (!file.startsWith(served)) return void res.writeHead(403).end();
      try {
        const body = await fs.readFile(file);
        const type = p.endsWith('.html') ? 'text/html' : p.endsWith('.js') ? 'text/javascript' : p.endsWith('.css') ? 'text/css' : 'application/octet-stream';
        res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    })
    .listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const transfers: [string, number][] = [];
  const imageRequests = new Map<string, number>();
  try {
    for (const page of rebuilt.pages.sort()) {
      const context = await browser.newContext();
      // Spotify's image server, stood in for (no internet): a 1x1 PNG; the requests are counted.
      let images = 0;
      await context.route('https://i.scdn.co/**', (route) => {
        images += 1;
        return route.fulfill({ status: 200, contentType: 'image/png', body: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64') });
      });
      const tab = await context.newPage();
      let bytes = 0;
      tab.on('response', (r) => {
        if (r.url().startsWith(origin)) bytes += Number(r.headers()['content-length'] ?? 0);
      });
      await tab.goto(`${origin}/${page}`, { waitUntil: 'networkidle' });
      transfers.push([page, bytes]);
      if (page === 'top.html') {
        // The top lists of the months are fetched when a month is picked: count that too.
        const months = await tab.locator('select option').count();
        await tab.locator('select').first().selectOption({ index: months - 1 });
        await tab.waitForLoadState('networkidle');
        await tab.waitForTimeout(500);
        transfers.push(['top.html + a month picked', bytes]);
      }
      imageRequests.set(page, images);
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  const largest = transfers.reduce((a, b) => (b[1] > a[1] ? b : a));
  rows.push(['page transfer, largest', `${largest[0]}: ${mb(largest[1])} (target < 1.5 MB) -> ${largest[1] < 1.5 * 1024 * 1024 ? 'MET' : 'MISSED'}`]);
  rows.push(['page transfer, each', transfers.map(([p, b]) => `${p} ${mb(b)}`).join(', ')]);
  rows.push(['image requests to i.scdn.co (lazy)', [...imageRequests].filter(([, n]) => n > 0).map(([p, n]) => `${p} ${n}`).join(', ') || 'none']);

  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\nbench:dashboards (${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, Node ${process.version}, user ${userId})\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
} finally {
  await fs.rm(root, { recursive: true, force: true });
}
process.exit(0);
