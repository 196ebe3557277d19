/**
 * `rewind sql` as a user runs it (a real process), and reading while an import writes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, PROJECT_ROOT } from '../../config.ts';
import { createContext, type Context } from '../../cli/context.ts';
import { runImport } from '../../cli/import.ts';
import { writeDemoExport } from '../../cli/demo/generate.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';
import { REAL_DATA } from '../helpers/real-data.ts';

const exec = promisify(execFile);
const REAL = REAL_DATA;
let temporal: TestTemporal;
let root: string;
let ctx: Context;

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-sql-test-'));
  ctx = createContext(loadConfig({ REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: temporal.address }), () => undefined);
  await runImport(ctx, { paths: [path.join(REAL, 'extended/EDGES2_Spotify-Data/Streaming_History_Audio_2025_2.json')], userId: 'eve' });
});
after(async () => {
  await temporal.stop();
  await fs.rm(root, { recursive: true, force: true });
});

async function rewind(...args: string[]) {
  return exec(process.execPath, [path.join(PROJECT_ROOT, 'bin/rewind.js'), ...args], {
    env: { ...process.env, REWIND_HOME: ctx.layout.home, TEMPORAL_ADDRESS: temporal.address },
  });
}

test('--json prints one array of row objects with integers as numbers, nested ones too', async () => {
  const { stdout } = await rewind('sql', `SELECT user_id, count(*) AS plays, sum(ms_played) AS ms, max(ended_at) AS last
    FROM plays GROUP BY user_id`, '--json');
  const rows = JSON.parse(stdout) as { user_id: string; plays: number; ms: number; last: string }[];
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.user_id, 'eve');
  assert.equal(typeof rows[0]!.plays, 'number');
  assert.equal(typeof rows[0]!.ms, 'number');
  assert.ok(rows[0]!.plays > 100);
  const top = JSON.parse((await rewind('sql', `SELECT top_artists[1] AS a FROM period_snapshots WHERE period_type = 'all_time'`, '--json')).stdout) as { a: { plays: number; rank: number } }[];
  assert.equal(typeof top[0]!.a.plays, 'number');
  assert.equal(top[0]!.a.rank, 1);
});

test('--csv prints a header and rows; the default is a table', async () => {
  const csv = (await rewind('sql', `SELECT kind, count(*) AS n FROM plays GROUP BY kind ORDER BY kind`, '--csv')).stdout.trim().split('\n');
  assert.equal(csv[0], 'kind,n');
  assert.match(csv[1]!, /^track,\d+$/);
  const table = (await rewind('sql', `SELECT 1 AS one`)).stdout;
  assert.match(table, /one/);
  assert.match(table, /\(1 row\)/);
});

test('a bad query exits non-zero with DuckDB\'s message', async () => {
  await assert.rejects(rewind('sql', 'SELECT nope FROM plays'), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 1);
    assert.match(e.stderr, /rewind: error: .*nope/);
    return true;
  });
});

test('queries keep answering while an import writes the same user', { timeout: 180_000 }, async () => {
  const zip = path.join(root, 'demo.zip');
  await writeDemoExport(zip, { streams: 60_000, seed: 11, endDate: new Date(Date.UTC(2026, 5, 1)) });
  const importing = runImport(ctx, { paths: [zip], userId: 'eve' });
  let done = false;
  importing.finally(() => (done = true)).catch(() => undefined);
  let reads = 0;
  let last = 0;
  while (!done) {
    const [row] = (await queryWarehouse(ctx.layout, {}, `SELECT count(*) AS n FROM plays WHERE user_id = 'eve'`)).rows;
    const n = Number(row!.n);
    assert.ok(n >= last, 'never fewer plays than before');
    last = n;
    reads++;
  }
  const summary = await importing;
  assert.ok(reads > 3, `read ${reads} times during the import`);
  const [final] = (await queryWarehouse(ctx.layout, {}, `SELECT count(*) AS n FROM plays WHERE user_id = 'eve'`)).rows;
  assert.ok(Number(final!.n) >= summary.playsAdded);
});
