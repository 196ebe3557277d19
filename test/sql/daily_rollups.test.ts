import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { MART_COLUMNS } from '../../warehouse/models.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { columnsOf, rows } from '../helpers/sql.ts';
import { GIVEN_PLAYS, hourly, setUpPlays } from './fixtures.ts';

const k = (a: string, b: string): string => `${a}\x1f${b}`;

// The lists hold keys (names live in dim_artists, dim_tracks, dim_albums).
const artist = (artist_name: string, plays: number, ms: number) => ({ artist_key: artist_name.toLowerCase(), plays, ms });
const track = (artist_name: string, track_name: string, plays: number, ms: number) => ({
  track_key: k(artist_name.toLowerCase(), track_name.toLowerCase()),
  plays,
  ms,
});
const album = (artist_name: string, album_name: string, plays: number, ms: number) => ({
  album_key: k(artist_name.toLowerCase(), album_name.toLowerCase()),
  plays,
  ms,
});

const EXPECTED = [
  {
    user_id: 'u1',
    local_date: '2024-01-14', // the near-midnight plays (UTC date: the 15th)
    streams: 2,
    listens: 2,
    skips: 0,
    track_ms: 540_000,
    episode_ms: 0,
    audiobook_ms: 0,
    hourly: hourly({ 22: [1, 240_000], 23: [1, 300_000] }),
    artists: [artist('Delta', 2, 540_000)],
    tracks: [track('Delta', 'Late', 1, 300_000), track('Delta', 'Night', 1, 240_000)],
    albums: [album('Delta', 'Moon', 2, 540_000)],
    shows: [],
  },
  {
    user_id: 'u1',
    local_date: '2024-03-10', // spring forward: no hour 2
    streams: 2,
    listens: 2,
    skips: 0,
    track_ms: 120_000,
    episode_ms: 0,
    audiobook_ms: 0,
    hourly: hourly({ 1: [1, 60_000], 3: [1, 60_000] }),
    artists: [artist('Echo', 2, 120_000)],
    tracks: [track('Echo', 'Spring', 2, 120_000)],
    albums: [album('Echo', 'E', 2, 120_000)],
    shows: [],
  },
  {
    user_id: 'u1',
    local_date: '2024-06-01',
    streams: 12, // tracks, episodes, the audiobook and the unknown row
    listens: 5,
    skips: 2, // 29.999 s and 0 ms
    track_ms: 889_999,
    episode_ms: 1_501_000,
    audiobook_ms: 120_000,
    hourly: hourly({ 9: [1, 180_000], 10: [2, 429_999], 11: [2, 280_000] }),
    // 'ALPHA' / 'one ' (account export) and 'Alpha' / 'One' are one artist and one track. Gamma (0 ms,
    // 0 plays) is left out.
    artists: [artist('Alpha', 3, 609_999), artist('Beta', 2, 280_000)],
    tracks: [
      track('Alpha', 'One', 3, 609_999),
      track('Beta', 'Three', 1, 250_000),
      track('Beta', 'Two', 1, 30_000),
    ],
    // The account-export stream has no album; equal plays, so more ms first.
    albums: [album('Alpha', 'First', 2, 429_999), album('Beta', 'Second', 2, 280_000)],
    shows: [
      { show_name: 'Pod', streams: 2, ms: 601_000 },
      { show_name: 'Cast', streams: 1, ms: 900_000 },
    ],
  },
  {
    user_id: 'u1',
    local_date: '2024-11-03', // fall back: both 01:30s in hour 1
    streams: 2,
    listens: 2,
    skips: 0,
    track_ms: 120_000,
    episode_ms: 0,
    audiobook_ms: 0,
    hourly: hourly({ 1: [2, 120_000] }),
    artists: [artist('Echo', 2, 120_000)],
    tracks: [track('Echo', 'Fall', 2, 120_000)],
    albums: [album('Echo', 'E', 2, 120_000)],
    shows: [],
  },
];

describe('daily_rollups', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('given plays -> expected rows', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    assert.deepEqual(await rows(db, `select * from daily_rollups order by local_date`), EXPECTED);
    await assertChecksPass(db, 'daily_rollups');
  });

  test('has exactly the declared columns and types', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    const declared = await columnsOf(
      db,
      `select ${MART_COLUMNS.daily_rollups.map(([n, t]) => `cast(null as ${t}) as "${n}"`).join(', ')}`,
    );
    assert.deepEqual(await columnsOf(db, 'daily_rollups'), declared);
  });

  test('only the days in scope', async () => {
    await setUpPlays(db, GIVEN_PLAYS, { days: ['2024-06-01', '2024-01-15'] });
    assert.deepEqual(await rows(db, `select * from daily_rollups order by local_date`), [EXPECTED[2]]);
    await assertChecksPass(db, 'daily_rollups');
  });

  test('no plays, no rows', async () => {
    await setUpPlays(db, []);
    assert.deepEqual(await rows(db, `select * from daily_rollups`), []);
  });

  test('ties sort by key; a track without a name counts for its artist only', async () => {
    await setUpPlays(db, [
      { started_at: '2024-05-05T12:00:00Z', ms_played: 100_000, artist_name: 'Zed', track_name: 'b', album_name: 'Y' },
      { started_at: '2024-05-05T12:10:00Z', ms_played: 100_000, artist_name: 'Zed', track_name: 'a', album_name: 'X' },
      { started_at: '2024-05-05T12:20:00Z', ms_played: 100_000, artist_name: 'Ann', track_name: 'c', album_name: 'X' },
      { started_at: '2024-05-05T12:30:00Z', ms_played: 100_000, artist_name: 'Ann', track_name: null, album_name: null },
    ]);
    const [day] = await rows<{ artists: unknown; tracks: { track_key: string }[]; albums: { album_key: string }[] }>(
      db,
      `select artists, tracks, albums from daily_rollups`,
    );
    assert.deepEqual(day?.artists, [artist('Ann', 2, 200_000), artist('Zed', 2, 200_000)]);
    assert.deepEqual(
      day?.tracks.map((t) => t.track_key),
      [k('ann', 'c'), k('zed', 'a'), k('zed', 'b')],
    );
    assert.deepEqual(
      day?.albums.map((a) => a.album_key),
      [k('ann', 'x'), k('zed', 'x'), k('zed', 'y')],
    );
    await assertChecksPass(db, 'daily_rollups');
  });
});
