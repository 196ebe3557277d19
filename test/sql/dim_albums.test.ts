import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { MART_COLUMNS } from '../../warehouse/models.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { columnsOf, rows } from '../helpers/sql.ts';
import { GIVEN_PLAYS, defineModel, dimensionRows, setUpPlays } from './fixtures.ts';

const k = (a: string, b: string): string => `${a}\x1f${b}`;
const ROWS = dimensionRows('dim_albums', 'album_key');

describe('dim_albums', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('given plays -> one row per album (track artist + album name), spelled as its latest stream', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    await defineModel(db, 'dim_albums');
    const a = (artist_name: string, album_name: string, first: string, last: string) => ({
      user_id: 'u1',
      album_key: k(artist_name.toLowerCase(), album_name.toLowerCase()),
      album_name,
      artist_name,
      first_played_at: first,
      last_played_at: last,
    });
    // The account-export stream of Alpha has no album: it is in no album.
    assert.deepEqual(await rows(db, ROWS), [
      a('Alpha', 'First', '2024-06-01T14:00:00Z', '2024-06-01T14:20:00Z'),
      a('Beta', 'Second', '2024-06-01T15:00:00Z', '2024-06-01T15:05:00Z'),
      a('Delta', 'Moon', '2024-01-15T03:30:00Z', '2024-01-15T04:59:00Z'),
      a('Echo', 'E', '2024-03-10T06:30:00Z', '2024-11-03T06:30:00Z'),
      a('Gamma', 'Z', '2024-06-01T20:00:00Z', '2024-06-01T20:00:00Z'),
    ]);
    await assertChecksPass(db, 'dim_albums');
  });

  test('has exactly the declared columns and types', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    await defineModel(db, 'dim_albums');
    const declared = await columnsOf(db, `select ${MART_COLUMNS.dim_albums.map(([n, t]) => `cast(null as ${t}) as "${n}"`).join(', ')}`);
    assert.deepEqual(await columnsOf(db, 'dim_albums'), declared);
  });
});
