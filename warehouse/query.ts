/**
 * Read access to the warehouse for people and tools: views over the live Parquet files.
 * Readers never lock writers: files are immutable, a change renames a new generation into place.
 */
import { type Db, type DbOptions, withDb } from './duckdb.ts';
import { liveFiles } from './files.ts';
import { MARTS, type Layout } from './layout.ts';
import { emptyRelation, fileList, martSource, playsSource } from './models.ts';
import { PLAYLIST_COLUMNS, PLAYLIST_ITEM_COLUMNS } from './playlists.ts';
import { catalogSource } from './catalog.ts';

/** A per-user table (user_id=<u>/part-<gen>.parquet) over every user's live file. */
async function userTableSource(root: string, columns: readonly (readonly [string, string])[]): Promise<string> {
  const files = await liveFiles(root);
  if (files.length === 0) return emptyRelation([['user_id', 'VARCHAR'], ...columns]);
  return `select * from read_parquet(${fileList(files)}, hive_partitioning = true, hive_types = {'user_id': VARCHAR}, union_by_name = true)`;
}

/**
 * Define the views plays, daily_rollups, period_snapshots, playlists and playlist_items over every
 * user's live files, and tracks and artists over the shared catalog.
 */
export async function defineViews(db: Db, layout: Layout): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP VIEW plays AS ${await playsSource(layout)}`);
  for (const mart of MARTS) await db.run(`CREATE OR REPLACE TEMP VIEW ${mart} AS ${await martSource(layout, mart)}`);
  await db.run(`CREATE OR REPLACE TEMP VIEW playlists AS ${await userTableSource(layout.playlistsRoot, PLAYLIST_COLUMNS)}`);
  await db.run(
    `CREATE OR REPLACE TEMP VIEW playlist_items AS ${await userTableSource(layout.playlistItemsRoot, PLAYLIST_ITEM_COLUMNS)}`,
  );
  // The shared catalog (no user data): join plays on track_uri, tracks on artist_uris.
  for (const table of ['tracks', 'artists'] as const) await db.run(`CREATE OR REPLACE TEMP VIEW ${table} AS ${await catalogSource(layout, table)}`);
}

export interface QueryResult {
  columns: string[];
  types: string[];
  rows: Record<string, unknown>[];
}

/**
 * Run one query over the views. A writer may replace a file between our listing and the read;
 * then the listing is taken again (files are never changed in place, only replaced).
 */
export async function queryWarehouse(layout: Layout, options: DbOptions, sql: string): Promise<QueryResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withDb(options, async (db) => {
        await defineViews(db, layout);
        return db.allJson(sql);
      });
    } catch (e) {
      if (attempt < 5 && /No such file|No files found|cannot open file|Cannot open file/i.test(String(e))) continue;
      throw e;
    }
  }
}
