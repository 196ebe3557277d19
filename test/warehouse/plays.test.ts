/**
 * The matching rule (sql/intermediate/int_plays_merged.sql) on real files and small fixtures:
 * stageFile -> mergeStaged, with real DuckDB and real Parquet in a temp data folder.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db, ident } from '../../warehouse/duckdb.ts';
import { writeGeneration } from '../../warehouse/files.ts';
import { PLAY_COLUMNS } from '../../warehouse/schema.ts';
import { Layout } from '../../warehouse/layout.ts';
import { BadExportFileError, mergeStaged, stageFile, type StageFormat } from '../../warehouse/plays.ts';
import { buildModels, playsSource } from '../../warehouse/models.ts';
import { REAL_DATA } from '../helpers/real-data.ts';

const REAL = REAL_DATA;
let root: string;
let db: Db;

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-plays-test-'));
  db = await Db.open();
});
after(async () => {
  db.close();
  await fs.rm(root, { recursive: true, force: true });
});

let n = 0;
async function stage(jsonPath: string, format: StageFormat, importId = `i${++n}`) {
  const outFile = path.join(root, 'staged', `${++n}.parquet`);
  const result = await stageFile(db, { jsonPath, format, importId, entry: path.basename(jsonPath), outFile });
  return { ...result, outFile };
}

function json(name: string, rows: unknown): string {
  const p = path.join(root, name);
  writeFileSync(p, JSON.stringify(rows));
  return p;
}

async function count(layout: Layout, user: string, where = 'true'): Promise<number> {
  const row = await db.one<{ n: number }>(`SELECT count(*) AS n FROM (${await playsSource(layout, user)}) WHERE ${where}`);
  return row?.n ?? 0;
}

const ext = (ts: string, ms: number, track: string, extra: Record<string, unknown> = {}) => ({
  ts, platform: 'ios', ms_played: ms, conn_country: 'DE', master_metadata_track_name: track,
  master_metadata_album_artist_name: 'Artist', master_metadata_album_album_name: 'Album',
  spotify_track_uri: `spotify:track:${track.replace(/\W/g, '')}`, reason_start: 'trackdone', reason_end: 'trackdone',
  shuffle: false, skipped: false, offline: false, offline_timestamp: null, incognito_mode: false, ...extra,
});

describe('one stream, stored once', () => {
  test('rows identical in every field are one stream; same ts and track with another ms_played are two', async () => {
    const layout = new Layout(path.join(root, 'a'));
    const file = json('Streaming_History_Audio_2024.json', [
      ext('2024-05-01T10:00:00Z', 200000, 'Song A'),
      ext('2024-05-01T10:00:00Z', 200000, 'Song A'),
      ext('2024-05-01T10:00:00Z', 15000, 'Song A'),
      ext('2024-05-01T10:05:00Z', 0, 'Song B'),
    ]);
    const s = await stage(file, 'extended');
    assert.equal(s.rowsStaged, 4);
    const m = await mergeStaged(db, layout, { userId: 'u', stagedFiles: [s.outFile], timezone: 'UTC' });
    assert.deepEqual([m.added, m.duplicates], [3, 1]);
    assert.equal(await count(layout, 'u'), 3);
  });

  test('streams sharing ts and ms_played are numbered by track across files; of identical rows the first file\'s is kept', async () => {
    const layout = new Layout(path.join(root, 'occ'));
    const first = await stage(json('Streaming_History_Audio_2023_0.json', [
      ext('2023-02-01T08:00:00Z', 0, 'Zulu'),
      ext('2023-02-01T08:00:00Z', 0, 'Alpha'),
      ext('2023-02-01T09:00:00Z', 120000, 'Solo'),
      ext('2023-02-01T10:00:00Z', 90000, 'Twice'),
    ]), 'extended');
    const second = await stage(json('Streaming_History_Audio_2023_1.json', [
      ext('2023-02-01T10:00:00Z', 90000, 'Twice'), // identical to a row of the first file
      ext('2023-02-01T08:00:00Z', 0, 'Mike'),
      ext('2023-02-01T10:00:00Z', 90000, 'Twice'), // and again, in the same file
    ]), 'extended');
    const m = await mergeStaged(db, layout, { userId: 'u', stagedFiles: [second.outFile, first.outFile], timezone: 'UTC' });
    assert.deepEqual([m.added, m.duplicates], [5, 2]);
    const stored = await db.all<{ track_name: string; occurrence: number; source_file: string; source_row: number }>(
      `SELECT track_name, occurrence, source_file, source_row FROM (${await playsSource(layout, 'u')}) ORDER BY ended_at, occurrence`,
    );
    assert.deepEqual(
      stored.map((r) => [r.track_name, r.occurrence, r.source_file, r.source_row]),
      [
        ['Alpha', 1, 'Streaming_History_Audio_2023_0.json', 2],
        ['Mike', 2, 'Streaming_History_Audio_2023_1.json', 2],
        ['Zulu', 3, 'Streaming_History_Audio_2023_0.json', 1],
        ['Solo', 1, 'Streaming_History_Audio_2023_0.json', 3],
        ['Twice', 1, 'Streaming_History_Audio_2023_0.json', 4],
      ],
    );
    // The same streams again, the files in the other order: recognised by their identities.
    const again = await mergeStaged(db, layout, { userId: 'u', stagedFiles: [first.outFile, second.outFile], timezone: 'UTC' });
    assert.deepEqual([again.added, again.duplicates], [0, 7]);
  });

  test('a first import (straight from the staged files) stores what the full merge stores', async () => {
    // A real history, with rows logged twice (in the same file and across files) and streams that
    // share their ts and ms_played: every case of rules 1 and 2.
    const real = JSON.parse(await fs.readFile(path.join(REAL, 'extended/nate-downer_spotify-analysis/endsong_2.json'), 'utf8')) as Record<string, unknown>[];
    const twice = real.filter((_, i) => i % 97 === 0);
    const shared = real.filter((_, i) => i % 89 === 0).map((r) => ({ ...r, spotify_track_uri: 'spotify:track:0Shared', master_metadata_track_name: 'Shared' }));
    const files = [
      await stage(json('Streaming_History_Audio_2013-2018_0.json', [...real.slice(0, 3000), ...twice.slice(0, 10)]), 'extended'),
      await stage(json('Streaming_History_Audio_2018-2022_1.json', [...real.slice(3000), ...twice, ...shared]), 'extended'),
    ].map((s) => s.outFile);
    const stored = async (layout: Layout) =>
      db.all(`SELECT * EXCLUDE (user_id) FROM (${await playsSource(layout, 'u')}) ORDER BY ended_at, ms_played, occurrence`);

    // Into an empty warehouse: no table of whole rows, every incoming stream added.
    const direct = new Layout(path.join(root, 'direct'));
    const first = await mergeStaged(db, direct, { userId: 'u', stagedFiles: files, timezone: 'Europe/Berlin' });
    // The same rows merged by int_plays_merged: a play stored first (from another file, in a year
    // the import touches) makes the merge take its general path.
    const full = new Layout(path.join(root, 'full'));
    const other = await stage(json('other.json', [{ ...real[0], ts: '2016-02-29T12:00:00Z', ms_played: 4321 }]), 'extended');
    await mergeStaged(db, full, { userId: 'u', stagedFiles: [other.outFile], timezone: 'Europe/Berlin' });
    const merged = await mergeStaged(db, full, { userId: 'u', stagedFiles: files, timezone: 'Europe/Berlin' });

    assert.deepEqual([first.added, first.duplicates], [merged.added, merged.duplicates]);
    // (The real history has a row logged twice of its own.)
    assert.ok(first.duplicates >= twice.length + 10, `${first.duplicates} duplicates`);
    assert.deepEqual(first.affectedDays, merged.affectedDays);
    const fromFull = (await stored(full)).filter((r) => r.source_file !== 'other.json');
    assert.deepEqual(await stored(direct), fromFull);
    assert.ok(fromFull.some((r) => (r.occurrence as number) > 1), 'streams sharing an identity were numbered');
  });

  test('a re-import, and an older layout without URIs, add nothing', async () => {
    const layout = new Layout(path.join(root, 'b'));
    const rows = [ext('2020-01-01T10:00:00Z', 180000, 'Old'), ext('2020-01-01T10:04:00Z', 180000, 'Old'), ext('2020-01-02T10:00:00Z', 5000, 'Other')];
    const newer = await stage(json('Streaming_History_Audio_2020.json', rows), 'extended');
    await mergeStaged(db, layout, { userId: 'u', stagedFiles: [newer.outFile], timezone: 'UTC' });
    const again = await mergeStaged(db, layout, { userId: 'u', stagedFiles: [newer.outFile], timezone: 'UTC' });
    assert.deepEqual([again.added, again.duplicates, again.affectedDays.length], [0, 3, 0]);
    // The oldest endsong layout: no spotify_track_uri key at all, and a renamed track.
    const old = rows.map(({ spotify_track_uri: _u, ...r }, i) => ({ ...r, master_metadata_track_name: i === 0 ? 'Old (Remastered)' : r.master_metadata_track_name, username: null }));
    const endsong = await stage(json('endsong_0.json', old), 'extended');
    const m = await mergeStaged(db, layout, { userId: 'u', stagedFiles: [endsong.outFile], timezone: 'UTC' });
    assert.deepEqual([m.added, m.duplicates], [0, 3]);
    assert.equal(await count(layout, 'u'), 3);
  });

  test('Account data and Extended history of the same person: each stream once, whichever comes first', async () => {
    const extFile = path.join(REAL, 'extended/nate-downer_spotify-analysis/endsong_2.json');
    const accFile = path.join(REAL, 'account/nate-downer_spotify-analysis/StreamingHistory0.json');
    const x = await stage(extFile, 'extended');
    const a = await stage(accFile, 'account_legacy');

    const first = new Layout(path.join(root, 'account-first'));
    const m1 = await mergeStaged(db, first, { userId: 'u', stagedFiles: [a.outFile], timezone: 'UTC' });
    const m2 = await mergeStaged(db, first, { userId: 'u', stagedFiles: [x.outFile], timezone: 'UTC' });
    assert.equal(m1.added, a.rowsStaged);
    assert.ok(m2.superseded > 600, `account rows replaced by extended ones: ${m2.superseded}`);

    const second = new Layout(path.join(root, 'extended-first'));
    const m3 = await mergeStaged(db, second, { userId: 'u', stagedFiles: [x.outFile], timezone: 'UTC' });
    const m4 = await mergeStaged(db, second, { userId: 'u', stagedFiles: [a.outFile], timezone: 'UTC' });
    assert.equal(m4.duplicates, m2.superseded, 'the same pairs are found in both orders');
    assert.equal(m3.added + m4.added, m1.added + m2.added - m2.superseded);
    assert.equal(await count(first, 'u'), await count(second, 'u'));
    // The Extended row won: the paired streams are stored with second precision and their URI.
    assert.equal(await count(first, 'u', `source = 'account_export'`), await count(second, 'u', `source = 'account_export'`));
    // Re-importing the account file after all that adds nothing.
    const m5 = await mergeStaged(db, first, { userId: 'u', stagedFiles: [a.outFile], timezone: 'UTC' });
    assert.equal(m5.added, 0);
  });

  test('every real export file stages without a crash, and its rejected rows carry reasons', async () => {
    for (const dir of ['extended', 'account']) {
      for (const owner of await fs.readdir(path.join(REAL, dir))) {
        for (const f of await fs.readdir(path.join(REAL, dir, owner))) {
          const format: StageFormat = dir === 'extended' ? 'extended'
            : f.includes('_podcast_') ? 'account_podcast' : f.includes('_audiobook_') ? 'account_audiobook'
            : f.includes('_music_') ? 'account_music' : 'account_legacy';
          const s = await stage(path.join(REAL, dir, owner, f), format);
          assert.ok(s.rowsRead > 0, `${owner}/${f}`);
          assert.equal(s.rowsStaged + s.rejected.reduce((k, r) => k + r.rows, 0), s.rowsRead, `${owner}/${f}`);
        }
      }
    }
  });

  test('a file that is not a JSON array of streams is refused naming the file and the reason', async () => {
    const file = json('Streaming_History_Audio_2021.json', { ts: '2021-01-01T00:00:00Z' });
    await assert.rejects(stage(file, 'extended'), (e: unknown) => {
      assert.ok(e instanceof BadExportFileError);
      assert.match(e.message, /Streaming_History_Audio_2021\.json: expected a JSON array/);
      return true;
    });
  });

  test('rows with a bad ts or ms_played are rejected with a reason; the rest are kept', async () => {
    const file = json('Streaming_History_Audio_2022.json', [
      ext('2022-03-01T10:00:00Z', 1000, 'ok'),
      ext('yesterday', 1000, 'bad ts'),
      ext('2022-03-01T11:00:00Z', -5, 'negative'),
      ext('2022-03-01T12:00:00Z', 'lots' as unknown as number, 'nan'),
    ]);
    const s = await stage(file, 'extended');
    assert.equal(s.rowsStaged, 1);
    assert.deepEqual(
      s.rejected.map((r) => [r.reason, r.rows, r.firstRow]).sort(),
      [['ms_played is missing or not a number', 1, 4], ['ms_played is negative', 1, 3], ['ts is missing or not a timestamp', 1, 2]],
    );
  });

  test('an absurd ms_played rejects its row, not the file; a kept row starts ms_played before its end', async () => {
    const file = json('Streaming_History_Audio_2022b.json', [
      ext('2022-03-01T10:00:00Z', 9_000_000_000_000_000_000, 'absurd'),
      ext('2022-03-01T11:00:00Z', 90_061_500, 'ok'),
    ]);
    const s = await stage(file, 'extended');
    assert.equal(s.rowsStaged, 1);
    assert.deepEqual(s.rejected.map((r) => [r.reason, r.rows, r.firstRow]), [['ms_played is longer than a week', 1, 1]]);
    const [kept] = await db.all<{ started: string }>(
      `SELECT strftime(started_at, '%Y-%m-%d %H:%M:%S.%g') AS started FROM read_parquet('${s.outFile}') WHERE reject_reason IS NULL`,
    );
    assert.equal(kept?.started, '2022-02-28 09:58:58.500');
  });
});

describe('plays files written before the API columns existed', () => {
  test('still read, merge and build: the new columns read as NULL', async () => {
    const layout = new Layout(path.join(root, 'old-files'));
    const old = PLAY_COLUMNS.filter(([name]) => !['album_uri', 'artist_uris', 'context_uri', 'context_type', 'api_played_at'].includes(name));
    // A year partition as an older Rewind wrote it: without the columns API rows brought.
    const staged = await stage(json('Streaming_History_Audio_2023.json', [ext('2023-02-01T10:00:00Z', 200000, 'Before')]), 'extended');
    await writeGeneration(
      db,
      layout.playsPartition('u', 2023),
      `SELECT ${old.map(([c]) => ident(c)).join(', ')} FROM read_parquet('${staged.outFile}')`,
    );
    assert.equal(await count(layout, 'u', 'album_uri IS NULL AND artist_uris IS NULL AND api_played_at IS NULL'), 1);
    // A merge into that partition reads it, and writes the next generation with every column.
    const next = await stage(json('Streaming_History_Audio_2023b.json', [ext('2023-03-01T10:00:00Z', 200000, 'After')]), 'extended');
    const m = await mergeStaged(db, layout, { userId: 'u', stagedFiles: [next.outFile], timezone: 'UTC' });
    assert.deepEqual([m.added, m.duplicates], [1, 0]);
    assert.equal(await count(layout, 'u'), 2);
    const built = await buildModels(db, layout, { userId: 'u', timezone: 'UTC' });
    assert.equal(built.dailyRows, 2);
  });
});
