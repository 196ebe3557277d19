import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { rows } from '../helpers/sql.ts';
import { GIVEN_PLAYS, setUpPlays } from './fixtures.ts';

const k = (a: string, b: string): string => `${a}\x1f${b}`;

describe('int_plays_keyed', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('given plays -> the user\'s plays with their keys, whatever the days in scope', async () => {
    // Days in scope concern int_plays_local, not this model: every play of u1 is here.
    await setUpPlays(db, GIVEN_PLAYS, { days: ['2024-06-01'] });
    const got = await rows<{ source_row: number; artist_key: string | null; track_key: string | null; album_key: string | null }>(
      db,
      `select source_row, artist_key, track_key, album_key from int_plays_keyed order by source_row`,
    );
    // u2's play (19) is not in it.
    assert.deepEqual(
      got.map((r) => r.source_row),
      Array.from({ length: 18 }, (_, i) => i + 1),
    );
    const byRow = new Map(got.map((r) => [r.source_row, r]));
    // 'ALPHA' / 'one ' from an account export, without album: the same keys as 'Alpha' / 'One'.
    assert.deepEqual(byRow.get(1), { source_row: 1, artist_key: 'alpha', track_key: k('alpha', 'one'), album_key: null });
    assert.deepEqual(byRow.get(2), { source_row: 2, artist_key: 'alpha', track_key: k('alpha', 'one'), album_key: k('alpha', 'first') });
    // An episode has no artist: no keys.
    assert.deepEqual(byRow.get(7), { source_row: 7, artist_key: null, track_key: null, album_key: null });
    await assertChecksPass(db, 'int_plays_keyed');
  });
});
