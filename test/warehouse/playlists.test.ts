/**
 * Playlist snapshots in the warehouse (warehouse/playlists.ts), with real DuckDB and Parquet: days
 * accumulate, a day taken again replaces its rows, a version's items are stored once and found for
 * every day that refers to it, known versions drive what the next snapshot skips.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../../warehouse/duckdb.ts';
import { generations } from '../../warehouse/files.ts';
import { Layout } from '../../warehouse/layout.ts';
import { knownPlaylistVersions, playlistSnapshotDays, readPlaylistItems, readPlaylists, versionKey, writePlaylistSnapshot, type PlaylistItemRow, type PlaylistRow } from '../../warehouse/playlists.ts';

let root: string;
let db: Db;
before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-playlists-'));
  db = await Db.open();
});
after(async () => {
  db.close();
  await fs.rm(root, { recursive: true, force: true });
});

const list = (day: string, id: string, snapshot: string, status: PlaylistRow['items_status'], position = 0, name = id): PlaylistRow => ({
  snapshot_date: day,
  taken_at: `${day}T04:00:00.000Z`,
  position,
  playlist_id: id,
  snapshot_id: snapshot,
  name,
  description: null,
  owner_id: 'me',
  owner_name: 'Me',
  public: false,
  collaborative: false,
  items_total: 2,
  items_status: status,
});
const item = (id: string, snapshot: string, position: number, uri: string | null): PlaylistItemRow => ({
  playlist_id: id,
  snapshot_id: snapshot,
  position,
  added_at: '2025-06-01T10:00:00Z',
  added_by: 'me',
  is_local: uri?.startsWith('spotify:local:') ?? false,
  item_type: uri ? 'track' : null,
  uri,
  name: uri ? `n${position}` : null,
  artist_name: uri ? 'A' : null,
  artist_uris: uri ? ['spotify:artist:x'] : [],
  album_name: null,
  album_uri: null,
  show_name: null,
  duration_ms: uri ? 1000 : null,
  fetched_at: '2026-01-01T04:00:00.000Z',
});

test('days accumulate, a day taken again is replaced, versions are stored once and known', async () => {
  const layout = new Layout(path.join(root, 'a'));
  assert.deepEqual(await readPlaylists(db, layout, 'u'), []);
  await writePlaylistSnapshot(db, layout, {
    userId: 'u',
    snapshotDate: '2026-01-01',
    playlists: [list('2026-01-01', 'p1', 's1', 'fetched'), list('2026-01-01', 'p2', 'x1', 'forbidden', 1)],
    items: [item('p1', 's1', 1, 'spotify:local:A:B:C:100'), item('p1', 's1', 0, 'spotify:track:t0'), item('p1', 's1', 2, null)],
  });
  const known = await knownPlaylistVersions(db, layout, 'u');
  assert.deepEqual([...known.entries()].sort(), [[versionKey('p1', 's1'), 'stored'], [versionKey('p2', 'x1'), 'forbidden']]);

  // Next day, unchanged: the day refers to the stored version.
  const r = await writePlaylistSnapshot(db, layout, { userId: 'u', snapshotDate: '2026-01-02', playlists: [list('2026-01-02', 'p1', 's1', 'unchanged')], items: [] });
  assert.equal(r.itemsAdded, 0);
  const items = await readPlaylistItems(db, layout, 'u', 'p1', '2026-01-02');
  assert.deepEqual(items.map((i) => [i.position, i.uri, i.is_local]), [[0, 'spotify:track:t0', false], [1, 'spotify:local:A:B:C:100', true], [2, null, false]]);
  assert.deepEqual(items[0]!.artist_uris, ['spotify:artist:x']);

  // The same day again with a new version: the day's rows replaced; both versions kept; a re-sent version not doubled.
  const again = await writePlaylistSnapshot(db, layout, {
    userId: 'u',
    snapshotDate: '2026-01-02',
    playlists: [list('2026-01-02', 'p1', 's2', 'fetched', 0, 'renamed')],
    items: [item('p1', 's2', 0, 'spotify:track:t9'), item('p1', 's1', 0, 'spotify:track:t0')],
  });
  assert.equal(again.itemsAdded, 1);
  assert.deepEqual(await playlistSnapshotDays(db, layout, 'u'), ['2026-01-01', '2026-01-02']);
  assert.deepEqual((await readPlaylists(db, layout, 'u')).map((p) => [p.snapshot_date, p.name, p.snapshot_id]), [['2026-01-02', 'renamed', 's2']]);
  assert.deepEqual((await readPlaylists(db, layout, 'u', '2026-01-01')).map((p) => [p.playlist_id, p.items_status]), [['p1', 'fetched'], ['p2', 'forbidden']]);
  assert.deepEqual((await readPlaylistItems(db, layout, 'u', 'p1', '2026-01-01')).length, 3, 'the first day still reads its version');
  assert.deepEqual((await readPlaylistItems(db, layout, 'u', 'p1')).map((i) => i.uri), ['spotify:track:t9']);
  // Immutable generations: one live file per partition.
  assert.equal((await generations(layout.playlistsPartition('u'))).length, 1);
  assert.equal((await generations(layout.playlistItemsPartition('u'))).length, 1);
});
