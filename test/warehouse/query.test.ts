/**
 * queryWarehouse: the views `rewind sql` has, over real Parquet files, including the name
 * dimensions that the daily lists' keys join to (the example of the README and daily_rollups.sql).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Layout, MARTS } from '../../warehouse/layout.ts';
import { rebuildUserModels } from '../../warehouse/models.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { writePlays } from '../helpers/plays.ts';

describe('queryWarehouse', () => {
  let home: string;
  let layout: Layout;

  before(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'rewind-query-test-'));
    layout = new Layout(home);
    await writePlays(layout, 'ann', [
      { started_at: '2024-06-01T10:00:00Z', ms_played: 200_000, artist_name: 'Alpha', track_name: 'One', album_name: 'First' },
      { started_at: '2024-06-01T11:00:00Z', ms_played: 200_000, artist_name: 'Alpha', track_name: 'One', album_name: 'First' },
      // A later stream spells the track otherwise: the dimension keeps the latest spelling.
      { started_at: '2024-06-02T10:00:00Z', ms_played: 200_000, artist_name: 'ALPHA', track_name: 'ONE', album_name: null, source: 'account_export' },
      { started_at: '2024-06-02T11:00:00Z', ms_played: 10_000, artist_name: 'Beta', track_name: 'Two', album_name: 'Second' },
    ]);
    await writePlays(layout, 'bob', [
      { started_at: '2024-06-01T10:00:00Z', ms_played: 200_000, artist_name: 'Alpha', track_name: 'One', album_name: 'Bob Album' },
    ]);
    for (const user of ['ann', 'bob']) await rebuildUserModels(layout, {}, user, { defaultTimezone: 'UTC' });
  });
  after(async () => {
    await fs.rm(home, { recursive: true, force: true });
  });

  test('every mart is a view, dimensions included', async () => {
    for (const mart of MARTS) {
      const { rows } = await queryWarehouse(layout, {}, `SELECT count(*) AS n FROM ${mart}`);
      assert.ok((rows[0]?.n as number) > 0, mart);
    }
  });

  test("the README's example names each day's tracks, per user", async () => {
    const { rows } = await queryWarehouse(
      layout,
      {},
      `SELECT d.user_id, d.local_date, t.track_name, t.artist_name, t.album_name, d.e.plays AS plays, d.e.ms AS ms
       FROM (SELECT user_id, local_date, unnest(tracks) AS e FROM daily_rollups) AS d
       JOIN dim_tracks AS t ON t.user_id = d.user_id AND t.track_key = d.e.track_key
       ORDER BY d.user_id, d.local_date, t.track_name`,
    );
    assert.deepEqual(
      rows.map((r) => ({ ...r, local_date: String(r.local_date).slice(0, 10) })),
      [
        { user_id: 'ann', local_date: '2024-06-01', track_name: 'ONE', artist_name: 'ALPHA', album_name: 'First', plays: 2, ms: 400_000 },
        { user_id: 'ann', local_date: '2024-06-02', track_name: 'ONE', artist_name: 'ALPHA', album_name: 'First', plays: 1, ms: 200_000 },
        // A skip: no play, but its ms count.
        { user_id: 'ann', local_date: '2024-06-02', track_name: 'Two', artist_name: 'Beta', album_name: 'Second', plays: 0, ms: 10_000 },
        { user_id: 'bob', local_date: '2024-06-01', track_name: 'One', artist_name: 'Alpha', album_name: 'Bob Album', plays: 1, ms: 200_000 },
      ],
    );
  });
});
