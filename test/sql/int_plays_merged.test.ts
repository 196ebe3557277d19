/**
 * int_plays_merged (the matching rule) on given rows -> expected rows: API plays against exported
 * streams in both orders of arrival (with the hard cases: repeats, offline batches, pauses, runs of
 * one track whose played_at lean one way), a re-sync of the same API batch, API plays against each other,
 * and the model's key checks (sql/tests/int_plays_merged__*.sql).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { createModelView } from '../../warehouse/sql.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { type PlayInput, createPlaysTable } from '../helpers/plays.ts';
import { rows } from '../helpers/sql.ts';

const DAY = '2024-03-01';
const t = (hms: string): string => new Date(`${DAY}T${hms.length === 5 ? `${hms}:00` : hms}Z`).toISOString();
const uri = (track: string): string => `spotify:track:${track}`;

/** An Extended-history stream that ended at `end` (second precision). */
function ext(track: string, end: string, ms: number, extra: PlayInput = {}): PlayInput {
  return { track_name: track, artist_name: 'Artist', album_name: 'Album', track_uri: uri(track), ended_at: t(end), ms_played: ms, ...extra };
}

/** An Account-data stream: endTime cut to the minute, no URI, no album. */
function acc(track: string, end: string, ms: number): PlayInput {
  return {
    track_name: track, artist_name: 'Artist', album_name: null, track_uri: null, ended_at: t(end), ms_played: ms,
    source: 'account_export', time_precision: 'minute', platform: null, conn_country: null, reason_start: null,
    reason_end: null, shuffle: null, skipped: null, offline: null, incognito: null,
  };
}

/** An API play as int_api_plays stores it: played_at as ended_at, the duration as ms_played. */
function api(track: string, playedAt: string, durationMs = 180_000, extra: PlayInput = {}): PlayInput {
  return {
    track_name: track, artist_name: 'Artist', album_name: 'Album', track_uri: uri(track), ended_at: t(playedAt),
    ms_played: durationMs, source: 'api', time_precision: 'api', api_played_at: t(playedAt),
    album_uri: 'spotify:album:A1', artist_uris: ['spotify:artist:R1'], context_uri: 'spotify:playlist:P1', context_type: 'playlist',
    platform: null, conn_country: null, reason_start: null, reason_end: null, shuffle: null, skipped: null,
    offline: null, incognito: null, import_id: 'sync-1', source_file: 'recently-played', ...extra,
  };
}

// The exported streams of one morning, and what the API said about them.
const EXPORTED: PlayInput[] = [
  ext('Alpha', '10:03:20', 200_000),
  ext('Beta', '10:07:00', 220_000),
  // The same track twice in a row, then another one twice in a row.
  ext('Gamma', '10:10:00', 180_000),
  ext('Gamma', '10:13:00', 180_000),
  ext('Delta', '10:16:00', 180_000),
  ext('Delta', '10:19:00', 180_000),
  // A 5 s skip of a track, then the track again, in full.
  ext('Eps', '10:19:05', 5_000),
  ext('Eps', '10:22:25', 200_000),
  // An offline batch: both streams carry the ts of the sync; offline_timestamp says when.
  ext('Zeta', '11:00:00', 100_000, { offline: true, offline_at: t('10:40:00') }),
  ext('Eta', '11:00:00', 150_000, { offline: true, offline_at: t('10:41:40') }),
  // A stream the API never listed, then one started at 11:52:30 and paused for 3.5 minutes.
  ext('Iota', '11:50:00', 200_000),
  ext('Theta', '12:00:00', 240_000),
  // Account data (minute precision, no URI).
  acc('Kappa', '13:00', 180_000),
  // A track twice in a row, listed by the API at the end of the first and the start of the second.
  ext('Rho', '16:03:00', 180_000),
  ext('Rho', '16:06:01', 180_000),
  // A track started at 17:01:10 and paused for 17 minutes, then played again in full.
  ext('Tau', '17:00:00', 200_000),
  ext('Sigma', '17:20:00', 70_000),
  ext('Sigma', '17:23:00', 180_000),
  // A 10 s skip, then the same track in full: the realtime mode recorded the skip.
  ext('Upsilon', '18:00:10', 10_000),
  ext('Upsilon', '18:03:30', 200_000),
  // An offline batch of one track three times, listed by the API at the sync: the poll missed the first.
  ext('Phi', '20:00:00', 100_000, { offline: true, offline_at: t('19:40:00') }),
  ext('Phi', '20:00:00', 101_000, { offline: true, offline_at: t('19:41:41') }),
  ext('Phi', '20:00:00', 102_000, { offline: true, offline_at: t('19:43:23') }),
  // One track four times in a row, every played_at 1.1 s after the end: nearer (by whole seconds)
  // to the start of the next stream than to the end of its own.
  ext('Chi', '21:03:20', 200_500),
  ext('Chi', '21:06:42', 200_500),
  ext('Chi', '21:10:04', 200_500),
  ext('Chi', '21:13:26', 200_500),
  // A track twice in a row, both listed 1.1-1.5 s after the first one's end: both nearer (by whole
  // seconds) to the start of the second stream; the earlier is the end of the first.
  ext('Psi', '22:01:14', 74_000),
  ext('Psi', '22:02:29', 74_066),
];

const API: PlayInput[] = [
  api('Alpha', '10:03:21.456', 200_500), // the end, 1.5 s late
  api('Beta', '10:03:20.900', 221_000), // the start
  api('Gamma', '10:10:00.350'), // the end of the first Gamma, and the start of the second
  api('Gamma', '10:13:00.200'), // the end of the second
  api('Delta', '10:13:00.500'), // the start of the first Delta
  api('Delta', '10:16:00.400'), // the start of the second, and the end of the first
  api('Eps', '10:19:05.300', 200_000), // the start of the full stream, and the end of the skip
  api('Zeta', '11:00:00.000', 100_000), // two tracks sharing one played_at
  api('Eta', '11:00:00.000', 150_000),
  api('Theta', '11:52:30', 240_000), // no milliseconds; the start, before a pause
  api('Kappa', '13:00:41.200'),
  api('Lambda', '14:00:00.000'), // not in the export
  api('Rho', '16:03:00.300'), // the end of the first Rho
  api('Rho', '16:03:00.900'), // the start of the second, 600 ms later
  api('Sigma', '17:01:10.000'), // the start of the first, before its pause
  api('Sigma', '17:20:00.400'), // the start of the second: also the end of the first
  api('Upsilon', '18:00:10.500', 10_000, { source_file: 'currently-playing' }), // the skip, seen by the realtime mode
  api('Upsilon', '18:03:30.400', 200_000), // the full play
  api('Phi', '20:00:00.020', 100_000), // the second and third of the batch, a few ms apart in the order played
  api('Phi', '20:00:00.045', 100_000),
  api('Chi', '21:03:22.050', 200_000),
  api('Chi', '21:06:44.050', 200_000),
  api('Chi', '21:10:06.050', 200_000),
  api('Chi', '21:13:28.050', 200_000),
  api('Psi', '22:01:16.125', 74_000),
  api('Psi', '22:01:16.493', 74_000),
];

/** Which API play each exported stream is (track, end -> api played_at); the rest have none. */
const EXPECTED_PAIRS: Record<string, string> = {
  [`Alpha ${t('10:03:20')}`]: t('10:03:21.456'),
  [`Beta ${t('10:07:00')}`]: t('10:03:20.900'),
  [`Gamma ${t('10:10:00')}`]: t('10:10:00.350'),
  [`Gamma ${t('10:13:00')}`]: t('10:13:00.200'),
  [`Delta ${t('10:16:00')}`]: t('10:13:00.500'),
  [`Delta ${t('10:19:00')}`]: t('10:16:00.400'),
  [`Eps ${t('10:22:25')}`]: t('10:19:05.300'),
  [`Zeta ${t('11:00:00')}`]: t('11:00:00.000'),
  [`Eta ${t('11:00:00')}`]: t('11:00:00.000'),
  [`Theta ${t('12:00:00')}`]: t('11:52:30.000'),
  [`Kappa ${t('13:00:00')}`]: t('13:00:41.200'),
  [`Rho ${t('16:03:00')}`]: t('16:03:00.300'),
  [`Rho ${t('16:06:01')}`]: t('16:03:00.900'),
  [`Sigma ${t('17:20:00')}`]: t('17:01:10.000'),
  [`Sigma ${t('17:23:00')}`]: t('17:20:00.400'),
  [`Upsilon ${t('18:00:10')}`]: t('18:00:10.500'),
  [`Upsilon ${t('18:03:30')}`]: t('18:03:30.400'),
  [`Phi ${t('20:00:00')} 101000`]: t('20:00:00.020'),
  [`Phi ${t('20:00:00')} 102000`]: t('20:00:00.045'),
  [`Chi ${t('21:03:20')}`]: t('21:03:22.050'),
  [`Chi ${t('21:06:42')}`]: t('21:06:44.050'),
  [`Chi ${t('21:10:04')}`]: t('21:10:06.050'),
  [`Chi ${t('21:13:26')}`]: t('21:13:28.050'),
  [`Psi ${t('22:01:14')}`]: t('22:01:16.125'),
  [`Psi ${t('22:02:29')}`]: t('22:01:16.493'),
};

type Row = {
  status: string;
  source: string;
  track_name: string;
  ended_at: string;
  ms_played: number;
  track_uri: string | null;
  album_uri: string | null;
  artist_uris: string[] | null;
  context_uri: string | null;
  api_played_at: string | null;
};

const QUERY = `
  select status, source, track_name, ended_at, ms_played, track_uri, album_uri, artist_uris, context_uri, api_played_at
  from int_plays_merged
  order by ended_at, source, track_name, ms_played, status`;

let db: Db;

/** Merge `incoming` into `existing` with the model; returns every row with its status. */
async function merge(existing: readonly PlayInput[], incoming: readonly PlayInput[]): Promise<Row[]> {
  await createPlaysTable(db, existing, { name: 'existing_plays' });
  await createPlaysTable(db, incoming, { name: 'incoming_rows' });
  await db.run(`CREATE OR REPLACE TEMP VIEW incoming_plays AS SELECT *, rowid AS row_id FROM incoming_rows`);
  await createModelView(db, 'intermediate', 'int_incoming_occurrences');
  await createModelView(db, 'intermediate', 'int_plays_merged');
  await assertChecksPass(db, 'int_plays_merged');
  return rows<Row>(db, QUERY);
}

/** The rows stored by the last merge (every column), as the input of the next one. */
async function stored(): Promise<PlayInput[]> {
  return rows<PlayInput>(
    db,
    `select * exclude (status, year) from int_plays_merged where status in ('kept', 'added', 'enriched')`,
  );
}

const key = (r: Row): string => `${r.source} ${r.track_name} ${r.ended_at} ${r.ms_played} ${r.track_uri} ${r.album_uri} ${r.context_uri} ${r.api_played_at}`;

/** The stored rows, each as one comparable line. */
const storedKeys = (result: readonly Row[]): string[] =>
  result.filter((r) => ['kept', 'added', 'enriched'].includes(r.status)).map(key).sort();

function assertPairs(result: readonly Row[]): void {
  const exported = result.filter((r) => r.source !== 'api' && r.status !== 'superseded' && r.status !== 'duplicate');
  assert.equal(exported.length, EXPORTED.length);
  for (const r of exported) {
    const expected = EXPECTED_PAIRS[`${r.track_name} ${r.ended_at} ${r.ms_played}`] ?? EXPECTED_PAIRS[`${r.track_name} ${r.ended_at}`];
    assert.equal(r.api_played_at, expected ?? null, `${r.track_name} ${r.ended_at} ${r.ms_played}`);
    if (r.api_played_at !== null) {
      assert.equal(r.album_uri, 'spotify:album:A1');
      assert.deepEqual(r.artist_uris, ['spotify:artist:R1']);
      assert.equal(r.context_uri, 'spotify:playlist:P1');
      assert.equal(r.track_uri, uri(r.track_name), 'the Account row gains the URI, the Extended row keeps its own');
    }
  }
  // The one API play not in the export stays, as an API row.
  const api = result.filter((r) => r.source === 'api' && ['kept', 'added'].includes(r.status));
  assert.deepEqual(api.map((r) => r.track_name), ['Lambda']);
}

describe('int_plays_merged: API plays and exported streams', () => {
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('the export first, then the API: exported rows gain the API columns, API rows are duplicates', async () => {
    const result = await merge(EXPORTED, API);
    assertPairs(result);
    const status = (source: string) => [...new Set(result.filter((r) => r.source === source).map((r) => r.status))].sort();
    assert.deepEqual(status('api'), ['added', 'duplicate']);
    assert.deepEqual(status('account_export'), ['enriched']);
    assert.deepEqual(status('extended_export'), ['enriched', 'kept']);
    // The exported rows keep their true ms_played and times.
    const alpha = result.find((r) => r.track_name === 'Alpha' && r.source === 'extended_export');
    assert.deepEqual([alpha?.ms_played, alpha?.ended_at], [200_000, t('10:03:20')]);
  });

  test('the API first, then the export: API rows are superseded by exported rows carrying their columns', async () => {
    const first = await merge([], API);
    assert.ok(first.every((r) => r.status === 'added'));
    const result = await merge(await stored(), EXPORTED);
    assertPairs(result);
    assert.equal(result.filter((r) => r.source === 'api' && r.status === 'superseded').length, API.length - 1);
    // Both orders store the same rows.
    assert.deepEqual(storedKeys(result), storedKeys(await merge(EXPORTED, API)));
  });

  test('a re-sync of the same API batch after the match adds and changes nothing', async () => {
    await merge(EXPORTED, API);
    const again = await merge(await stored(), API);
    // Every incoming API row is a duplicate; the stored API row (Lambda) stays.
    assert.deepEqual(
      again.filter((r) => r.source === 'api').map((r) => r.status).sort(),
      [...API.map(() => 'duplicate'), 'kept'],
    );
    assert.ok(again.filter((r) => r.source !== 'api').every((r) => r.status === 'kept'));
    // And the export again, after both: nothing either.
    const reimport = await merge(await stored(), EXPORTED);
    assert.ok(reimport.every((r) => r.status === 'kept'), JSON.stringify(reimport.filter((r) => r.status !== 'kept')));
  });

  test('an Account row matched to an API play hands the API columns to the Extended row that replaces it', async () => {
    await merge([acc('Kappa', '13:00', 180_000)], [api('Kappa', '13:00:41.200')]);
    const accountFirst = await stored();
    assert.equal(accountFirst.length, 1);
    const result = await merge(accountFirst, [ext('Kappa', '13:00:40', 180_000)]);
    assert.deepEqual(
      result.map((r) => [r.source, r.status, r.track_uri, r.api_played_at]),
      [
        ['account_export', 'superseded', uri('Kappa'), t('13:00:41.200')],
        ['extended_export', 'added', uri('Kappa'), t('13:00:41.200')],
      ],
    );
  });
});

describe('int_plays_merged: API plays against each other', () => {
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('the same play from consecutive polls; a track twice in a row; two tracks at one time', async () => {
    const existing = [api('Mu', '15:00:00.456'), api('Nu', '15:10:00', 180_000, { source_row: 2 })];
    const incoming = [
      api('Mu', '15:00:00.456', 180_000, { import_id: 'sync-2' }), // the next poll, the same item
      api('Nu', '15:10:00.000', 180_000, { import_id: 'sync-2' }), // the same, printed without milliseconds before
      // One track listed twice 500 ms apart: the end of one play and the start of the next.
      api('Xi', '15:20:00.100', 180_000, { source_row: 3 }),
      api('Xi', '15:20:00.600', 180_000, { source_row: 4 }),
      api('Omicron', '15:30:00.000', 180_000, { source_row: 5 }), // two tracks sharing one played_at
      api('Pi', '15:30:00.000', 180_000, { source_row: 6 }),
      api('Mu', '15:03:00.456', 180_000, { source_row: 7 }), // Mu again, 3 minutes later: a second play
    ];
    const result = await merge(existing, incoming);
    assert.deepEqual(
      result.map((r) => [r.track_name, r.api_played_at, r.status]),
      [
        ['Mu', t('15:00:00.456'), 'duplicate'],
        ['Mu', t('15:00:00.456'), 'kept'],
        ['Mu', t('15:03:00.456'), 'added'],
        ['Nu', t('15:10:00.000'), 'duplicate'],
        ['Nu', t('15:10:00.000'), 'kept'],
        ['Xi', t('15:20:00.100'), 'added'],
        ['Xi', t('15:20:00.600'), 'added'],
        ['Omicron', t('15:30:00.000'), 'added'],
        ['Pi', t('15:30:00.000'), 'added'],
      ],
    );
  });

  test('exported streams without API rows go through unchanged', async () => {
    const result = await merge(EXPORTED.slice(0, 3), EXPORTED.slice(3));
    assert.ok(result.every((r) => r.api_played_at === null && r.album_uri === null));
    assert.deepEqual(
      result.map((r) => `${r.track_name} ${r.status}`).sort(),
      EXPORTED.map((r, i) => `${r.track_name} ${i < 3 ? 'kept' : 'added'}`).sort(),
    );
  });
});
