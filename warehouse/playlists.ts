/**
 * Playlist snapshots in the warehouse (written by activities/playlists.ts once a day per user):
 *
 *   warehouse/playlists/user_id=<u>/part-<gen>.parquet        one row per playlist per snapshot day
 *   warehouse/playlist_items/user_id=<u>/part-<gen>.parquet   the items of each playlist version
 *
 * A playlist version is its `snapshot_id` (Spotify changes it with every edit). Items are stored
 * once per version: a day whose playlist kept its snapshot_id refers to the items stored before
 * (`items_status = 'unchanged'`), so the items of any playlist on any day are
 * `playlists JOIN playlist_items USING (playlist_id, snapshot_id)`. Both files are immutable
 * generations (warehouse/files.ts); a snapshot taken twice on one day replaces that day's rows.
 */
import { type Db, literal } from './duckdb.ts';
import { liveFile, writeGeneration } from './files.ts';
import type { Layout } from './layout.ts';

/** What became of a playlist's items on a snapshot day. */
export type ItemsStatus =
  /** A new version: its items were fetched and stored today. */
  | 'fetched'
  /** The same snapshot_id as a stored version: not fetched again. */
  | 'unchanged'
  /** Spotify answers 403 for the items of playlists the user neither owns nor collaborates on (2026). */
  | 'forbidden'
  /** Deleted between the list and the items request (404). */
  | 'gone';

export const PLAYLIST_COLUMNS = [
  ['snapshot_date', 'DATE'], // the UTC day of the snapshot
  ['taken_at', 'TIMESTAMPTZ'],
  ['position', 'INTEGER'], // order in GET /me/playlists
  ['playlist_id', 'VARCHAR'],
  ['snapshot_id', 'VARCHAR'],
  ['name', 'VARCHAR'],
  ['description', 'VARCHAR'],
  ['owner_id', 'VARCHAR'],
  ['owner_name', 'VARCHAR'],
  ['public', 'BOOLEAN'],
  ['collaborative', 'BOOLEAN'],
  ['items_total', 'INTEGER'],
  ['items_status', 'VARCHAR'],
] as const;

export const PLAYLIST_ITEM_COLUMNS = [
  ['playlist_id', 'VARCHAR'],
  ['snapshot_id', 'VARCHAR'],
  ['position', 'INTEGER'], // 0-based position in the playlist
  ['added_at', 'TIMESTAMPTZ'],
  ['added_by', 'VARCHAR'],
  ['is_local', 'BOOLEAN'],
  ['item_type', 'VARCHAR'], // track | episode | NULL (unavailable)
  ['uri', 'VARCHAR'],
  ['name', 'VARCHAR'],
  ['artist_name', 'VARCHAR'], // the first artist (tracks)
  ['artist_uris', 'VARCHAR[]'],
  ['album_name', 'VARCHAR'],
  ['album_uri', 'VARCHAR'],
  ['show_name', 'VARCHAR'], // episodes
  ['duration_ms', 'BIGINT'],
  ['fetched_at', 'TIMESTAMPTZ'],
] as const;

type Value<T extends string> = T extends 'BOOLEAN' ? boolean : T extends 'INTEGER' | 'BIGINT' ? number : T extends 'VARCHAR[]' ? string[] : string;
type RowOf<C extends readonly (readonly [string, string])[]> = { [K in C[number] as K[0]]: Value<K[1]> | null };

export type PlaylistRow = RowOf<typeof PLAYLIST_COLUMNS>;
export type PlaylistItemRow = RowOf<typeof PLAYLIST_ITEM_COLUMNS>;

/** SQL selecting `columns` from the JSON array bound as parameter `$n`, cast to their types. */
function fromJson(columns: readonly (readonly [string, string])[], param: string): string {
  const cols = columns.map(([name, type]) => (type.endsWith('[]') ? `cast(j -> ${literal(name)} as ${type}) as "${name}"` : `cast(j ->> ${literal(name)} as ${type}) as "${name}"`));
  return `select ${cols.join(', ')} from (select unnest(cast(cast(${param} as json) as json[])) as j)`;
}

function columnList(columns: readonly (readonly [string, string])[]): string {
  return columns.map(([name]) => `"${name}"`).join(', ');
}

/** Versions already stored for the user: (playlist_id, snapshot_id) -> items stored, or forbidden. */
export async function knownPlaylistVersions(db: Db, layout: Layout, userId: string): Promise<Map<string, 'stored' | 'forbidden'>> {
  const out = new Map<string, 'stored' | 'forbidden'>();
  const playlists = await liveFile(layout.playlistsPartition(userId));
  const items = await liveFile(layout.playlistItemsPartition(userId));
  if (items) {
    for (const r of await db.all<{ p: string; s: string }>(`select distinct playlist_id as p, snapshot_id as s from read_parquet(${literal(items)})`)) out.set(versionKey(r.p, r.s), 'stored');
  }
  if (playlists) {
    const rows = await db.all<{ p: string; s: string; st: string }>(
      `select playlist_id as p, snapshot_id as s, items_status as st from read_parquet(${literal(playlists)}) where items_status in ('fetched', 'unchanged', 'forbidden')`,
    );
    for (const r of rows) if (!out.has(versionKey(r.p, r.s))) out.set(versionKey(r.p, r.s), r.st === 'forbidden' ? 'forbidden' : 'stored');
  }
  return out;
}

export function versionKey(playlistId: string, snapshotId: string): string {
  return `${playlistId}\u001f${snapshotId}`;
}

/**
 * Write one snapshot day: the items of new versions (a version stored before is kept as it is), then
 * the day's playlist rows (replacing that day's rows if it was taken before). The caller holds the
 * user's write lock.
 */
export async function writePlaylistSnapshot(
  db: Db,
  layout: Layout,
  opts: { userId: string; snapshotDate: string; playlists: PlaylistRow[]; items: PlaylistItemRow[] },
): Promise<{ playlists: number; itemsAdded: number }> {
  const itemsDir = layout.playlistItemsPartition(opts.userId);
  const listDir = layout.playlistsPartition(opts.userId);
  let itemsAdded = 0;
  if (opts.items.length > 0) {
    const old = await liveFile(itemsDir);
    const incoming = `incoming as (${fromJson(PLAYLIST_ITEM_COLUMNS, '$1')})`;
    const sql = old
      ? `with existing as (select ${columnList(PLAYLIST_ITEM_COLUMNS)} from read_parquet(${literal(old)})), ${incoming},
         fresh as (select i.* from incoming i anti join (select distinct playlist_id, snapshot_id from existing) e using (playlist_id, snapshot_id))
         select * from existing union all select * from fresh order by playlist_id, snapshot_id, position`
      : `with ${incoming} select * from incoming order by playlist_id, snapshot_id, position`;
    const before = old ? ((await db.one<{ n: number }>(`select count(*) as n from read_parquet(${literal(old)})`))?.n ?? 0) : 0;
    const total = await writeGeneration(db, itemsDir, sql, [JSON.stringify(opts.items)]);
    itemsAdded = total - before;
  }
  const oldList = await liveFile(listDir);
  const day = `day as (${fromJson(PLAYLIST_COLUMNS, '$1')})`;
  const sql = oldList
    ? `with ${day} select ${columnList(PLAYLIST_COLUMNS)} from read_parquet(${literal(oldList)}) where snapshot_date <> cast($2 as date)
       union all select * from day order by snapshot_date, position`
    : `with ${day} select * from day order by snapshot_date, position`;
  const params = oldList ? [JSON.stringify(opts.playlists), opts.snapshotDate] : [JSON.stringify(opts.playlists)];
  if (opts.playlists.length > 0 || oldList) await writeGeneration(db, listDir, sql, params);
  return { playlists: opts.playlists.length, itemsAdded };
}

/** The user's playlists on a snapshot day (the latest day when none is given), with their items' status. */
export async function readPlaylists(db: Db, layout: Layout, userId: string, snapshotDate?: string): Promise<PlaylistRow[]> {
  const file = await liveFile(layout.playlistsPartition(userId));
  if (!file) return [];
  const where = snapshotDate ? `snapshot_date = cast($1 as date)` : `snapshot_date = (select max(snapshot_date) from read_parquet(${literal(file)}))`;
  return db.all<PlaylistRow>(
    `select * replace (strftime(snapshot_date, '%Y-%m-%d') as snapshot_date, strftime(taken_at, '%Y-%m-%dT%H:%M:%S.%gZ') as taken_at) from read_parquet(${literal(file)}) where ${where} order by position`,
    snapshotDate ? [snapshotDate] : undefined,
  );
}

/** The items of a playlist as it was on a snapshot day (latest day by default), in order. */
export async function readPlaylistItems(db: Db, layout: Layout, userId: string, playlistId: string, snapshotDate?: string): Promise<PlaylistItemRow[]> {
  const list = (await readPlaylists(db, layout, userId, snapshotDate)).find((p) => p.playlist_id === playlistId);
  const file = await liveFile(layout.playlistItemsPartition(userId));
  if (!list || !file) return [];
  return db.all<PlaylistItemRow>(
    `select * replace (strftime(added_at, '%Y-%m-%dT%H:%M:%SZ') as added_at, strftime(fetched_at, '%Y-%m-%dT%H:%M:%S.%gZ') as fetched_at)
     from read_parquet(${literal(file)}) where playlist_id = $1 and snapshot_id = $2 order by position`,
    [playlistId, list.snapshot_id!],
  );
}

/** The snapshot days stored for the user, oldest first. */
export async function playlistSnapshotDays(db: Db, layout: Layout, userId: string): Promise<string[]> {
  const file = await liveFile(layout.playlistsPartition(userId));
  if (!file) return [];
  return (await db.all<{ d: string }>(`select distinct strftime(snapshot_date, '%Y-%m-%d') as d from read_parquet(${literal(file)}) order by d`)).map((r) => r.d);
}
