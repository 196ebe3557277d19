import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { MART_COLUMNS } from '../../warehouse/models.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { columnsOf, rows } from '../helpers/sql.ts';
import { GIVEN_PLAYS, defineModel, dimensionRows, setUpPlays } from './fixtures.ts';

const ROWS = dimensionRows('dim_artists', 'artist_key');

describe('dim_artists', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('given plays -> one row per artist of a track stream, spelled as its latest one', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    await defineModel(db, 'dim_artists');
    const a = (artist_name: string, first: string, last: string) => ({
      user_id: 'u1',
      artist_key: artist_name.toLowerCase(),
      artist_name,
      first_played_at: first,
      last_played_at: last,
    });
    // Episodes, the audiobook and the unknown row have no artist; u2's play is not u1's.
    assert.deepEqual(await rows(db, ROWS), [
      a('Alpha', '2024-06-01T13:00:00Z', '2024-06-01T14:20:00Z'),
      a('Beta', '2024-06-01T15:00:00Z', '2024-06-01T15:05:00Z'),
      a('Delta', '2024-01-15T03:30:00Z', '2024-01-15T04:59:00Z'),
      a('Echo', '2024-03-10T06:30:00Z', '2024-11-03T06:30:00Z'),
      a('Gamma', '2024-06-01T20:00:00Z', '2024-06-01T20:00:00Z'),
    ]);
    await assertChecksPass(db, 'dim_artists');
  });

  test('every play of the user, whatever the days in scope of daily_rollups', async () => {
    // The dimensions read int_plays_keyed, which knows no days: a build of one day still names the
    // artists of every day, while daily_rollups holds that day alone.
    await setUpPlays(db, GIVEN_PLAYS, { days: ['2024-06-01'] });
    await defineModel(db, 'dim_artists');
    assert.deepEqual(
      (await rows<{ local_date: string }>(db, `select local_date from daily_rollups`)).map((r) => r.local_date),
      ['2024-06-01'],
    );
    assert.deepEqual(
      (await rows<{ artist_name: string }>(db, `select artist_name from dim_artists order by artist_key`)).map((r) => r.artist_name),
      ['Alpha', 'Beta', 'Delta', 'Echo', 'Gamma'],
    );
  });

  test('has exactly the declared columns and types', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    await defineModel(db, 'dim_artists');
    const declared = await columnsOf(db, `select ${MART_COLUMNS.dim_artists.map(([n, t]) => `cast(null as ${t}) as "${n}"`).join(', ')}`);
    assert.deepEqual(await columnsOf(db, 'dim_artists'), declared);
  });
});
