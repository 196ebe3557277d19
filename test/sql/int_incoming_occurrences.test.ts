/**
 * int_incoming_occurrences (rules 1 and 2 of the matching rule) on given rows -> expected rows, and
 * the model's key checks (sql/tests/int_incoming_occurrences__*.sql).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { createModelView } from '../../warehouse/sql.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { type PlayInput, createPlaysTable } from '../helpers/plays.ts';
import { rows } from '../helpers/sql.ts';

const T = '2024-06-01T12:00:00Z';

/** A stream of `file`, row `row`, of `track` (URI from the name unless given). */
function play(file: string, row: number, track: string, extra: PlayInput = {}): PlayInput {
  return { source_file: file, source_row: row, ended_at: T, ms_played: 1000, track_name: track, track_uri: `spotify:track:${track}`, ...extra };
}

describe('int_incoming_occurrences', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  async function occurrences(given: PlayInput[]): Promise<string[]> {
    await createPlaysTable(db, given, { name: 'incoming_rows' });
    await db.run(`CREATE OR REPLACE TEMP VIEW incoming_plays AS SELECT *, rowid AS row_id FROM incoming_rows`);
    await createModelView(db, 'intermediate', 'int_incoming_occurrences');
    await assertChecksPass(db, 'int_incoming_occurrences');
    const got = await rows<{ source_file: string; source_row: number; occurrence: number }>(
      db,
      `select i.source_file, i.source_row, o.occurrence
       from int_incoming_occurrences as o join incoming_plays as i on i.row_id = o.row_id
       order by i.source_file, i.source_row`,
    );
    return got.map((r) => `${r.source_file}:${r.source_row} #${r.occurrence}`);
  }

  test('identical rows are one stream, the first of the export kept; streams sharing an identity are numbered by item', async () => {
    const got = await occurrences([
      // Listed in no particular order: the model orders by file and row itself.
      play('b.json', 1, 'Zed'),
      play('a.json', 2, 'Zed'), // the same stream as b.json:1, earlier in the export: kept
      play('a.json', 1, 'Alpha'),
      play('a.json', 3, 'Alpha', { ms_played: 2000 }), // another identity: alone
      play('a.json', 4, 'Mid'),
      play('a.json', 5, 'Mid'), // the same as a.json:4, later in the file: left out
      // No URI (Account data, old exports): ordered by name; another source is another identity.
      play('c.json', 1, 'Beta', { track_uri: null, source: 'account_export', time_precision: 'minute' }),
      play('c.json', 2, 'Able', { track_uri: null, source: 'account_export', time_precision: 'minute' }),
    ]);
    assert.deepEqual(got, [
      'a.json:1 #1',
      'a.json:2 #3',
      'a.json:3 #1',
      'a.json:4 #2',
      'c.json:1 #2',
      'c.json:2 #1',
    ]);
  });

  test('a history without shared identities: every row is occurrence 1', async () => {
    const given = Array.from({ length: 50 }, (_, i) => play('h.json', i + 1, `T${i}`, { ended_at: new Date(Date.parse(T) + i * 60_000).toISOString() }));
    const got = await occurrences(given);
    assert.deepEqual(got, given.map((g) => `h.json:${g.source_row} #1`));
  });
});
