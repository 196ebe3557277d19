/**
 * npm run bench:api [-- --plays N --users N --seconds N]
 *
 * Builds a warehouse of one heavy user (1,000,000 plays over 15 years) and 200 ordinary users (plays
 * written as Parquet with the warehouse code, marts built by the real models), starts `rewind serve`
 * in its own process on a free port (with the embedded Temporal dev server on free ports and a worker
 * in-process), and drives overview, top, history and heatmap of the heavy user with autocannon for a
 * fixed time at 50 connections. Prints req/s, p50 and p99 per route beside the target (p99 < 10 ms
 * overview/top, < 25 ms history/heatmap) and beside a baseline measured in the same run: GET /health
 * (no auth, no data) under the same load, the floor of the HTTP stack on this machine.
 *
 * Also printed: the first (uncached) answer of each URL, and the four routes mixed while an export
 * of 300,000 streams is uploaded through the API and imported by the server's worker.
 *
 * `--home DIR` keeps the data folder in DIR and reuses the warehouse found there on the next run
 * (building it takes minutes); without it a temporary folder is used and removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { loadConfig, PROJECT_ROOT } from '../config.ts';
import { createContext } from '../cli/context.ts';
import { writeDemoExport } from '../cli/demo/generate.ts';
import { createToken } from '../api/auth/tokens.ts';
import { Db, ident, literal } from '../warehouse/duckdb.ts';
import { writePartitionedGenerations } from '../warehouse/files.ts';
import { MARTS } from '../warehouse/layout.ts';
import { buildModels } from '../warehouse/models.ts';
import { PLAY_COLUMNS } from '../warehouse/schema.ts';
import { ensureUser } from '../warehouse/users.ts';
import { freePort, stopEmbeddedTemporal } from '../worker/temporal-server.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const HEAVY_PLAYS = arg('plays', 1_000_000);
const USERS = arg('users', 200);
const SECONDS = arg('seconds', 10);
const CONNECTIONS = 50;


const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const log = (m: string) => process.stderr.write(`${m}\n`);

const homeArg = process.argv.indexOf('--home');
const keep = homeArg >= 0 ? path.resolve(process.argv[homeArg + 1]!) : undefined;
const root = keep ?? mkdtempSync(path.join(os.tmpdir(), 'rewind-bench-api-'));
const env = {
  ...process.env,
  REWIND_HOME: path.join(root, 'home'),
  REWIND_TEMPORAL_PORT: String(await freePort()),
  REWIND_TEMPORAL_UI_PORT: String(await freePort()),
  TEMPORAL_ADDRESS: '',
  REWIND_API_PORT: String(await freePort()),
  // The load generator is one client: lift the per-token limit so that it measures speed, not the limiter.
  REWIND_API_RATE_LIMIT: '100000000',
  REWIND_API_RATE_LIMIT_IP: '100000000',
};
const config = loadConfig(env);
const ctx = createContext(config, () => undefined);
const layout = ctx.layout;

/**
 * Plays of one user, generated in SQL: `n` streams ending every `spacing` seconds from `start`, with a
 * skewed taste over `artists` artists (10 tracks each), a tenth of them skips. Written as the user's
 * year partitions (the warehouse's own partitioned-generation writer).
 */
async function writeUserPlays(db: Db, userId: string, n: number, start: string, spacing: number, artists: number, seed: number): Promise<void> {
  const values: Record<string, string> = {
    ended_at: `cast(${literal(start)} as TIMESTAMPTZ) + to_seconds(cast(i * ${spacing} + (hash(i, ${seed}) % ${Math.max(1, Math.floor(spacing / 3))}) as bigint))`,
    ms_played: `case when hash(i, ${seed}, 1) % 10 = 0 then 5000 + hash(i, ${seed}, 2) % 20000 else 30000 + hash(i, ${seed}, 2) % 240000 end`,
    kind: `'track'`,
    track_uri: `'spotify:track:' || ${userId === 'heavy' ? '' : `'${seed}-' || `}t`,
    track_name: `'Track ' || t`,
    artist_name: `'Artist ' || (t // 10)`,
    album_name: `'Album ' || (t // 40)`,
    platform: `'linux'`,
    conn_country: `'DE'`,
    reason_start: `'trackdone'`,
    reason_end: `'trackdone'`,
    shuffle: 'false',
    skipped: 'false',
    offline: 'false',
    incognito: 'false',
    source: `'extended_export'`,
    time_precision: `'second'`,
    occurrence: '1',
    import_id: `'bench'`,
    source_file: `'Streaming_History_Audio_bench.json'`,
    source_row: 'i + 1',
  };
  const select = PLAY_COLUMNS.map(([name, type]) => {
    if (name === 'ended_at' || name === 'ms_played') return ident(name);
    if (name === 'started_at') return `ended_at - to_milliseconds(ms_played) as started_at`;
    return `cast(${values[name] ?? 'null'} as ${type}) as ${ident(name)}`;
  });
  const sql = `
    with base as (
      select i, cast(floor(pow((hash(i, ${seed}, 3) % 1000000) / 1000000.0, 3) * ${artists * 10}) as bigint) as t
      from range(${n}) as r(i)
    ),
    timed as (
      select i, t, cast(${values.ended_at} as TIMESTAMPTZ) as ended_at, cast(${values.ms_played} as BIGINT) as ms_played from base
    )
    select ${select.join(', ')}, cast(year(ended_at) as integer) as year
    from timed order by ended_at`;
  const years = await db.all<{ y: number }>(`select distinct cast(year(ended_at) as integer) as y from (select ${values.ended_at} as ended_at from range(${n}) as r(i))`);
  await writePartitionedGenerations(db, layout.userPlays(userId), 'year', years.map((r) => r.y), sql);
}

interface RouteResult {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
}

async function drive(name: string, base: string, paths: string[], token: string | undefined, duration = SECONDS): Promise<RouteResult> {
  const r = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    requests: paths.map((p) => ({ method: 'GET', path: p })),
  });
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, non2xx: r.non2xx, errors: r.errors };
}

let server: ChildProcess | undefined;
try {
  // ------------------------------------------------------------------ the warehouse
  const t0 = process.hrtime.bigint();
  await fs.mkdir(layout.tmp, { recursive: true });
  const now = new Date();
  const built = await fs.readFile(path.join(root, 'built.json'), 'utf8').then((t) => JSON.parse(t) as { plays: number; users: number }, () => undefined);
  const reuse = built?.plays === HEAVY_PLAYS && built.users === USERS;
  if (reuse) log(`reusing the warehouse in ${root}`);
  const db = reuse ? undefined : await Db.open({ memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp });
  if (db) try {
    await ensureUser(layout, 'heavy', 'Europe/Berlin');
    // A million plays over 15 years, ending now: about 180 a day.
    const spacing = Math.floor((15 * 365.25 * 86_400) / HEAVY_PLAYS);
    const start = new Date(now.getTime() - HEAVY_PLAYS * spacing * 1000).toISOString();
    await writeUserPlays(db, 'heavy', HEAVY_PLAYS, start, spacing, 3000, 1);
    log(`heavy user: ${HEAVY_PLAYS.toLocaleString('en-US')} plays written in ${seconds(t0).toFixed(1)} s`);
    let t1 = process.hrtime.bigint();
    await buildModels(db, layout, { userId: 'heavy', timezone: 'Europe/Berlin', now });
    log(`heavy user: marts built in ${seconds(t1).toFixed(1)} s`);
    t1 = process.hrtime.bigint();
    for (let u = 0; u < USERS; u++) {
      const id = `user${String(u).padStart(3, '0')}`;
      await ensureUser(layout, id, 'UTC');
      // 2,000 plays over the last two years.
      await writeUserPlays(db, id, 2000, new Date(now.getTime() - 2 * 365 * 86_400_000).toISOString(), 31_536, 200, u + 2);
      await buildModels(db, layout, { userId: id, timezone: 'UTC', now });
    }
    log(`${USERS} ordinary users: plays and marts in ${seconds(t1).toFixed(1)} s`);
    await fs.writeFile(path.join(root, 'built.json'), JSON.stringify({ plays: HEAVY_PLAYS, users: USERS }));
  } finally {
    db.close();
  }
  const warehouseSeconds = seconds(t0);
  const token = (await createToken(layout, 'heavy', 'bench')).token;
  // The user the upload is imported for starts empty on every run (a reused warehouse would otherwise
  // pile one more export on it each time).
  for (const dir of [layout.userPlays('importer'), ...MARTS.map((m) => layout.martPartition(m, 'importer')), layout.userImports('importer'), path.join(layout.home, 'uploads', 'importer')]) {
    await fs.rm(dir, { recursive: true, force: true });
  }
  await fs.rm(layout.userSettings('importer'), { force: true });
  const importerToken = (await createToken(layout, 'importer', 'bench')).token;

  // ------------------------------------------------------------------ the server (own process)
  server = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin/rewind.js'), 'serve', '--host', '127.0.0.1'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const base = `http://127.0.0.1:${env.REWIND_API_PORT}`;
  for (const deadline = Date.now() + 60_000; ; ) {
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  // Temporal (embedded dev server) and the worker come up in the background; wait for them.
  for (const deadline = Date.now() + 120_000; ; ) {
    const ready = await fetch(`${base}/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error('Temporal did not become ready');
    await new Promise((r) => setTimeout(r, 500));
  }
  const auth = { authorization: `Bearer ${token}` };
  const getJson = async (p: string) => (await fetch(`${base}${p}`, { headers: auth })).json() as Promise<Record<string, unknown>>;

  // URLs per route: several periods / pages each, so the load is not one cached answer.
  const thisYear = now.getUTCFullYear();
  const periods = ['all_time', 'year', 'month', 'week', String(thisYear - 1), String(thisYear - 7), `${thisYear - 2}-06`, `${thisYear - 10}-01`];
  const historyPaths = ['/api/v1/history?limit=50'];
  let cursor = (await getJson('/api/v1/history?limit=50')).next as string | null;
  for (let i = 0; i < 5 && cursor; i++) {
    historyPaths.push(`/api/v1/history?limit=50&before=${cursor}`);
    cursor = (await getJson(`/api/v1/history?limit=50&before=${cursor}`)).next as string | null;
  }
  historyPaths.push(`/api/v1/history?limit=50&before=${thisYear - 5}-03-01T00:00:00Z`, `/api/v1/history?limit=50&before=${thisYear - 12}-09-15T12:00:00Z`);
  const routes: { name: string; target: number; paths: string[] }[] = [
    { name: 'overview', target: 10, paths: periods.map((p) => `/api/v1/analytics/overview?period=${p}`) },
    { name: 'top', target: 10, paths: periods.flatMap((p) => ['artists', 'tracks', 'albums'].map((k) => `/api/v1/top/${k}?period=${p}&limit=20`)) },
    { name: 'history', target: 25, paths: historyPaths },
    { name: 'heatmap', target: 25, paths: periods.map((p) => `/api/v1/heatmap?period=${p}`) },
  ];

  // Cold: the first answer of each URL (computed by DuckDB from the Parquet files, then cached).
  const cold: Record<string, number[]> = {};
  for (const r of routes) {
    cold[r.name] = [];
    for (const p of r.paths) {
      const t = performance.now();
      const res = await fetch(`${base}${p}`, { headers: auth });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${p}: ${res.status}`);
      cold[r.name]!.push(performance.now() - t);
    }
  }

  // ------------------------------------------------------------------ load
  log(`driving each route for ${SECONDS} s at ${CONNECTIONS} connections ...`);
  const baseline = await drive('baseline: GET /health', base, ['/health'], undefined);
  const results: RouteResult[] = [];
  for (const r of routes) results.push(await drive(r.name, base, r.paths, token));

  // While an import writes: upload a 300,000-stream export for another user, drive the routes mixed.
  const zip = path.join(root, 'import.zip');
  // A new export each run (a reused warehouse has imported the previous ones).
  await writeDemoExport(zip, { streams: 300_000, seed: Date.now() % 100_000, endDate: now });
  const form = new FormData();
  form.append('file', new Blob([await fs.readFile(zip)], { type: 'application/zip' }), 'my_spotify_data.zip');
  const started = await fetch(`${base}/api/v1/imports`, { method: 'POST', body: form, headers: { authorization: `Bearer ${importerToken}` } });
  const importId = ((await started.json()) as { importId: string }).importId;
  const importT0 = performance.now();
  const during = await drive('all four, mixed, during an import', base, routes.flatMap((r) => r.paths), token, Math.min(SECONDS, 8));
  const phaseAfter = ((await (await fetch(`${base}/api/v1/imports/${encodeURIComponent(importId)}`, { headers: { authorization: `Bearer ${importerToken}` } })).json()) as { status: string; progress: { phase: string } | null });
  let status = phaseAfter.status;
  while (status === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    status = ((await (await fetch(`${base}/api/v1/imports/${encodeURIComponent(importId)}`, { headers: { authorization: `Bearer ${importerToken}` } })).json()) as { status: string }).status;
  }
  const importSeconds = (performance.now() - importT0) / 1000;

  // ------------------------------------------------------------------ report
  const ms = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)} ms`;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lines: string[] = [];
  lines.push('');
  lines.push(`Rewind API bench: 1 heavy user with ${HEAVY_PLAYS.toLocaleString('en-US')} plays + ${USERS} users, ${os.cpus().length} cores, Node ${process.version}`);
  lines.push(`warehouse ${reuse ? 'reused' : 'built'} in ${warehouseSeconds.toFixed(1)} s; ${CONNECTIONS} connections, ${SECONDS} s per route (autocannon, same machine)`);
  lines.push('');
  lines.push('| route | URLs | req/s | p50 | p99 | max | target p99 | met | first answer (uncached), median / max |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  lines.push(`| ${baseline.name} | 1 | ${Math.round(baseline.rps)} | ${ms(baseline.p50)} | ${ms(baseline.p99)} | ${ms(baseline.max)} | | | |`);
  for (const [i, r] of results.entries()) {
    const route = routes[i]!;
    const bad = r.non2xx + r.errors > 0 ? ` (${r.non2xx} non-2xx, ${r.errors} errors)` : '';
    lines.push(
      `| ${r.name}${bad} | ${route.paths.length} | ${Math.round(r.rps)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | < ${route.target} ms | ${r.p99 < route.target ? 'yes' : 'NO'} | ${ms(median(cold[route.name]!))} / ${ms(Math.max(...cold[route.name]!))} |`,
    );
  }
  lines.push(`| ${during.name} | ${routes.reduce((n, r) => n + r.paths.length, 0)} | ${Math.round(during.rps)} | ${ms(during.p50)} | ${ms(during.p99)} | ${ms(during.max)} | | | |`);
  lines.push('');
  lines.push(`the import (300,000 streams, uploaded through the API, imported by the server's worker) ended "${status}" after ${importSeconds.toFixed(1)} s; it was "${phaseAfter.status}${phaseAfter.progress ? ` (${phaseAfter.progress.phase})` : ''}" when the mixed load ended`);
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
  }
  await stopEmbeddedTemporal(layout);
  if (!keep) await fs.rm(root, { recursive: true, force: true });
}
