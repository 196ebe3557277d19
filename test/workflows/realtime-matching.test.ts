/**
 * Realtime rows against the matching rule (sql/intermediate/int_plays_merged.sql): a skip or a local
 * file recorded live (source 'api', source_file 'currently-playing', ms_played estimated) and later
 * the same stream in an imported export must end up stored once, the exported row winning; a
 * realtime row must never take the exported stream of a recently-played play. Real DuckDB and
 * Parquet, the real staging path (stageApiPlays, stageFile, mergeStaged).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../../warehouse/duckdb.ts';
import { Layout } from '../../warehouse/layout.ts';
import { mergeStaged, stageFile } from '../../warehouse/plays.ts';
import { stageApiPlays, type ApiPlay } from '../../warehouse/api-plays.ts';
import { playsSource } from '../../warehouse/models.ts';
import { realtimeApiPlay, type FinishedPlay } from '../../activities/realtime.ts';

let root: string;
let db: Db;
let n = 0;

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-realtime-match-'));
  db = await Db.open();
});
after(async () => {
  db.close();
  await fs.rm(root, { recursive: true, force: true });
});

const T0 = Date.parse('2026-04-01T10:00:00Z');
const uri = (name: string) => `spotify:track:${name}`;

/** A play the realtime mode wrote: the truth (end, ms) with its estimation error. */
function realtime(name: string, trueEnd: number, trueMs: number, errorMs: number, local = false): ApiPlay {
  const f: FinishedPlay = {
    track: {
      uri: local ? `spotify:local:Artist:Album:${name}:200` : uri(name),
      name,
      artistName: 'Artist',
      artistUris: local ? [] : ['spotify:artist:a'],
      albumName: 'Album',
      albumUri: local ? null : 'spotify:album:b',
      durationMs: 200_000,
      isLocal: local,
      contextUri: null,
      contextType: null,
    },
    msPlayed: trueMs + errorMs,
    endedAt: trueEnd + errorMs,
    lowerMs: trueMs,
    upperMs: trueMs + 1000,
    errorMs: Math.abs(errorMs) + 500,
    method: 'next_track',
  };
  return realtimeApiPlay(f);
}

/** A recently-played item (played_at as given). */
function recent(name: string, playedAt: number): ApiPlay {
  return {
    playedAt: new Date(playedAt).toISOString(),
    trackUri: uri(name),
    trackName: name,
    durationMs: 200_000,
    artistName: 'Artist',
    artistUris: ['spotify:artist:a'],
    albumName: 'Album',
    albumUri: 'spotify:album:b',
    contextUri: null,
    contextType: null,
  };
}

/** An Extended Streaming History row (ts = end, second precision). */
function exported(name: string, end: number, ms: number, local = false) {
  return {
    ts: new Date(Math.round(end / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    platform: 'ios', ms_played: ms, conn_country: 'DE',
    master_metadata_track_name: name, master_metadata_album_artist_name: 'Artist', master_metadata_album_album_name: 'Album',
    spotify_track_uri: local ? null : uri(name),
    reason_start: 'clickrow', reason_end: ms < 30_000 ? 'fwdbtn' : 'trackdone',
    shuffle: false, skipped: ms < 30_000, offline: false, offline_timestamp: null, incognito_mode: false,
  };
}

async function mergeApi(layout: Layout, plays: ApiPlay[], entry: string) {
  const outFile = path.join(root, 'staged', `${++n}.parquet`);
  await stageApiPlays(db, { plays, importId: `api-${n}`, entry, outFile });
  return mergeStaged(db, layout, { userId: 'u', stagedFiles: [outFile], timezone: 'UTC' });
}

async function mergeExport(layout: Layout, rows: unknown[]) {
  const jsonPath = path.join(root, `Streaming_History_Audio_2026_${++n}.json`);
  writeFileSync(jsonPath, JSON.stringify(rows));
  const outFile = path.join(root, 'staged', `${n}.parquet`);
  await stageFile(db, { jsonPath, format: 'extended', importId: `export-${n}`, entry: path.basename(jsonPath), outFile });
  return mergeStaged(db, layout, { userId: 'u', stagedFiles: [outFile], timezone: 'UTC' });
}

async function stored(layout: Layout): Promise<{ source: string; track_name: string; ms_played: number; source_file: string }[]> {
  return db.all(`SELECT source, track_name, ms_played, source_file FROM (${await playsSource(layout, 'u')}) ORDER BY ended_at, track_name`);
}

test('skips and a local file recorded live, then the export: each stream stored once, the exported row wins', async () => {
  const layout = new Layout(path.join(root, 'a'));
  // Live: skip A (7 s, estimated 0.4 s long), local L (12 s), skip C (5 s, estimated 0.6 s short); B comes from recently-played.
  await mergeApi(layout, [realtime('A', T0 + 7_000, 7_000, 400), realtime('L', T0 + 19_000, 12_000, 300, true)], 'currently-playing');
  await mergeApi(layout, [recent('B', T0 + 50_000)], 'recently-played');
  const again = await mergeApi(layout, [realtime('C', T0 + 55_000, 5_000, -600)], 'currently-playing');
  assert.equal(again.added, 1);
  // A retry writes the same rows again: nothing new.
  assert.equal((await mergeApi(layout, [realtime('C', T0 + 55_000, 5_000, -600)], 'currently-playing')).added, 0);
  assert.equal((await stored(layout)).length, 4);

  await mergeExport(layout, [
    exported('A', T0 + 7_000, 7_000),
    exported('L', T0 + 19_000, 12_000, true),
    exported('B', T0 + 50_000, 31_000),
    exported('C', T0 + 55_000, 5_000),
  ]);
  const rows = await stored(layout);
  assert.deepEqual(
    rows.map((r) => [r.source, r.track_name, r.ms_played]),
    [
      ['extended_export', 'A', 7_000],
      ['extended_export', 'L', 12_000],
      ['extended_export', 'B', 31_000],
      ['extended_export', 'C', 5_000],
    ],
  );
});

/**
 * A realtime row is a play of known length: its own stream is the short one. Rule 5 pairs a listen
 * with a listen and a skip with a skip first, so the skip's row takes the skip's stream (not the
 * full replay that starts where the skip ended) and the recently-played row of the replay, 20 s
 * off, takes the replay: each stream stored once.
 */
test('a skip recorded live, then the same track replayed in full: the realtime row does not take the full stream', async () => {
  const layout = new Layout(path.join(root, 'b'));
  // A skipped after 7 s, then A again from the start, heard 200 s; recently-played lists the second
  // play with a played_at 20 s after its end (the drift the rule allows, tier "within the window").
  await mergeApi(layout, [realtime('A', T0 + 7_000, 7_000, 800)], 'currently-playing');
  await mergeApi(layout, [recent('A', T0 + 207_000 + 20_000)], 'recently-played');
  await mergeExport(layout, [exported('A', T0 + 7_000, 7_000), exported('A', T0 + 207_000, 200_000)]);
  const rows = await stored(layout);
  assert.deepEqual(
    rows.map((r) => [r.source, r.ms_played]),
    [
      ['extended_export', 7_000],
      ['extended_export', 200_000],
    ],
    `stored: ${JSON.stringify(rows)}`,
  );
});
