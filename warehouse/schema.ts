import { ident } from './duckdb.ts';

/**
 * The columns of a play as stored in `warehouse/plays/user_id=<u>/year=<yyyy>/part-*.parquet`.
 * `user_id` and `year` are not stored in the files: they are the Hive partition keys in the path.
 * Readers use `read_parquet(..., hive_partitioning = true, hive_types = {...})` (see `playsSource`).
 */
export const PLAY_COLUMNS = [
  ['ended_at', 'TIMESTAMPTZ'], // when the stream stopped (UTC)
  ['started_at', 'TIMESTAMPTZ'], // ended_at - ms_played
  ['ms_played', 'BIGINT'],
  ['kind', 'VARCHAR'], // track | episode | audiobook | unknown
  ['track_uri', 'VARCHAR'],
  ['track_name', 'VARCHAR'],
  ['artist_name', 'VARCHAR'],
  ['album_name', 'VARCHAR'],
  ['episode_uri', 'VARCHAR'],
  ['episode_name', 'VARCHAR'],
  ['show_name', 'VARCHAR'],
  ['audiobook_uri', 'VARCHAR'],
  ['audiobook_title', 'VARCHAR'],
  ['audiobook_chapter_uri', 'VARCHAR'],
  ['audiobook_chapter_title', 'VARCHAR'],
  ['platform', 'VARCHAR'],
  ['conn_country', 'VARCHAR'],
  ['reason_start', 'VARCHAR'],
  ['reason_end', 'VARCHAR'],
  ['shuffle', 'BOOLEAN'],
  ['skipped', 'BOOLEAN'],
  ['offline', 'BOOLEAN'],
  ['offline_at', 'TIMESTAMPTZ'],
  ['incognito', 'BOOLEAN'],
  ['source', 'VARCHAR'], // extended_export | account_export | api
  ['time_precision', 'VARCHAR'], // second | minute
  ['occurrence', 'INTEGER'], // 1-based index among streams with the same identity (see README, "matching rule")
  ['import_id', 'VARCHAR'],
  ['source_file', 'VARCHAR'], // archive entry the row came from
  ['source_row', 'BIGINT'], // 1-based position of the row in that file
  // From the Web API (recently-played): set on `api` rows, and on an exported row that was matched
  // with an API row (README, "matching rule"). NULL otherwise. Appended last: older files lack them
  // and read as NULL (see `withPlayColumns`).
  ['album_uri', 'VARCHAR'],
  ['artist_uris', 'VARCHAR[]'], // every artist of the track, in credit order
  ['context_uri', 'VARCHAR'], // playlist, album, artist or show the play was started from
  ['context_type', 'VARCHAR'],
  ['api_played_at', 'TIMESTAMPTZ'], // the API's played_at, as returned (end or start of the play)
] as const;

export type PlayColumn = (typeof PLAY_COLUMNS)[number][0];

export const PLAY_COLUMN_NAMES: readonly string[] = PLAY_COLUMNS.map(([name]) => name);

export const HIVE_TYPES = `{'user_id': VARCHAR, 'year': INTEGER}`;

/** The SQL type of every play column, by name. */
export const PLAY_COLUMN_TYPES: ReadonlyMap<string, string> = new Map(PLAY_COLUMNS);

/**
 * SQL (a relation) for `fromSql` (a read_parquet(...) call or subquery) that has every column of
 * PLAY_COLUMNS plus `extra` columns, whatever the files hold: a column that no file has (files
 * written before the column existed) reads as NULL. `union_by_name` alone only fills a column that
 * at least one of the files has; the union with an empty relation of the full shape fills the rest.
 */
export function withPlayColumns(fromSql: string, extra: readonly (readonly [string, string])[] = []): string {
  const columns = [...PLAY_COLUMNS, ...extra];
  const empty = columns.map(([name, type]) => `cast(null as ${type}) as ${ident(name)}`).join(', ');
  return `(from ${fromSql} union all by name (select ${empty} limit 0))`;
}
