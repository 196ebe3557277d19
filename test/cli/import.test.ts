/**
 * End to end: `runImport` (what `rewind import` runs) against a real Temporal dev server, an
 * in-process worker, real DuckDB and real Parquet files, with real exports from ../shared/real-data.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config.ts';
import { createContext, type Context } from '../../cli/context.ts';
import { ImportFailedError, runImport } from '../../cli/import.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';
import { writeZip } from '../helpers/zip.ts';
import { REAL_DATA } from '../helpers/real-data.ts';

const REAL = REAL_DATA;
const EXT = path.join(REAL, 'extended/mungeraiden_QuantifiedSelfProject');
const ACC = path.join(REAL, 'account/mungeraiden_QuantifiedSelfProject');

let temporal: TestTemporal;
let root: string;

function contextFor(home: string): Context {
  return createContext(loadConfig({ REWIND_HOME: home, TEMPORAL_ADDRESS: temporal.address }), () => undefined);
}

async function sql(ctx: Context, q: string) {
  return (await queryWarehouse(ctx.layout, {}, q)).rows;
}

/** sha256 of every file under a folder, by relative path: "byte-for-byte unchanged" made checkable. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = (await fs.readdir(dir, { recursive: true })).map(String);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const p = path.join(dir, n);
    if ((await fs.stat(p)).isFile()) out[n] = createHash('sha256').update(await fs.readFile(p)).digest('hex');
  }
  return out;
}

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-import-test-'));
});

after(async () => {
  await temporal.stop();
  await fs.rm(root, { recursive: true, force: true });
});

describe('rewind import', () => {
  test('imports a real export ZIP as Spotify sends it, and a second import of it does nothing', async () => {
    const ctx = contextFor(path.join(root, 'a'));
    const zip = path.join(root, 'my_spotify_data.zip');
    await writeZip(zip, [
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2022.json', path: path.join(EXT, 'Streaming_History_Audio_2022.json') },
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2023.json', path: path.join(EXT, 'Streaming_History_Audio_2023.json') },
      { name: 'Spotify Extended Streaming History/Streaming_History_Video_2024.json', path: path.join(EXT, 'Streaming_History_Video_2024.json') },
      { name: 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf', content: '%PDF-1.4\n%%EOF\n' },
      { name: 'Spotify Account Data/Userdata.json', content: '{"username": null}' },
    ]);
    const progress: number[] = [];
    const first = await runImport(ctx, { paths: [zip], userId: 'alice', onProgress: (p) => progress.push(p.filesDone) });
    assert.equal(first.status, 'imported');
    assert.equal(first.filesRead, 3);
    assert.deepEqual(first.ignoredFiles.sort(), [
      'Spotify Account Data/Userdata.json',
      'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf',
    ]);

    // Ground truth straight from the files: rows identical in every field count once.
    const truth = await queryWarehouse(ctx.layout, {}, `
      SELECT count(*) AS n FROM (SELECT DISTINCT * FROM read_json([
        '${path.join(EXT, 'Streaming_History_Audio_2022.json')}',
        '${path.join(EXT, 'Streaming_History_Audio_2023.json')}',
        '${path.join(EXT, 'Streaming_History_Video_2024.json')}'], format = 'array', union_by_name = true))`);
    const expected = Number(truth.rows[0]!.n);
    assert.equal(first.rowsRead - first.rowsRejected, first.playsAdded + first.duplicatesSkipped);
    assert.equal(first.playsAdded, expected);

    const [stored] = await sql(ctx, `SELECT count(*) AS n, count(DISTINCT import_id) AS imports, min(source) AS source FROM plays WHERE user_id = 'alice'`);
    assert.deepEqual(stored, { n: expected, imports: 1, source: 'extended_export' });
    const [rollups] = await sql(ctx, `SELECT sum(streams) AS streams FROM daily_rollups WHERE user_id = 'alice'`);
    assert.equal(rollups!.streams, expected);
    const [allTime] = await sql(ctx, `SELECT streams FROM period_snapshots WHERE user_id = 'alice' AND period_type = 'all_time'`);
    assert.equal(allTime!.streams, expected);

    // Every row traces to its file; files are zstd Parquet in Hive partitions.
    const [trace] = await sql(ctx, `SELECT count(*) AS untraced FROM plays WHERE source_file IS NULL OR source_row IS NULL OR import_id IS NULL`);
    assert.equal(trace!.untraced, 0);
    const years = await fs.readdir(path.join(ctx.layout.playsRoot, 'user_id=alice'));
    assert.ok(years.includes('year=2023'), `partitions: ${years}`);

    const before = await snapshot(ctx.layout.warehouse);
    const second = await runImport(ctx, { paths: [zip], userId: 'alice' });
    assert.equal(second.status, 'already_imported');
    assert.equal(second.playsAdded, 0);
    assert.deepEqual(await snapshot(ctx.layout.warehouse), before);
  });

  test('a newer export containing an older one, and Account data of the same period, add each stream once', async () => {
    const ctx = contextFor(path.join(root, 'b'));
    const older = path.join(root, 'older.zip');
    const newer = path.join(root, 'newer.zip');
    await writeZip(older, [{ name: 'MyData/Streaming_History_Audio_2023.json', path: path.join(EXT, 'Streaming_History_Audio_2023.json') }]);
    await writeZip(newer, [
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2023.json', path: path.join(EXT, 'Streaming_History_Audio_2023.json') },
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2024.json', path: path.join(EXT, 'Streaming_History_Audio_2024.json') },
    ]);
    const a = await runImport(ctx, { paths: [older], userId: 'bob' });
    const b = await runImport(ctx, { paths: [newer], userId: 'bob' });
    const [n] = await sql(ctx, `SELECT count(*) AS n FROM plays WHERE user_id = 'bob'`);
    assert.equal(n!.n, a.playsAdded + b.playsAdded);
    assert.ok(b.duplicatesSkipped >= a.playsAdded, 'the older export is inside the newer one');

    // Account data of the same person (minute precision, no URIs) over the same period.
    const account = await runImport(ctx, {
      paths: [path.join(ACC, 'StreamingHistory_music_0.json'), path.join(ACC, 'StreamingHistory_music_1.json')],
      userId: 'bob',
    });
    const [after] = await sql(ctx, `
      SELECT count(*) AS n,
             count(*) FILTER (WHERE source = 'account_export') AS account
      FROM plays WHERE user_id = 'bob'`);
    assert.equal(after!.n, n!.n + account.playsAdded);
    // Loose files as a second import of the same account data: nothing new.
    const again = await runImport(ctx, {
      paths: [path.join(ACC, 'StreamingHistory_music_1.json'), path.join(ACC, 'StreamingHistory_music_0.json')],
      userId: 'bob',
    });
    assert.equal(again.status, 'already_imported');
  });

  test('a wrongly shaped file fails the import naming the entry, and leaves the warehouse byte-for-byte unchanged', async () => {
    const ctx = contextFor(path.join(root, 'c'));
    const good = path.join(root, 'good.zip');
    await writeZip(good, [{ name: 'Spotify Extended Streaming History/Streaming_History_Audio_2022.json', path: path.join(EXT, 'Streaming_History_Audio_2022.json') }]);
    await runImport(ctx, { paths: [good], userId: 'carol' });
    const before = await snapshot(ctx.layout.warehouse);

    const bad = path.join(root, 'bad.zip');
    await writeZip(bad, [
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2023.json', path: path.join(EXT, 'Streaming_History_Audio_2023.json') },
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2024_1.json', content: '[{"ts": "2024-01-01T00:00:00Z", "ms_played": 1000}, {"ts": ' },
    ]);
    await assert.rejects(runImport(ctx, { paths: [bad], userId: 'carol' }), (e: unknown) => {
      assert.ok(e instanceof ImportFailedError);
      assert.match(e.message, /Streaming_History_Audio_2024_1\.json/);
      assert.match(e.message, /JSON/);
      return true;
    });
    assert.deepEqual(await snapshot(ctx.layout.warehouse), before);
    const staging = await fs.readdir(path.join(ctx.layout.home, 'staging')).catch(() => []);
    assert.deepEqual(staging, [], 'checkpoints of the failed import are discarded');
  });
});
