/**
 * The API's reader (warehouse/analytics.ts) on real Parquet files: results cached by live file names
 * (a new generation is a new answer, the same files the same answer without a query), reads that
 * run while writers replace files (never an error, never a half state), another process's writes
 * seen once the folder is re-checked, and a history cursor that
 * stays put while plays are added.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AnalyticsReader, parsePeriod } from '../../warehouse/analytics.ts';
import { Db, literal } from '../../warehouse/duckdb.ts';
import { generations, partFile } from '../../warehouse/files.ts';
import { Layout } from '../../warehouse/layout.ts';
import { rebuildUserModels } from '../../warehouse/models.ts';
import { ensureUser } from '../../warehouse/users.ts';
import { writePlays, type PlayInput } from '../helpers/plays.ts';

let root: string;
let layout: Layout;
let reader: AnalyticsReader;
const dbOptions = { threads: 1, memoryLimit: '256MB' };

const play = (i: number, day = '2024-03-01'): PlayInput => ({
  artist_name: `Artist ${i % 5}`,
  track_name: `Track ${i}`,
  album_name: `Album ${i % 3}`,
  started_at: new Date(Date.parse(`${day}T08:00:00Z`) + i * 240_000),
  ms_played: 200_000,
});

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-analytics-'));
  layout = new Layout(path.join(root, 'home'));
  await ensureUser(layout, 'u', 'UTC');
  reader = await AnalyticsReader.open(layout, { threads: 1, memoryLimit: '256MB', connections: 2 });
});

after(async () => {
  reader.close();
  await fs.rm(root, { recursive: true, force: true });
});

test('answers are cached by the live files: same files, no query; a new generation, a new answer', async () => {
  await writePlays(layout, 'u', Array.from({ length: 10 }, (_, i) => play(i)));
  await rebuildUserModels(layout, dbOptions, 'u');
  const first = await reader.overview('u', parsePeriod('all_time'));
  assert.equal(first?.listens, 10);
  const queries = reader.queries;
  const again = await reader.overview('u', parsePeriod('all_time'));
  assert.equal(again, first, 'the very same (cached) object');
  assert.equal(reader.queries, queries, 'no query ran');
  // Fifty concurrent cold requests run one query.
  const before = reader.queries;
  const all = await Promise.all(Array.from({ length: 50 }, () => reader.heatmap('u', parsePeriod('2024'))));
  assert.ok(all.every((a) => a === all[0]));
  assert.equal(reader.queries - before, 2, 'one heatmap query (and the snapshot it is based on, cached already: one more for its key)');

  await writePlays(layout, 'u', [play(10)]);
  await rebuildUserModels(layout, dbOptions, 'u');
  const after = await reader.overview('u', parsePeriod('all_time'));
  assert.equal(after?.listens, 11, 'the new generation is read at once');
  assert.notEqual(after, first);
});

test('a generation another process writes is read once the listing is re-checked (RECHECK_MS)', async () => {
  await writePlays(layout, 'u', Array.from({ length: 4 }, (_, i) => play(i, '2022-02-02')), { mode: 'replace' });
  await rebuildUserModels(layout, dbOptions, 'u');
  // Let the folder settle (listings of folders changed in the last second are never kept), then read.
  await new Promise((r) => setTimeout(r, 1100));
  const before = await reader.overview('u', parsePeriod('all_time'));
  // "Another process": a next generation written without this process's warehouse code.
  const dir = layout.martPartition('period_snapshots', 'u');
  const [live] = await generations(dir);
  const db = await Db.open({ threads: 1 });
  try {
    await db.run(
      `COPY (select * replace (listens + 1000 as listens) from read_parquet(${literal(partFile(dir, live!))}))
       TO ${literal(partFile(dir, live! + 1))} (FORMAT parquet)`,
    );
  } finally {
    db.close();
  }
  await new Promise((r) => setTimeout(r, AnalyticsReader.RECHECK_MS + 50));
  const after = await reader.overview('u', parsePeriod('all_time'));
  assert.equal(after?.listens, (before?.listens ?? 0) + 1000);
});

test('reads while writers replace the files: never an error, always a whole state', { timeout: 120_000 }, async () => {
  await writePlays(layout, 'u', Array.from({ length: 20 }, (_, i) => play(i, '2023-05-01')), { mode: 'replace' });
  await rebuildUserModels(layout, dbOptions, 'u');
  const states = new Set<number>([20]);
  let writing = true;
  const writer = (async () => {
    try {
      for (let round = 1; round <= 8; round++) {
        // Each round adds 5 plays to 2023 and a play to 2025 (two partitions), then rebuilds the marts.
        await writePlays(layout, 'u', [...Array.from({ length: 5 }, (_, i) => play(100 * round + i, '2023-05-02')), play(round, '2025-01-01')]);
        states.add(20 + round * 6);
        await rebuildUserModels(layout, dbOptions, 'u');
      }
    } finally {
      writing = false;
    }
  })();
  let reads = 0;
  const seenTotals: number[] = [];
  while (writing) {
    const [summary, history, overview] = await Promise.all([
      reader.playsSummary('u'),
      reader.history('u', undefined, 1000),
      reader.overview('u', parsePeriod('all_time')),
    ]);
    const total = summary.sources.reduce((n, s) => n + s.plays, 0);
    seenTotals.push(total);
    // Plays are written partition by partition: a reader sees each partition whole, old or new.
    assert.ok(total >= 20 && total <= 68, `total ${total}`);
    assert.equal(new Set(history.plays.map((p) => p.id)).size, history.plays.length, 'no play twice');
    assert.ok(overview && overview.streams >= 20 && overview.streams <= 68);
    reads++;
    // Cached answers resolve without I/O: let the writer's I/O run.
    await new Promise((r) => setImmediate(r));
  }
  await writer;
  assert.ok(reads > 5, `reads made while writing: ${reads}`);
  const final = await reader.playsSummary('u');
  assert.equal(final.sources.reduce((n, s) => n + s.plays, 0), 68);
  assert.equal((await reader.overview('u', parsePeriod('all_time')))?.streams, 68);
});

test('a history cursor stays put while plays are added before and after it', async () => {
  await writePlays(layout, 'u', Array.from({ length: 30 }, (_, i) => play(i, '2022-02-01')), { mode: 'replace' });
  const first = await reader.history('u', undefined, 10);
  assert.equal(first.plays.length, 10);
  // New plays: some newer than the whole page, some in the middle of the next pages, some older.
  await writePlays(layout, 'u', [play(200, '2022-02-01'), { ...play(15, '2022-02-01'), ms_played: 150_000 }, { ...play(16, '2022-02-01'), ms_played: 199_000 }, play(0, '2021-01-01')]);
  const ids = first.plays.map((p) => p.id);
  let cursor = first.next;
  while (cursor) {
    const page = await reader.history('u', cursor, 10);
    ids.push(...page.plays.map((p) => p.id));
    cursor = page.next;
  }
  assert.equal(new Set(ids).size, ids.length, 'no play twice');
  // Every play that existed when paging started is there; plays added behind the cursor are too.
  const everything = await reader.history('u', undefined, 1000);
  const newerThanFirstPage = everything.plays.filter((p) => String(p.ended_at) > String(first.plays[0]!.ended_at)).length;
  assert.equal(ids.length, everything.plays.length - newerThanFirstPage);
  assert.equal(everything.plays.length, 34);
  await assert.rejects(reader.history('u', 'not-a-cursor', 10), /cursor/);
});
