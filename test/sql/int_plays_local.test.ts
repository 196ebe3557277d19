import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { setModelVariables } from '../../warehouse/models.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { rows } from '../helpers/sql.ts';
import { GIVEN_PLAYS, TZ, USER, setUpPlays } from './fixtures.ts';

const k = (a: string, b: string): string => `${a}\x1f${b}`;

const QUERY = `
  select source_row, strftime(local_started_at, '%Y-%m-%d %H:%M:%S') as local_started_at, local_date,
         local_hour, iso_weekday, is_listen, is_skip, track_key, album_key
  from int_plays_local
  order by source_row`;

describe('int_plays_local', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  test('given plays -> expected local columns (America/New_York)', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    const p = (
      source_row: number,
      local_started_at: string,
      local_hour: number,
      iso_weekday: number,
      is_listen: boolean,
      is_skip: boolean,
      track_key: string | null,
      album_key: string | null,
    ) => ({
      source_row,
      local_started_at,
      local_date: local_started_at.slice(0, 10),
      local_hour,
      iso_weekday,
      is_listen,
      is_skip,
      track_key,
      album_key,
    });
    assert.deepEqual(await rows(db, QUERY), [
      // Case and surrounding spaces do not matter to the keys; no album, no album_key.
      p(1, '2024-06-01 09:00:00', 9, 6, true, false, k('alpha', 'one'), null),
      p(2, '2024-06-01 10:00:00', 10, 6, true, false, k('alpha', 'one'), k('alpha', 'first')),
      p(3, '2024-06-01 10:10:00', 10, 6, true, false, k('alpha', 'one'), k('alpha', 'first')),
      p(4, '2024-06-01 10:20:00', 10, 6, false, true, k('alpha', 'one'), k('alpha', 'first')), // 29.999 s
      p(5, '2024-06-01 11:00:00', 11, 6, true, false, k('beta', 'two'), k('beta', 'second')), // 30 s
      p(6, '2024-06-01 11:05:00', 11, 6, true, false, k('beta', 'three'), k('beta', 'second')),
      p(7, '2024-06-01 13:00:00', 13, 6, false, false, null, null), // episode
      p(8, '2024-06-01 13:30:00', 13, 6, false, false, null, null),
      p(9, '2024-06-01 14:00:00', 14, 6, false, false, null, null),
      p(10, '2024-06-01 15:00:00', 15, 6, false, false, null, null), // audiobook
      p(11, '2024-06-01 15:30:00', 15, 6, false, false, null, null), // unknown
      p(12, '2024-06-01 16:00:00', 16, 6, false, true, k('gamma', 'zero'), k('gamma', 'z')), // 0 ms
      // 03:30 UTC on the 15th is still Sunday the 14th in New York.
      p(13, '2024-01-14 22:30:00', 22, 7, true, false, k('delta', 'night'), k('delta', 'moon')),
      // Runs past midnight; attributed to its start.
      p(14, '2024-01-14 23:59:00', 23, 7, true, false, k('delta', 'late'), k('delta', 'moon')),
      // Spring forward: 01:30 EST, then 03:30 EDT one real hour later.
      p(15, '2024-03-10 01:30:00', 1, 7, true, false, k('echo', 'spring'), k('echo', 'e')),
      p(16, '2024-03-10 03:30:00', 3, 7, true, false, k('echo', 'spring'), k('echo', 'e')),
      // Fall back: 01:30 EDT and 01:30 EST are both local hour 1.
      p(17, '2024-11-03 01:30:00', 1, 7, true, false, k('echo', 'fall'), k('echo', 'e')),
      p(18, '2024-11-03 01:30:00', 1, 7, true, false, k('echo', 'fall'), k('echo', 'e')),
    ]);
    await assertChecksPass(db, 'int_plays_local');
  });

  test('keeps every stored column of the play', async () => {
    await setUpPlays(db, GIVEN_PLAYS);
    const [first] = await rows(db, `select * from int_plays_local where source_row = 2`);
    const [source] = await rows(db, `select * from plays where source_row = 2`);
    assert.ok(first && source);
    for (const [column, value] of Object.entries(source)) assert.deepEqual(first[column], value, column);
  });

  test('in UTC the near-midnight play is on the 15th', async () => {
    await setUpPlays(db, GIVEN_PLAYS, { timezone: 'UTC' });
    assert.deepEqual(await rows(db, `select local_date, local_hour, iso_weekday from int_plays_local where source_row = 13`), [
      { local_date: '2024-01-15', local_hour: 3, iso_weekday: 1 },
    ]);
    await assertChecksPass(db, 'int_plays_local');
  });

  test('only the days in scope (local dates)', async () => {
    await setUpPlays(db, GIVEN_PLAYS, { days: ['2024-01-14'] });
    assert.deepEqual(await rows(db, `select source_row from int_plays_local order by 1`), [
      { source_row: 13 },
      { source_row: 14 },
    ]);
    await assertChecksPass(db, 'int_plays_local');

    // The UTC date of those plays is not a local date of any play.
    await setModelVariables(db, { userId: USER, timezone: TZ, days: ['2024-01-15'] });
    assert.deepEqual(await rows(db, `select source_row from int_plays_local`), []);

    await setModelVariables(db, { userId: USER, timezone: TZ, days: [] });
    assert.deepEqual(await rows(db, `select source_row from int_plays_local`), []);
  });

  test('only the user in scope', async () => {
    await setUpPlays(db, GIVEN_PLAYS, { userId: 'u2' });
    assert.deepEqual(await rows(db, `select source_row, user_id from int_plays_local`), [{ source_row: 19, user_id: 'u2' }]);
  });

  test('rejects an unknown time zone and a malformed day', async () => {
    await assert.rejects(setModelVariables(db, { userId: USER, timezone: 'Mars/Olympus' }), /unknown time zone/);
    await assert.rejects(setModelVariables(db, { userId: USER, timezone: TZ, days: ['2024-02-30'] }), /invalid local date/);
  });
});
