/**
 * The SQL helpers of warehouse/sql.ts that replace ICU's calendar with epoch arithmetic must give
 * exactly what ICU gives, at the edges too: year ends, leap days, DST changes, before 1970.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { localTime, utcYear } from '../../warehouse/sql.ts';

let db: Db;
before(async () => {
  db = await Db.open({ threads: 1 });
  // A million instants, every 32 minutes 37.000123 s from 1969 to 2031, plus the edges.
  await db.run(
    `CREATE TABLE instants AS
     SELECT t FROM (
       SELECT make_timestamptz(epoch_us(timestamptz '1969-06-01 00:00:00+00') + i * 1957000123) AS t
       FROM range(0, 1000000) AS r(i)
       UNION ALL
       SELECT unnest([
         timestamptz '1969-12-31 23:59:59.999999+00', timestamptz '1970-01-01 00:00:00+00',
         timestamptz '2023-12-31 23:59:59.999999+00', timestamptz '2024-01-01 00:00:00+00',
         timestamptz '2024-02-29 12:00:00+00', timestamptz '2024-03-31 00:59:59.999999+00',
         timestamptz '2024-03-31 01:00:00+00', timestamptz '2024-10-27 00:59:59+00', timestamptz '2024-10-27 01:00:00+00'
       ])
     )`,
  );
});
after(() => db.close());

describe('SQL helpers without ICU', () => {
  test('utcYear is the UTC year of the instant', async () => {
    const r = await db.one<{ n: number; differ: number }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE ${utcYear('t')} IS DISTINCT FROM year(t)) AS differ FROM instants`,
    );
    assert.ok((r?.n ?? 0) > 1_000_000);
    assert.equal(r?.differ, 0);
  });

  test('localTime is timezone(zone, instant), for UTC and for a zone with DST', async () => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York']) {
      const r = await db.one<{ differ: number }>(
        `SELECT count(*) FILTER (WHERE ${localTime('t', '$1')} IS DISTINCT FROM timezone($1, t)) AS differ FROM instants`,
        [zone],
      );
      assert.equal(r?.differ, 0, zone);
    }
    const nulls = await db.one<{ v: unknown }>(`SELECT ${localTime('NULL::TIMESTAMPTZ', "'UTC'")} AS v`);
    assert.equal(nulls?.v, null);
  });
});
