/**
 * The cells of `rewind status`'s table (cli/status.ts). The command itself runs end to end in
 * test/cli/sync.test.ts and test/cli/start.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLastImport, formatModelState } from '../../cli/status.ts';

const ana = { id: 'ana', timezone: 'Europe/Paris' };

describe('rewind status cells', () => {
  test('last import: the minute it was committed (UTC) and the plays it added', () => {
    assert.equal(formatLastImport({ committedAt: '2026-12-06T09:18:48.922Z', playsAdded: 33489 }), '2026-12-06 09:18 UTC\n+33,489 plays');
    assert.equal(formatLastImport(null), '-');
  });

  test('models built: one line when both marts were built in the same minute, each otherwise', () => {
    const same = { daily_rollups: '2026-12-06T09:18:48.976Z', period_snapshots: '2026-12-06T09:18:49.120Z', timezone: 'Europe/Paris' };
    assert.equal(formatModelState(same, ana), '2026-12-06 09:18 UTC');
    const apart = { daily_rollups: '2026-12-06T09:18:48.976Z', period_snapshots: '2026-12-07T00:00:03.000Z', timezone: 'Europe/Paris' };
    assert.equal(formatModelState(apart, ana), 'daily rollups 2026-12-06 09:18 UTC\nperiod snapshots 2026-12-07 00:00 UTC');
    assert.equal(formatModelState({ daily_rollups: '2026-12-06T09:18:48.976Z' }, ana), 'daily rollups 2026-12-06 09:18 UTC\nperiod snapshots never');
  });

  test('models built: never built, or built for another time zone than the user has now', () => {
    assert.equal(formatModelState(null, ana), 'never');
    assert.equal(formatModelState({}, ana), 'never');
    const utc = { daily_rollups: '2026-12-06T09:18:48.976Z', period_snapshots: '2026-12-06T09:18:49.120Z', timezone: 'UTC' };
    assert.equal(formatModelState(utc, ana), '2026-12-06 09:18 UTC\nbuilt for UTC: run rewind build --user ana');
  });
});
