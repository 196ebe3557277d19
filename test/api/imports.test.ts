/**
 * Uploads and imports through the API against a real Temporal dev server, with the real server of
 * `rewind serve` (startServer: HTTP on a free port, a worker in-process) and real exports published
 * by real people: the upload is streamed to the data folder within its limit, the import workflow
 * runs, its live progress is visible, another user's import is a 404, and API reads made while an
 * import writes the warehouse are never blocked and never wrong.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config.ts';
import { createContext } from '../../cli/context.ts';
import { startServer, type RunningServer } from '../../cli/serve.ts';
import { createToken } from '../../api/auth/tokens.ts';
import { hashExport } from '../../activities/export/archive.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';
import { writeZip } from '../helpers/zip.ts';
import { REAL_DATA } from '../helpers/real-data.ts';

let temporal: TestTemporal;
let root: string;
let server: RunningServer;
let home: string;
const tokens: Record<string, string> = {};

async function exportZip(name: string, folder: string): Promise<string> {
  const dir = path.join(REAL_DATA, 'extended', folder);
  const zip = path.join(root, `${name}.zip`);
  await writeZip(
    zip,
    readdirSync(dir).map((f) => ({ name: `Spotify Extended Streaming History/${f}`, path: path.join(dir, f) })),
  );
  return zip;
}

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-api-imports-'));
  home = path.join(root, 'home');
  const config = loadConfig({ REWIND_HOME: home, TEMPORAL_ADDRESS: temporal.address, REWIND_API_UPLOAD_LIMIT: String(8 * 1024 * 1024) });
  const ctx = createContext(config, () => undefined);
  server = await startServer(ctx, { host: '127.0.0.1', port: 0 });
  const t = await server.temporal;
  assert.deepEqual(t, { connected: true, worker: true });
  for (const u of ['alice', 'bob', 'carol']) tokens[u] = (await createToken(ctx.layout, u)).token;
});

after(async () => {
  await server?.close();
  await temporal?.stop();
  await fs.rm(root, { recursive: true, force: true });
});

const api = (pathname: string, user: string, init: RequestInit = {}) =>
  fetch(`${server.url}${pathname}`, { ...init, headers: { authorization: `Bearer ${tokens[user]}`, ...(init.headers ?? {}) } });

async function upload(user: string, file: string, name = path.basename(file)): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([await fs.readFile(file)], { type: 'application/zip' }), name);
  return api('/api/v1/imports', user, { method: 'POST', body: form });
}

interface ImportInfo {
  importId: string;
  status: string;
  progress: { phase: string; filesDone: number; filesTotal: number; rows: number } | null;
  result: { playsAdded: number; rowsRead: number; filesRead: number } | null;
  error: string | null;
}

async function waitFor(user: string, importId: string, onPoll?: (i: ImportInfo) => void): Promise<ImportInfo> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const r = await api(`/api/v1/imports/${encodeURIComponent(importId)}`, user);
    assert.equal(r.status, 200);
    const info = (await r.json()) as ImportInfo;
    onPoll?.(info);
    if (info.status !== 'running') return info;
    assert.ok(Date.now() < deadline, 'the import ends');
    await new Promise((r) => setTimeout(r, 30));
  }
}

test('ready: Temporal reachable and the warehouse readable', async () => {
  const r = await fetch(`${server.url}/ready`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { ready: true, temporal: true, warehouse: true });
});

test('upload a real export: streamed to the data folder, imported by the workflow, live progress, listed', { timeout: 240_000 }, async () => {
  const zip = await exportZip('efrrowini', 'Efrrowini_spotify-music-analysis');
  const r = await upload('alice', zip);
  assert.equal(r.status, 202, await r.clone().text());
  const started = (await r.json()) as ImportInfo & { alreadyImported: boolean };
  const sha = await hashExport([zip]);
  assert.equal(started.importId, `import:alice:${sha}`);
  assert.equal(started.alreadyImported, false);
  assert.equal(r.headers.get('location'), `/api/v1/imports/${encodeURIComponent(started.importId)}`);
  // Stored under the user's uploads folder, named by content, byte for byte.
  const stored = path.join(home, 'uploads', 'alice', `${sha}.zip`);
  assert.deepEqual(await fs.readFile(stored), await fs.readFile(zip));

  const seen: ImportInfo[] = [];
  const done = await waitFor('alice', started.importId, (i) => seen.push(i));
  assert.equal(done.status, 'imported', done.error ?? '');
  assert.equal(done.result!.filesRead, 6);
  assert.ok(done.result!.playsAdded > 5_000, `plays added: ${done.result!.playsAdded}`);
  const live = seen.filter((i) => i.status === 'running' && i.progress);
  assert.ok(live.length > 0, 'the live progress was visible while the workflow ran');
  assert.ok(live.some((i) => i.progress!.filesTotal === 6), 'progress names the file count');

  const list = (await (await api('/api/v1/imports', 'alice')).json()) as { imports: ImportInfo[] };
  assert.deepEqual(list.imports.map((i) => [i.importId, i.status]), [[started.importId, 'imported']]);
  // The plays are there for alice.
  const overview = (await (await api('/api/v1/analytics/overview', 'alice')).json()) as { streams: number };
  assert.equal(overview.streams, done.result!.playsAdded);

  // The same archive again: nothing to do.
  const again = await upload('alice', zip);
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as { alreadyImported: boolean }).alreadyImported, true);

  // Another user: the import is a 404 and not listed.
  const other = await api(`/api/v1/imports/${encodeURIComponent(started.importId)}`, 'bob');
  assert.equal(other.status, 404);
  assert.deepEqual(((await (await api('/api/v1/imports', 'bob')).json()) as { imports: unknown[] }).imports, []);
  assert.equal((await api('/api/v1/analytics/overview', 'bob')).status, 404);
});

test('uploads: over the limit (413), not a ZIP (400), not multipart (400), unauthenticated (401); nothing left behind', async () => {
  const big = path.join(root, 'big.zip');
  const data = Buffer.alloc(9 * 1024 * 1024, 7);
  data.write('PK\x03\x04', 'latin1');
  await fs.writeFile(big, data);
  const tooBig = await upload('bob', big);
  assert.equal(tooBig.status, 413);
  assert.equal(((await tooBig.json()) as { code: string }).code, 'upload_too_large');

  const notZip = path.join(root, 'history.json');
  await fs.writeFile(notZip, '[{"ts": "2024-01-01T00:00:00Z"}]');
  const bad = await upload('bob', notZip);
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as { code: string; message: string };
  assert.equal(body.code, 'not_a_zip');
  assert.match(body.message, /history\.json/);

  const json = await api('/api/v1/imports', 'bob', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(json.status, 400);
  const anon = await fetch(`${server.url}/api/v1/imports`, { method: 'POST', body: new FormData() });
  assert.equal(anon.status, 401);
  const left = await fs.readdir(path.join(home, 'uploads', 'bob')).catch(() => []);
  assert.deepEqual(left, [], 'no partial upload is kept');
});

test('a broken export: the import fails, naming the entry, and the warehouse is unchanged', { timeout: 120_000 }, async () => {
  const zip = path.join(root, 'evil.zip');
  await writeZip(zip, [{ name: 'Spotify Extended Streaming History/Streaming_History_Audio_2024.json', content: '[{"ts": "2024-01-01T00:00:00Z", "ms_played": ' }]);
  const r = await upload('bob', zip);
  assert.equal(r.status, 202);
  const info = await waitFor('bob', ((await r.json()) as ImportInfo).importId);
  assert.equal(info.status, 'failed');
  assert.match(info.error!, /Streaming_History_Audio_2024\.json/);
  assert.equal((await api('/api/v1/analytics/overview', 'bob')).status, 404);
  assert.equal(((await (await api('/api/v1/status', 'bob')).json()) as { totalPlays: number }).totalPlays, 0);
});

test('API reads while an import writes the same user: never blocked, never wrong', { timeout: 240_000 }, async () => {
  // Carol has a first export; a second (another listener's, adding plays) is imported while we read.
  const first = await upload('carol', await exportZip('edges', 'EDGES2_Spotify-Data'));
  const firstDone = await waitFor('carol', ((await first.json()) as ImportInfo).importId);
  assert.equal(firstDone.status, 'imported');
  const before = (await (await api('/api/v1/analytics/overview', 'carol')).json()) as { streams: number };
  const beforeHistory = (await (await api('/api/v1/history?limit=5', 'carol')).json()) as { plays: { id: string }[] };
  assert.equal(before.streams, firstDone.result!.playsAdded);

  const second = await upload('carol', await exportZip('khushi', 'Khushi-203006_Spotify_Data_Analysis_Project'));
  const importId = ((await second.json()) as ImportInfo).importId;
  const streamsSeen = new Set<number>();
  const latencies: number[] = [];
  let duringWrite = 0;
  let reads = 0;
  let info: ImportInfo;
  for (;;) {
    const status = (await (await api(`/api/v1/imports/${encodeURIComponent(importId)}`, 'carol')).json()) as ImportInfo;
    info = status;
    const t0 = performance.now();
    const [o, h, top] = await Promise.all([
      api('/api/v1/analytics/overview', 'carol'),
      api('/api/v1/history?limit=5', 'carol'),
      api('/api/v1/top/artists?period=all_time&limit=5', 'carol'),
    ]);
    latencies.push(performance.now() - t0);
    assert.deepEqual([o.status, h.status, top.status], [200, 200, 200]);
    const overview = (await o.json()) as { streams: number; top_artists: { artist_name: string }[] };
    const history = (await h.json()) as { plays: { id: string }[] };
    const topList = (await top.json()) as { items: { artist_name: string }[] };
    streamsSeen.add(overview.streams);
    // The top list and the overview come from the same snapshot generation or a later one: both are whole.
    assert.ok(topList.items.length > 0);
    assert.equal(history.plays.length, 5);
    reads++;
    if (status.status === 'running' && ['merging', 'modelling'].includes(status.progress?.phase ?? '')) duringWrite++;
    if (status.status !== 'running') break;
  }
  assert.equal(info.status, 'imported', info.error ?? '');
  const after = (await (await api('/api/v1/analytics/overview', 'carol')).json()) as { streams: number };
  assert.ok(after.streams > before.streams);
  // Every answer is the state before the import or after it: never a half-written one.
  for (const s of streamsSeen) assert.ok(s === before.streams || s === after.streams, `streams ${s} is ${before.streams} or ${after.streams}`);
  assert.ok(reads >= 5, `reads during the import: ${reads}`);
  assert.ok(duringWrite >= 1, `reads while the warehouse was written: ${duringWrite}`);
  const worst = Math.max(...latencies);
  assert.ok(worst < 2_000, `reads never wait for the import (slowest ${worst.toFixed(0)} ms)`);
  // History pages through every play exactly once, the plays of the first export included.
  const ids = new Set<string>();
  let url = '/api/v1/history?limit=1000';
  for (;;) {
    const page = (await (await api(url, 'carol')).json()) as { plays: { id: string }[]; next: string | null };
    for (const p of page.plays) {
      assert.ok(!ids.has(p.id), `play ${p.id} shown twice`);
      ids.add(p.id);
    }
    if (!page.next) break;
    url = `/api/v1/history?limit=1000&before=${page.next}`;
  }
  const status = (await (await api('/api/v1/status', 'carol')).json()) as { totalPlays: number };
  assert.equal(ids.size, status.totalPlays);
  for (const p of beforeHistory.plays) assert.ok(ids.has(p.id), `${p.id} kept`);
});
