/**
 * API plays: the item mapping on real recorded recently-played responses, staging a batch, and
 * merging it with exported streams through the real warehouse code (stageApiPlays / stageFile ->
 * mergeStaged -> the marts), in both orders of arrival, with re-syncs of the same batch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../../warehouse/duckdb.ts';
import { Layout } from '../../warehouse/layout.ts';
import { mergeStaged, stageFile } from '../../warehouse/plays.ts';
import { type ApiPlay, BadApiItemError, apiPlayFromItem, stageApiPlays } from '../../warehouse/api-plays.ts';
import { buildModels, martSource, playsSource } from '../../warehouse/models.ts';
import { REAL_DATA } from '../helpers/real-data.ts';

const RESPONSES = {
  jack: 'api/jack-werner_spotify-history/recently_played.json',
  java: 'api/spotify-web-api-java/GetCurrentUsersRecentlyPlayedTracksRequest.json',
  zmb3: 'api/zmb3_spotify/player_recently_played.json',
  jmperez: 'api/JMPerez_spotify-web-api-js/recently_played_tracks.json',
} as const;

type Item = { played_at: string; track: Record<string, unknown> & { uri: string; duration_ms: number } };

function items(name: keyof typeof RESPONSES): Item[] {
  return (JSON.parse(readFileSync(path.join(REAL_DATA, RESPONSES[name]), 'utf8')) as { items: Item[] }).items;
}

let root: string;
let db: Db;
let n = 0;

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-api-plays-test-'));
  db = await Db.open({ threads: 2 });
});
after(async () => {
  db.close();
  await fs.rm(root, { recursive: true, force: true });
});

async function stageApi(plays: ApiPlay[], importId = `sync-${++n}`) {
  const outFile = path.join(root, 'staged', `api-${++n}.parquet`);
  const result = await stageApiPlays(db, { plays, importId, entry: 'recently-played', outFile });
  return { ...result, outFile };
}

/**
 * The Extended-history rows of the streams behind recently-played items: each item's played_at is
 * the end of its stream (ts cut to the second), which lasted the track or the time since the play
 * before it, whichever is shorter.
 */
function exportOf(list: readonly Item[]): Record<string, unknown>[] {
  const sorted = [...list].sort((a, b) => Date.parse(a.played_at) - Date.parse(b.played_at));
  return sorted.map((it, i) => {
    const end = Date.parse(it.played_at);
    const since = i === 0 ? Infinity : end - Date.parse(sorted[i - 1]!.played_at) - 500;
    const track = it.track as unknown as { name: string; artists: { name: string }[]; album?: { name: string } };
    return {
      ts: new Date(Math.floor(end / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
      platform: 'android', ms_played: Math.min(it.track.duration_ms, since), conn_country: 'DE',
      master_metadata_track_name: track.name, master_metadata_album_artist_name: track.artists[0]?.name ?? null,
      master_metadata_album_album_name: track.album?.name ?? null, spotify_track_uri: it.track.uri,
      reason_start: 'trackdone', reason_end: 'trackdone', shuffle: false, skipped: false, offline: false,
      offline_timestamp: 0, incognito_mode: false,
    };
  });
}

async function stageExport(rows: Record<string, unknown>[]) {
  const jsonPath = path.join(root, `Streaming_History_Audio_${++n}.json`);
  await fs.writeFile(jsonPath, JSON.stringify(rows));
  const outFile = path.join(root, 'staged', `export-${++n}.parquet`);
  const result = await stageFile(db, { jsonPath, format: 'extended', importId: `export-${n}`, entry: path.basename(jsonPath), outFile });
  return { ...result, outFile };
}

type Stored = { source: string; track_uri: string; ended_at: string; ms_played: number; api_played_at: string | null; album_uri: string | null; context_uri: string | null; artist_uris: string[] | null };

async function storedPlays(layout: Layout): Promise<Stored[]> {
  return db.all<Stored>(
    `SELECT source, track_uri, ended_at, ms_played, api_played_at, album_uri, context_uri, artist_uris
     FROM (${await playsSource(layout, 'u')}) ORDER BY ended_at, source`,
  );
}

const merge = (layout: Layout, file: string) => mergeStaged(db, layout, { userId: 'u', stagedFiles: [file], timezone: 'UTC' });

describe('apiPlayFromItem', () => {
  test('maps every item of the real recorded responses', () => {
    for (const name of Object.keys(RESPONSES) as (keyof typeof RESPONSES)[]) {
      for (const item of items(name)) {
        const play = apiPlayFromItem(item);
        assert.equal(play.playedAt, item.played_at);
        assert.equal(play.trackUri, item.track.uri);
        assert.equal(play.durationMs, item.track.duration_ms);
        assert.match(play.trackUri, /^spotify:track:/);
        assert.ok(play.artistName.length > 0 && play.artistUris.every((u) => u.startsWith('spotify:artist:')), name);
      }
    }
  });

  test('keeps every artist, the album, and the context as given', () => {
    const [solitary] = items('java').map(apiPlayFromItem);
    assert.deepEqual(solitary, {
      playedAt: '2023-09-22T15:43:33.750Z',
      trackUri: 'spotify:track:7vqcDtNvoJn5pXhktc8qe8',
      trackName: 'Solitary Daze',
      durationMs: 463405,
      artistName: 'Maceo Plex',
      artistUris: ['spotify:artist:3TXQ1ddouwQAI78hV4hXDj', 'spotify:artist:3YpEUCjdLuPmBspkmoPYnX'],
      albumName: 'Solitary Daze',
      albumUri: 'spotify:album:462nMAgJr4l14IqVngpOXM',
      contextUri: null,
      contextType: null,
    });
    const first = apiPlayFromItem(items('jack')[0]);
    assert.deepEqual([first.contextUri, first.contextType], ['spotify:artist:3g2kUQ6tHLLbmkV7T4GPtL', 'artist']);
    // 2017 responses: the legacy playlist URI form is kept as given.
    assert.ok(items('zmb3').map(apiPlayFromItem).some((p) => p.contextUri === 'spotify:user:dsoprea:playlist:23uR7PylGNatdoUwf04sax'));
    // Documentation examples with simplified tracks: no album.
    assert.ok(items('jmperez').map(apiPlayFromItem).every((p) => p.albumName === null && p.albumUri === null));
  });

  test('refuses what is not a track play, naming the field', () => {
    const good = items('jack')[0]!;
    const cases: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [{ ...good, track: undefined }, /item\.track is missing/],
      [{ ...good, played_at: 'yesterday' }, /item\.played_at "yesterday" is not an ISO 8601 time/],
      [{ ...good, track: { ...good.track, type: 'episode' } }, /item\.track\.type is "episode"/],
      [{ ...good, track: { ...good.track, uri: '' } }, /item\.track\.uri is missing/],
      [{ ...good, track: { ...good.track, duration_ms: -1 } }, /duration_ms is missing or not a non-negative number/],
    ];
    for (const [item, reason] of cases) {
      assert.throws(() => apiPlayFromItem(item), (e: unknown) => e instanceof BadApiItemError && reason.test(e.message));
    }
  });
});

describe('stageApiPlays', () => {
  test('writes a checkpoint in the stored play shape, source api, with the duration as ms_played', async () => {
    const plays = items('jack').map(apiPlayFromItem);
    const s = await stageApi(plays);
    assert.deepEqual([s.format, s.rowsRead, s.rowsStaged, s.rejected], ['api', 20, 20, []]);
    const [row] = await db.all<Record<string, unknown>>(
      `SELECT * FROM read_parquet('${s.outFile}') WHERE source_row = 1`,
    );
    assert.ok(row);
    assert.equal(row.source, 'api');
    assert.equal(row.time_precision, 'api');
    assert.equal(row.kind, 'track');
    assert.equal(row.ended_at, '2026-02-03T01:59:07.136Z');
    assert.equal(row.api_played_at, '2026-02-03T01:59:07.136Z');
    assert.equal(row.ms_played, 163720);
    assert.equal(row.started_at, new Date(Date.parse('2026-02-03T01:59:07.136Z') - 163720).toISOString());
    assert.deepEqual(row.artist_uris, ['spotify:artist:3g2kUQ6tHLLbmkV7T4GPtL']);
    assert.equal(row.album_uri, 'spotify:album:0fO1KemWL2uCCQmM22iKlj');
    assert.equal(row.reject_reason, null);
  });

  test('rows that cannot be stored are rejected with a reason and their position', async () => {
    const [good] = items('jack').map(apiPlayFromItem);
    assert.ok(good);
    const s = await stageApi([
      good,
      { ...good, playedAt: 'yesterday' },
      { ...good, durationMs: -5 },
      { ...good, trackUri: '' },
      { ...good, playedAt: '2001-01-01T00:00:00Z' },
    ]);
    assert.equal(s.rowsStaged, 1);
    assert.deepEqual(
      s.rejected.map((r) => [r.reason, r.rows, r.firstRow]).sort(),
      [
        ['durationMs is negative', 1, 3],
        ['playedAt is before Spotify existed', 1, 5],
        ['playedAt is missing or not an ISO 8601 time', 1, 2],
        ['trackUri is missing', 1, 4],
      ],
    );
  });
});

describe('real recently-played responses and the export of the same streams', () => {
  for (const name of ['jack', 'zmb3', 'java'] as const) {
    test(`${name}: each stream stored once in both orders; re-syncs add nothing; the export's ms_played wins`, async () => {
      const list = items(name);
      const plays = list.map(apiPlayFromItem);
      const exportRows = exportOf(list);
      const api = await stageApi(plays);
      const ext = await stageExport(exportRows);
      assert.equal(ext.rowsStaged, list.length);

      // The API first: stored as API rows, listens counted with the track duration.
      const apiFirst = new Layout(path.join(root, `${name}-api-first`));
      const m1 = await merge(apiFirst, api.outFile);
      assert.equal(m1.added, list.length);
      assert.equal((await merge(apiFirst, (await stageApi(plays)).outFile)).added, 0, 'the next poll, the same plays');
      await buildModels(db, apiFirst, { userId: 'u', timezone: 'UTC' });
      const before = await totals(apiFirst);
      assert.deepEqual(before, { listens: list.length, track_ms: plays.reduce((k, p) => k + p.durationMs, 0) });
      // Then the export: every API row is replaced by its exported stream, which gains its IDs.
      const m2 = await merge(apiFirst, ext.outFile);
      assert.deepEqual([m2.added, m2.superseded], [list.length, list.length]);
      const a = await storedPlays(apiFirst);
      assert.equal(a.length, list.length);
      for (const p of a) assert.equal(p.source, 'extended_export');
      await buildModels(db, apiFirst, { userId: 'u', timezone: 'UTC' });
      assert.deepEqual(await totals(apiFirst), {
        listens: exportRows.filter((r) => (r.ms_played as number) >= 30_000).length,
        track_ms: exportRows.reduce((k, r) => k + (r.ms_played as number), 0),
      });

      // The export first, then the API: the same rows are stored.
      const exportFirst = new Layout(path.join(root, `${name}-export-first`));
      await merge(exportFirst, ext.outFile);
      const m3 = await merge(exportFirst, api.outFile);
      assert.deepEqual([m3.added, m3.duplicates, m3.enriched], [0, list.length, list.length]);
      assert.deepEqual(await storedPlays(exportFirst), a);

      // Each exported stream holds its own API play, with its IDs and context.
      const byPlayedAt = new Map(plays.map((p) => [new Date(p.playedAt).toISOString(), p]));
      for (const p of a) {
        const play = byPlayedAt.get(p.api_played_at ?? '');
        assert.ok(play, `${p.track_uri} ${p.ended_at} holds no API play`);
        assert.equal(p.track_uri, play.trackUri);
        assert.equal(p.ended_at, new Date(Math.floor(Date.parse(play.playedAt) / 1000) * 1000).toISOString());
        assert.deepEqual([p.album_uri, p.context_uri, p.artist_uris], [play.albumUri, play.contextUri, play.artistUris]);
      }

      // Re-syncing the same batch, and re-importing the export, change nothing.
      for (const layout of [apiFirst, exportFirst]) {
        const again = await merge(layout, (await stageApi(plays)).outFile);
        assert.deepEqual([again.added, again.superseded, again.enriched, again.affectedDays], [0, 0, 0, []]);
        assert.equal((await merge(layout, ext.outFile)).added, 0);
        assert.deepEqual(await storedPlays(layout), a);
      }
    });
  }

  test('a play on either side of New Year is matched across the year partitions', async () => {
    const layout = new Layout(path.join(root, 'new-year'));
    const [item] = items('jack');
    assert.ok(item);
    const play = { ...apiPlayFromItem(item), playedAt: '2025-01-01T00:00:00.700Z' };
    const exportRow = { ...exportOf([item])[0], ts: '2024-12-31T23:59:59Z', ms_played: 160_000 };
    await merge(layout, (await stageExport([exportRow])).outFile);
    const m = await merge(layout, (await stageApi([play])).outFile);
    assert.deepEqual([m.added, m.enriched, m.years], [0, 1, [2024, 2025]]);
    const stored = await storedPlays(layout);
    assert.deepEqual(stored.map((p) => [p.source, p.api_played_at]), [['extended_export', '2025-01-01T00:00:00.700Z']]);
  });
});

async function totals(layout: Layout): Promise<{ listens: number; track_ms: number }> {
  const row = await db.one<{ listens: number; track_ms: number }>(
    `SELECT sum(listens)::BIGINT AS listens, sum(track_ms)::BIGINT AS track_ms FROM (${await martSource(layout, 'daily_rollups', 'u')})`,
  );
  return { listens: row?.listens ?? 0, track_ms: row?.track_ms ?? 0 };
}
