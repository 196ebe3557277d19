/**
 * buildModels end to end: real Parquet plays in a temporary data folder, marts written as
 * generations, incremental rebuilds of some days, another user left alone, time zone changes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../../warehouse/duckdb.ts';
import { liveFiles, writeGeneration } from '../../warehouse/files.ts';
import { Layout, MARTS } from '../../warehouse/layout.ts';
import { DIMENSIONS, MART_COLUMNS, buildModels, martSource, playsSource, readModelState } from '../../warehouse/models.ts';
import { PLAY_COLUMNS } from '../../warehouse/schema.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { type PlayInput, writeDenseHistory, writePlays } from '../helpers/plays.ts';
import { loadConfig } from '../../config.ts';
import { columnsOf, rows } from '../helpers/sql.ts';

const NY = 'America/New_York';
const PARIS = 'Europe/Paris';
const NOW = new Date('2024-07-31T16:00:00Z');

const listen = (started_at: string, track_name: string, extra: PlayInput = {}): PlayInput => ({
  started_at,
  ms_played: 200_000,
  artist_name: 'Artist',
  track_name,
  album_name: 'Album',
  ...extra,
});

const ALICE: PlayInput[] = [
  listen('2023-12-31T15:00:00Z', 'Old Year'), // 2023 partition
  listen('2024-01-15T03:30:00Z', 'Night'), // 22:30 on the 14th in New York, the 15th in UTC
  listen('2024-06-01T14:00:00Z', 'One'),
  listen('2024-06-01T15:00:00Z', 'Two'),
  listen('2024-06-01T16:00:00Z', 'Skip', { ms_played: 10_000 }),
  { kind: 'episode', started_at: '2024-06-02T12:00:00Z', ms_played: 600_000, show_name: 'Pod' },
  listen('2024-07-30T12:00:00Z', 'Recent'),
];

const BOB: PlayInput[] = [
  listen('2024-06-01T22:30:00Z', 'Bob Song'), // 00:30 on June 2nd in Paris
  listen('2024-07-29T08:00:00Z', 'Bob Other'),
];

describe('buildModels', () => {
  let home: string;
  let layout: Layout;
  let db: Db;

  before(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'rewind-models-test-'));
    layout = new Layout(home);
    db = await Db.open({ threads: 2 });
  });
  after(async () => {
    db.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  /** The user's daily_rollups as stored. */
  async function daily(userId: string) {
    return rows<{ local_date: string; listens: number; streams: number; tracks: { track_key: string }[] }>(
      db,
      `select * from (${await martSource(layout, 'daily_rollups', userId)}) order by local_date`,
    );
  }

  /** Path and content hash of every live mart file of a user. */
  async function martFiles(userId: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const mart of MARTS) {
      for (const f of await liveFiles(layout.martPartition(mart, userId))) {
        out[path.relative(home, f)] = createHash('sha256').update(await fs.readFile(f)).digest('hex');
      }
    }
    return out;
  }

  /** Define plays / daily_rollups / period_snapshots over every user's files and run the data checks. */
  async function checkStoredMarts(): Promise<void> {
    await db.run(`CREATE OR REPLACE TEMP VIEW plays AS ${await playsSource(layout)}`);
    for (const mart of MARTS) await db.run(`CREATE OR REPLACE TEMP VIEW ${mart} AS ${await martSource(layout, mart)}`);
    await assertChecksPass(db, 'daily_rollups');
    await assertChecksPass(db, 'period_snapshots');
    for (const dim of DIMENSIONS) await assertChecksPass(db, dim);
    for (const v of ['plays', ...MARTS]) await db.run(`DROP VIEW temp.${v}`);
  }

  test('views over no files exist, with the right columns and no rows', async () => {
    const playsColumns = await columnsOf(db, `(${await playsSource(layout)})`);
    assert.deepEqual(
      playsColumns.map(([n]) => n),
      [...PLAY_COLUMNS.map(([n]) => n), 'user_id', 'year'],
    );
    for (const mart of MARTS) {
      const source = await martSource(layout, mart);
      assert.deepEqual(
        (await columnsOf(db, `(${source})`)).map(([n]) => n),
        MART_COLUMNS[mart].map(([n]) => n),
      );
      assert.deepEqual(await rows(db, source), []);
    }
  });

  test('first build of two users', async () => {
    await writePlays(layout, 'alice', ALICE, { db });
    await writePlays(layout, 'bob', BOB, { db });

    const a = await buildModels(db, layout, { userId: 'alice', timezone: NY, now: NOW });
    assert.deepEqual(a, { days: 5, dailyRows: 5, snapshotRows: 5 + 2 + 4, full: true });
    const b = await buildModels(db, layout, { userId: 'bob', timezone: PARIS, now: NOW });
    assert.deepEqual(b, { days: 2, dailyRows: 2, snapshotRows: 5 + 1 + 2, full: true });

    assert.deepEqual(
      (await daily('alice')).map((r) => [r.local_date, r.streams, r.listens]),
      [
        ['2023-12-31', 1, 1],
        ['2024-01-14', 1, 1],
        ['2024-06-01', 3, 2],
        ['2024-06-02', 1, 0],
        ['2024-07-30', 1, 1],
      ],
    );
    assert.deepEqual(
      (await daily('bob')).map((r) => [r.local_date, r.listens]),
      [
        ['2024-06-02', 1],
        ['2024-07-29', 1],
      ],
    );
    const [week] = await rows(
      db,
      `select user_id, period_key, period_start, listens from (${await martSource(layout, 'period_snapshots')})
       where user_id = 'alice' and period_type = 'week'`,
    );
    assert.deepEqual(week, { user_id: 'alice', period_key: '2024-07-31', period_start: '2024-07-25', listens: 1 });

    const state = await readModelState(layout);
    assert.deepEqual(state, {
      alice: { daily_rollups: NOW.toISOString(), period_snapshots: NOW.toISOString(), dimensions: NOW.toISOString(), timezone: NY },
      bob: { daily_rollups: NOW.toISOString(), period_snapshots: NOW.toISOString(), dimensions: NOW.toISOString(), timezone: PARIS },
    });
    await checkStoredMarts();
  });

  test('the stored files hold no user_id column; the build leaves no temporary objects behind', async () => {
    const [file] = await liveFiles(layout.martPartition('daily_rollups', 'alice'));
    assert.ok(file);
    const stored = await columnsOf(db, `(select * from read_parquet('${file}', hive_partitioning = false))`);
    assert.deepEqual(
      stored.map(([n]) => n),
      MART_COLUMNS.daily_rollups.map(([n]) => n).filter((n) => n !== 'user_id'),
    );
    assert.deepEqual(
      await rows(db, `select table_name from information_schema.tables where table_schema = 'main' or table_catalog = 'temp'`),
      [],
    );
    assert.deepEqual(await rows(db, `select 1 from duckdb_variables() where name like 'scope_%'`), []);
  });

  test('rebuilding some days replaces just those days and leaves the other user alone', async () => {
    const before = await daily('alice');
    const bobFiles = await martFiles('bob');

    await writePlays(
      layout,
      'alice',
      [listen('2024-06-01T18:00:00Z', 'Three'), listen('2024-05-05T12:00:00Z', 'New Day')],
      { db },
    );
    const later = new Date('2024-08-01T16:00:00Z');
    const r = await buildModels(db, layout, { userId: 'alice', timezone: NY, days: ['2024-06-01', '2024-05-05'], now: later });
    assert.deepEqual(r, { days: 2, dailyRows: 6, snapshotRows: 5 + 2 + 5, full: false });

    const after = await daily('alice');
    const byDate = (list: typeof after) => new Map(list.map((x) => [x.local_date, x]));
    const [b, a] = [byDate(before), byDate(after)];
    for (const date of ['2023-12-31', '2024-01-14', '2024-06-02', '2024-07-30']) {
      assert.deepEqual(a.get(date), b.get(date), date);
    }
    assert.equal(a.get('2024-05-05')?.listens, 1);
    assert.deepEqual(a.get('2024-05-05')?.tracks.map((t) => t.track_key), ['artist\x1fnew day']);
    // The dimensions name every track of the user, not only those of the days rebuilt.
    assert.deepEqual(
      (await rows<{ track_name: string }>(db, `select track_name from (${await martSource(layout, 'dim_tracks', 'alice')}) order by track_key`)).map(
        (t) => t.track_name,
      ),
      ['New Day', 'Night', 'Old Year', 'One', 'Recent', 'Skip', 'Three', 'Two'],
    );
    assert.equal(a.get('2024-06-01')?.listens, 3);
    assert.equal(a.get('2024-06-01')?.streams, 4);

    const [week] = await rows(
      db,
      `select period_key, built_at from (${await martSource(layout, 'period_snapshots', 'alice')}) where period_type = 'week'`,
    );
    assert.deepEqual(week, { period_key: '2024-08-01', built_at: later.toISOString() });

    assert.deepEqual(await martFiles('bob'), bobFiles);
    const state = await readModelState(layout);
    assert.equal(state.alice?.daily_rollups, later.toISOString());
    assert.equal(state.bob?.daily_rollups, NOW.toISOString());
    // One live file per partition: the older generation is gone.
    for (const mart of MARTS) {
      const names = await fs.readdir(layout.martPartition(mart, 'alice'));
      assert.equal(names.filter((n) => n.endsWith('.parquet')).length, 1, mart);
    }
    await checkStoredMarts();
  });

  test('a day whose plays are gone disappears', async () => {
    const remaining = ALICE.filter((p) => p.track_name !== 'Recent');
    await writePlays(layout, 'alice', [...remaining, listen('2024-06-01T18:00:00Z', 'Three'), listen('2024-05-05T12:00:00Z', 'New Day')], {
      db,
      mode: 'replace',
    });
    const r = await buildModels(db, layout, { userId: 'alice', timezone: NY, days: ['2024-07-30'], now: NOW });
    assert.equal(r.days, 0);
    assert.equal(r.dailyRows, 5);
    assert.ok(!(await daily('alice')).some((d) => d.local_date === '2024-07-30'));
  });

  test('a new time zone rebuilds every day: the near-midnight play moves', async () => {
    const r = await buildModels(db, layout, { userId: 'alice', timezone: 'UTC', now: NOW });
    assert.equal(r.full, true);
    const dates = (await daily('alice')).map((d) => d.local_date);
    assert.ok(dates.includes('2024-01-15') && !dates.includes('2024-01-14'), dates.join());
    assert.equal((await readModelState(layout)).alice?.timezone, 'UTC');

    // Even when only some days are asked for: local dates mean nothing across zones.
    const back = await buildModels(db, layout, { userId: 'alice', timezone: NY, days: ['2024-06-01'], now: NOW });
    assert.equal(back.full, true);
    const again = (await daily('alice')).map((d) => d.local_date);
    assert.ok(again.includes('2024-01-14') && !again.includes('2024-01-15'), again.join());
    await checkStoredMarts();
  });

  test('a daily_rollups file of another shape is rebuilt in full', async () => {
    const dir = layout.martPartition('daily_rollups', 'alice');
    const [file] = await liveFiles(dir);
    assert.ok(file);
    // As if written by an older version without the shows column.
    await writeGeneration(db, dir, `select * exclude (shows) from read_parquet('${file}', hive_partitioning = false)`);
    const r = await buildModels(db, layout, { userId: 'alice', timezone: NY, days: ['2024-06-01'], now: NOW });
    assert.equal(r.full, true);
    assert.equal(r.dailyRows, 5);
    await checkStoredMarts();
  });

  test('a user without plays: no daily rows, empty rolling periods', async () => {
    const r = await buildModels(db, layout, { userId: 'carol', timezone: NY, now: NOW });
    assert.deepEqual(r, { days: 0, dailyRows: 0, snapshotRows: 5, full: true });
    assert.deepEqual(await liveFiles(layout.martPartition('daily_rollups', 'carol')), []);
    const snapshots = await rows<{ period_type: string; listens: number }>(
      db,
      `select period_type, listens from (${await martSource(layout, 'period_snapshots', 'carol')}) order by 1`,
    );
    assert.deepEqual(
      snapshots.map((s) => [s.period_type, s.listens]),
      [
        ['all_time', 0],
        ['month', 0],
        ['quarter', 0],
        ['week', 0],
        ['year', 0],
      ],
    );
  });

  test('bad input is refused before anything is written', async () => {
    const before = await martFiles('alice');
    await assert.rejects(buildModels(db, layout, { userId: 'alice', timezone: 'Nowhere/Land', now: NOW }), /time zone/);
    await assert.rejects(buildModels(db, layout, { userId: '../x', timezone: NY, now: NOW }), /invalid user id/);
    await assert.rejects(buildModels(db, layout, { userId: 'alice', timezone: NY, days: ['2024-13-01'], now: NOW }), /invalid local date/);
    assert.deepEqual(await martFiles('alice'), before);
  });

  const DORA: PlayInput[] = [
    listen('2022-03-01T12:00:00Z', 'Early'),
    listen('2022-11-20T12:00:00Z', 'Autumn'),
    listen('2023-02-01T12:00:00Z', 'Middle'),
    listen('2023-08-01T12:00:00Z', 'Summer'),
    listen('2024-01-02T12:00:00Z', 'Late', { ms_played: 10_000 }),
    listen('2024-05-05T12:00:00Z', 'Latest'),
  ];

  /** The user's daily_rollups file as stored, in file order (no ORDER BY). */
  async function storedOrder(userId: string): Promise<string[]> {
    const [file] = await liveFiles(layout.martPartition('daily_rollups', userId));
    assert.ok(file);
    return (await rows<{ d: string }>(db, `select cast(local_date as varchar) as d from read_parquet('${file}')`)).map((r) => r.d);
  }

  test('the stored days are in date order after full and partial builds; a partial build equals a full one', async () => {
    await writePlays(layout, 'dora', DORA, { db });
    await buildModels(db, layout, { userId: 'dora', timezone: NY, now: NOW });
    const order = await storedOrder('dora');
    assert.deepEqual(order, [...order].sort());
    assert.equal(order.length, 6);

    // New days in 2023 only (2022 and 2024 are copied as stored) and in 2022 and 2024 (2023 is).
    for (const [play, day] of [
      [listen('2023-05-05T12:00:00Z', 'May'), '2023-05-05'],
      [listen('2022-01-01T12:00:00Z', 'New Year'), '2022-01-01'],
      [listen('2024-12-30T12:00:00Z', 'Year End'), '2024-12-30'],
    ] as const) {
      await writePlays(layout, 'dora', [play], { db });
      const r = await buildModels(db, layout, { userId: 'dora', timezone: NY, days: [day], now: NOW });
      assert.equal(r.full, false);
      const partial = await storedOrder('dora');
      assert.deepEqual(partial, [...partial].sort());
      const partialDays = await daily('dora');
      await buildModels(db, layout, { userId: 'dora', timezone: 'UTC', now: NOW });
      await buildModels(db, layout, { userId: 'dora', timezone: NY, now: NOW }); // full again, in NY
      assert.deepEqual(await daily('dora'), partialDays, day);
    }
    assert.equal((await storedOrder('dora')).length, 9);
    await checkStoredMarts();
  });

  test('through Parquet files (a history of more than inMemoryPlays plays) the marts are the same', async () => {
    const snapshots = async () =>
      rows(db, `select * from (${await martSource(layout, 'period_snapshots', 'dora')}) order by period_type, period_key`);
    await buildModels(db, layout, { userId: 'dora', timezone: NY, now: NOW });
    const inMemory = { days: await daily('dora'), snapshots: await snapshots(), files: await storedOrder('dora') };
    const full = await buildModels(db, layout, { userId: 'dora', timezone: NY, now: NOW, inMemoryPlays: 0 });
    assert.equal(full.dailyRows, 9);
    assert.deepEqual({ days: await daily('dora'), snapshots: await snapshots(), files: await storedOrder('dora') }, inMemory);
    const partial = await buildModels(db, layout, {
      userId: 'dora',
      timezone: NY,
      days: ['2023-02-01', '2024-05-05'],
      now: NOW,
      inMemoryPlays: 0,
    });
    assert.deepEqual(partial, { days: 2, dailyRows: 9, snapshotRows: full.snapshotRows, full: false });
    assert.deepEqual({ days: await daily('dora'), snapshots: await snapshots(), files: await storedOrder('dora') }, inMemory);
    // The scratch files are gone.
    assert.deepEqual((await fs.readdir(layout.tmp).catch(() => [])).filter((f) => f.startsWith('models-')), []);
    await checkStoredMarts();
  });
});

describe('buildModels on a dense history', () => {
  test('1,500,000 plays in 4 years build within the default memory limit, in full and day by day', async () => {
    // About 1,000 plays a day, each day's from 300 tracks: four times a heavy listener. The
    // marts' earlier build held every day's lists in memory and sorted them at once: it ran out of
    // memory here.
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'rewind-dense-test-'));
    const layout = new Layout(home);
    const { memoryLimit } = loadConfig({}).duckdb;
    await fs.mkdir(layout.tmp, { recursive: true });
    const db = await Db.open({ threads: 2, memoryLimit, tempDirectory: layout.tmp });
    try {
      await writeDenseHistory(layout, 'dense', { plays: 1_500_000, years: 4, tracks: 146_000, perDay: 300 });
      const full = await buildModels(db, layout, { userId: 'dense', timezone: NY, now: NOW });
      assert.equal(full.full, true);
      assert.ok(full.dailyRows >= 1461 && full.dailyRows <= 1462, String(full.dailyRows));
      const partial = await buildModels(db, layout, { userId: 'dense', timezone: NY, days: ['2023-03-01', '2024-05-05'], now: NOW });
      assert.deepEqual(partial, { ...full, days: 2, full: false });
      const [day] = await rows<{ listens: number; tracks: number }>(
        db,
        `select listens, len(tracks) as tracks from (${await martSource(layout, 'daily_rollups', 'dense')})
         where local_date = '2024-05-05'`,
      );
      // A local (New York) day spans two of the generator's UTC days: 300 tracks from each.
      assert.ok(day && day.listens > 900 && day.tracks >= 300 && day.tracks <= 600, JSON.stringify(day));
      await db.run(`CREATE OR REPLACE TEMP VIEW plays AS ${await playsSource(layout)}`);
      for (const mart of MARTS) await db.run(`CREATE OR REPLACE TEMP VIEW ${mart} AS ${await martSource(layout, mart)}`);
      await assertChecksPass(db, 'daily_rollups');
      await assertChecksPass(db, 'period_snapshots');
    } finally {
      db.close();
      await fs.rm(home, { recursive: true, force: true });
    }
  });
});
