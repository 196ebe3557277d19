import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { MART_COLUMNS } from '../../warehouse/models.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { columnsOf, rows } from '../helpers/sql.ts';
import { GIVEN_PLAYS, defineModel, dimensionRows, setUpPlays } from './fixtures.ts';

const k = (a: string, b: string): string => `${a}\x1f${b}`;
const ROWS = dimensionRows('dim_tracks', 'track_key');

describe('dim_tracks', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('given plays -> one row per track, spelled as its latest stream, with the latest known album and URI', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    await defineModel(db, 'dim_tracks');
    const t = (artist: string, track: string, album: string | null, uri: string | null, first: string, last: string) => ({
      user_id: 'u1',
      track_key: k(artist.toLowerCase(), track.toLowerCase()),
      track_name: track,
      artist_name: artist,
      album_name: album,
      track_uri: uri,
      first_played_at: first,
      last_played_at: last,
    });
    assert.deepEqual(await rows(db, ROWS), [
      // 'ALPHA' / 'one ' (account export, the first stream) and 'Alpha' / 'One' are one track.
      t('Alpha', 'One', 'First', 'spotify:track:1', '2024-06-01T13:00:00Z', '2024-06-01T14:20:00Z'),
      t('Beta', 'Three', 'Second', 'spotify:track:3', '2024-06-01T15:05:00Z', '2024-06-01T15:05:00Z'),
      t('Beta', 'Two', 'Second', 'spotify:track:2', '2024-06-01T15:00:00Z', '2024-06-01T15:00:00Z'),
      t('Delta', 'Late', 'Moon', null, '2024-01-15T04:59:00Z', '2024-01-15T04:59:00Z'),
      t('Delta', 'Night', 'Moon', null, '2024-01-15T03:30:00Z', '2024-01-15T03:30:00Z'),
      t('Echo', 'Fall', 'E', null, '2024-11-03T05:30:00Z', '2024-11-03T06:30:00Z'),
      t('Echo', 'Spring', 'E', null, '2024-03-10T06:30:00Z', '2024-03-10T07:30:00Z'),
      // A stream of 0 ms is in no daily list, but its track has a name all the same.
      t('Gamma', 'Zero', 'Z', null, '2024-06-01T20:00:00Z', '2024-06-01T20:00:00Z'),
    ]);
    await assertChecksPass(db, 'dim_tracks');
  });

  test('the latest stream without album or URI keeps the ones known before', async () => {
    await setUpPlays(db, [
      { started_at: '2024-05-05T12:00:00Z', ms_played: 100_000, artist_name: 'Zed', track_name: 'Song', album_name: 'X', track_uri: 'spotify:track:9' },
      { started_at: '2024-05-06T12:00:00Z', ms_played: 100_000, artist_name: 'ZED ', track_name: 'song', album_name: null, source: 'account_export' },
    ]);
    await defineModel(db, 'dim_tracks');
    assert.deepEqual(
      await rows(db, `select track_key, track_name, artist_name, album_name, track_uri from dim_tracks`),
      [{ track_key: k('zed', 'song'), track_name: 'song', artist_name: 'ZED ', album_name: 'X', track_uri: 'spotify:track:9' }],
    );
    await assertChecksPass(db, 'dim_tracks');
  });

  test('has exactly the declared columns and types', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    await defineModel(db, 'dim_tracks');
    const declared = await columnsOf(db, `select ${MART_COLUMNS.dim_tracks.map(([n, t]) => `cast(null as ${t}) as "${n}"`).join(', ')}`);
    assert.deepEqual(await columnsOf(db, 'dim_tracks'), declared);
  });

  test('no plays, no rows', async () => {
    await setUpPlays(db, []);
    await defineModel(db, 'dim_tracks');
    assert.deepEqual(await rows(db, `select * from dim_tracks`), []);
  });
});
