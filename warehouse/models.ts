/**
 * The SQL models and their runner.
 *
 * Models are plain SQL files under `sql/` (dbt-like: import CTEs, named steps, `select * from
 * final`). A model refers to its upstream models by their view names (`plays`, `int_plays_keyed`,
 * `int_plays_local`, `daily_rollups`) and takes its parameters from DuckDB variables (`getvariable('...')`), which
 * `setModelVariables` sets with bound values:
 *
 *   scope_user_id   VARCHAR      the user being built
 *   scope_timezone  VARCHAR      that user's IANA time zone
 *   scope_days      DATE[]       local dates to rebuild; NULL = every day
 *   build_date      DATE         "today" in the user's time zone (end of the rolling periods)
 *   built_at        TIMESTAMPTZ  when the build ran
 *
 * `buildModels` runs them for one user and writes the marts as immutable Parquet generations:
 *
 *   <home>/warehouse/daily_rollups/user_id=<u>/part-<gen>.parquet
 *   <home>/warehouse/dim_artists/user_id=<u>/part-<gen>.parquet     (and dim_tracks, dim_albums)
 *   <home>/warehouse/period_snapshots/user_id=<u>/part-<gen>.parquet
 *
 * (`user_id` is the Hive key in the path, not a column of the files), and records per-user freshness
 * in `<home>/warehouse/_models.json`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Db, type DbOptions, type Params, ident, literal, stringList, withDb } from './duckdb.ts';
import { liveFile, liveFiles, readJson, writeGeneration, writeJsonAtomic } from './files.ts';
import { withLock, withUserLock } from './lock.ts';
import { ensureUser } from './users.ts';
import { localTime, sqlFileText } from './sql.ts';
import { type Layout, type Mart, assertUserId } from './layout.ts';
import { HIVE_TYPES, PLAY_COLUMNS, withPlayColumns } from './schema.ts';

/** The models, in the order they run. `file` is relative to the project root. */
export const MODELS = [
  { name: 'int_plays_keyed', file: 'sql/intermediate/int_plays_keyed.sql' },
  { name: 'int_plays_local', file: 'sql/intermediate/int_plays_local.sql' },
  { name: 'daily_rollups', file: 'sql/marts/daily_rollups.sql' },
  { name: 'dim_artists', file: 'sql/marts/dim_artists.sql' },
  { name: 'dim_tracks', file: 'sql/marts/dim_tracks.sql' },
  { name: 'dim_albums', file: 'sql/marts/dim_albums.sql' },
  { name: 'period_snapshots', file: 'sql/marts/period_snapshots.sql' },
] as const;

export type ModelName = (typeof MODELS)[number]['name'];

const HOURLY = 'STRUCT(hour INTEGER, listens BIGINT, ms BIGINT)[]';

/** The listening totals both marts carry, per day or per period. */
const TOTALS = [
  ['streams', 'BIGINT'],
  ['listens', 'BIGINT'],
  ['skips', 'BIGINT'],
  ['track_ms', 'BIGINT'],
  ['episode_ms', 'BIGINT'],
  ['audiobook_ms', 'BIGINT'],
] as const;

/**
 * The columns of each mart, in order, with their DuckDB types. The views made by `martSource`
 * have exactly these columns (`user_id` first); the files hold all but `user_id`.
 */
export const MART_COLUMNS: Record<Mart, readonly (readonly [string, string])[]> = {
  daily_rollups: [
    ['user_id', 'VARCHAR'],
    ['local_date', 'DATE'],
    ...TOTALS,
    ['hourly', HOURLY],
    ['artists', 'STRUCT(artist_key VARCHAR, plays BIGINT, ms BIGINT)[]'],
    ['tracks', 'STRUCT(track_key VARCHAR, plays BIGINT, ms BIGINT)[]'],
    ['albums', 'STRUCT(album_key VARCHAR, plays BIGINT, ms BIGINT)[]'],
    ['shows', 'STRUCT(show_name VARCHAR, streams BIGINT, ms BIGINT)[]'],
  ],
  period_snapshots: [
    ['user_id', 'VARCHAR'],
    ['period_type', 'VARCHAR'],
    ['period_key', 'VARCHAR'],
    ['period_start', 'DATE'],
    ['period_end', 'DATE'],
    ...TOTALS,
    ['active_days', 'BIGINT'],
    ['unique_tracks', 'BIGINT'],
    ['unique_artists', 'BIGINT'],
    ['unique_albums', 'BIGINT'],
    ['longest_streak_days', 'BIGINT'],
    ['longest_streak_start', 'DATE'],
    ['longest_streak_end', 'DATE'],
    ['top_artists', 'STRUCT(rank INTEGER, artist_name VARCHAR, plays BIGINT, ms BIGINT)[]'],
    [
      'top_tracks',
      'STRUCT(rank INTEGER, track_name VARCHAR, artist_name VARCHAR, album_name VARCHAR, track_uri VARCHAR, plays BIGINT, ms BIGINT)[]',
    ],
    ['top_albums', 'STRUCT(rank INTEGER, album_name VARCHAR, artist_name VARCHAR, plays BIGINT, ms BIGINT)[]'],
    ['hourly', HOURLY],
    ['weekday', 'STRUCT(iso_weekday INTEGER, listens BIGINT, ms BIGINT)[]'],
    ['built_at', 'TIMESTAMPTZ'],
  ],
  dim_artists: [
    ['user_id', 'VARCHAR'],
    ['artist_key', 'VARCHAR'],
    ['artist_name', 'VARCHAR'],
    ['first_played_at', 'TIMESTAMPTZ'],
    ['last_played_at', 'TIMESTAMPTZ'],
  ],
  dim_tracks: [
    ['user_id', 'VARCHAR'],
    ['track_key', 'VARCHAR'],
    ['track_name', 'VARCHAR'],
    ['artist_name', 'VARCHAR'],
    ['album_name', 'VARCHAR'],
    ['track_uri', 'VARCHAR'],
    ['first_played_at', 'TIMESTAMPTZ'],
    ['last_played_at', 'TIMESTAMPTZ'],
  ],
  dim_albums: [
    ['user_id', 'VARCHAR'],
    ['album_key', 'VARCHAR'],
    ['album_name', 'VARCHAR'],
    ['artist_name', 'VARCHAR'],
    ['first_played_at', 'TIMESTAMPTZ'],
    ['last_played_at', 'TIMESTAMPTZ'],
  ],
};

/** The name dimensions, built in full from every play of the user at each build. */
export const DIMENSIONS = ['dim_artists', 'dim_tracks', 'dim_albums'] as const;

/** Order of rows inside a mart file. */
const MART_ORDER: Record<Mart, string> = {
  daily_rollups: 'local_date',
  period_snapshots: `period_type, period_key`,
  dim_artists: 'artist_key',
  dim_tracks: 'track_key',
  dim_albums: 'album_key',
};

/** The SQL text of a model, ready to be wrapped in `CREATE VIEW ... AS` (no trailing semicolon). */
export async function modelSql(name: ModelName): Promise<string> {
  const model = MODELS.find((m) => m.name === name);
  if (!model) throw new Error(`unknown model "${name}"`);
  return sqlFileText(model.file);
}

/** A relation with the given columns and no rows, for views over partitions that have no files yet. */
export function emptyRelation(columns: readonly (readonly [string, string])[]): string {
  return `select ${columns.map(([name, type]) => `cast(null as ${type}) as ${ident(name)}`).join(', ')} limit 0`;
}

export function fileList(files: readonly string[]): string {
  return `[${files.map(literal).join(', ')}]`;
}

/**
 * SQL (a SELECT) for the view `plays` over the live plays files: every column of PLAY_COLUMNS, then
 * the Hive keys `user_id` and `year`. Only `userId`'s files when given. With no files it is an
 * empty relation with the same columns.
 */
export async function playsSource(layout: Layout, userId?: string): Promise<string> {
  const files = await liveFiles(userId === undefined ? layout.playsRoot : layout.userPlays(userId));
  const columns = [...PLAY_COLUMNS, ['user_id', 'VARCHAR'], ['year', 'INTEGER']] as const;
  if (files.length === 0) return emptyRelation(columns);
  return (
    `select ${columns.map(([name]) => ident(name)).join(', ')} ` +
    // withPlayColumns: columns added after older files were written read as NULL in those files.
    `from ${withPlayColumns(
      `read_parquet(${fileList(files)}, hive_partitioning = true, hive_types = ${HIVE_TYPES}, union_by_name = true)`,
      [['user_id', 'VARCHAR'], ['year', 'INTEGER']],
    )}`
  );
}

/**
 * SQL (a SELECT) for the view of a mart over its live files, with the columns of MART_COLUMNS
 * (`user_id` first). Only `userId`'s file when given. With no files it is an empty relation with
 * the same columns.
 */
export async function martSource(layout: Layout, mart: Mart, userId?: string): Promise<string> {
  const files =
    userId === undefined
      ? await liveFiles(layout.martRoot(mart))
      : [await liveFile(layout.martPartition(mart, userId))].filter((f): f is string => f !== undefined);
  const columns = MART_COLUMNS[mart];
  if (files.length === 0) return emptyRelation(columns);
  return (
    `select ${columns.map(([name]) => ident(name)).join(', ')} ` +
    `from read_parquet(${fileList(files)}, hive_partitioning = true, ` +
    `hive_types = {'user_id': VARCHAR}, union_by_name = true)`
  );
}

export class InvalidTimezoneError extends Error {}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Parameters of one model run. */
export interface ModelScope {
  userId: string;
  /** IANA time zone of the user, e.g. 'Europe/Paris'. */
  timezone: string;
  /** Local dates ('YYYY-MM-DD') to rebuild; undefined = every day. */
  days?: readonly string[];
  /** The build time (defaults to now); fixes build_date (local today) and built_at. */
  now?: Date;
}

/** Set the DuckDB variables the models read (see the top of this file). Validates the scope. */
export async function setModelVariables(db: Db, scope: ModelScope): Promise<void> {
  assertUserId(scope.userId);
  const known = await db.one<{ n: number }>(`select count(*) as n from pg_timezone_names() where name = $1`, [
    scope.timezone,
  ]);
  if (!known?.n) throw new InvalidTimezoneError(`unknown time zone "${scope.timezone}"`);
  for (const d of scope.days ?? []) {
    const t = new Date(`${d}T00:00:00Z`);
    if (!DAY.test(d) || Number.isNaN(t.getTime()) || t.toISOString().slice(0, 10) !== d) {
      throw new RangeError(`invalid local date "${d}": expected YYYY-MM-DD`);
    }
  }
  const now = (scope.now ?? new Date()).toISOString();
  await db.run(`SET VARIABLE scope_user_id = $1::VARCHAR`, [scope.userId]);
  await db.run(`SET VARIABLE scope_timezone = $1::VARCHAR`, [scope.timezone]);
  await setScopeDays(db, scope.days);
  await db.run(`SET VARIABLE built_at = $1::TIMESTAMPTZ`, [now]);
  await db.run(`SET VARIABLE build_date = cast(timezone($1, $2::TIMESTAMPTZ) as DATE)`, [scope.timezone, now]);
}

/** Set `scope_days` (NULL for every day), sorted and without duplicates. */
async function setScopeDays(db: Db, days: readonly string[] | undefined): Promise<void> {
  if (days === undefined) await db.run(`SET VARIABLE scope_days = NULL::DATE[]`);
  else if (days.length === 0) await db.run(`SET VARIABLE scope_days = []::DATE[]`);
  else await db.run(`SET VARIABLE scope_days = $1::DATE[]`, [stringList([...new Set(days)].sort())]);
}

const VARIABLES = ['scope_user_id', 'scope_timezone', 'scope_days', 'build_date', 'built_at'];

/** Freshness of the marts, per user, as kept in `<home>/warehouse/_models.json`. */
export interface UserModelState {
  /** ISO time of the last build of each mart. */
  daily_rollups?: string;
  period_snapshots?: string;
  /** dim_artists, dim_tracks and dim_albums, built together. */
  dimensions?: string;
  /** Time zone the marts were built in. */
  timezone?: string;
}
export type ModelState = Record<string, UserModelState>;

/** The freshness of every user's marts ({} when nothing was ever built). For `rewind status`. */
export async function readModelState(layout: Layout): Promise<ModelState> {
  return (await readJson<ModelState>(layout.models)) ?? {};
}

export interface BuildOptions extends ModelScope {
  /**
   * Most plays one daily_rollups pass reads (default PLAYS_PER_PASS, sized for DuckDB's default
   * 768 MB): a smaller memory limit wants smaller passes.
   */
  playsPerPass?: number;
  /**
   * A user with more plays than this (default IN_MEMORY_PLAYS) has daily_rollups built through
   * Parquet files instead of a table in memory: slower, but memory-bounded however dense the history.
   */
  inMemoryPlays?: number;
}

export interface BuildResult {
  /** Daily rows (re)computed for the days in scope (days in scope that have plays). */
  days: number;
  /** Rows now in the user's daily_rollups. */
  dailyRows: number;
  /** Rows now in the user's period_snapshots. */
  snapshotRows: number;
  /** True when every day was rebuilt (no `days`, first build, a changed time zone or mart shape). */
  full: boolean;
}

/** Temporary objects (tables or views) a build creates on the connection (dropped afterwards). */
const TEMP_OBJECTS = [
  'plays',
  'int_plays_keyed',
  'int_plays_local',
  'daily_rollups__rebuilt',
  'daily_rollups',
  'period_snapshots',
  'dim_artists',
  'dim_tracks',
  'dim_albums',
];

/** Drop the build's temporary objects and variables. */
async function cleanUp(db: Db): Promise<void> {
  const objects = await db.all<{ name: string; kind: string }>(
    `select view_name as name, 'VIEW' as kind from duckdb_views() where temporary
     union all
     select table_name, 'TABLE' from duckdb_tables() where temporary`,
  );
  for (const { name, kind } of objects) {
    if (TEMP_OBJECTS.includes(name)) await db.run(`DROP ${kind} IF EXISTS temp.${ident(name)}`);
  }
  for (const v of VARIABLES) await db.run(`RESET VARIABLE ${ident(v)}`);
}

function martColumnsWithoutUser(mart: Mart): string {
  return MART_COLUMNS[mart]
    .filter(([name]) => name !== 'user_id')
    .map(([name, type]) => `cast(${ident(name)} as ${type}) as ${ident(name)}`)
    .join(', ');
}

/** Whether a stored mart file has exactly the columns (and types) the mart has now. */
async function hasMartColumns(db: Db, file: string, mart: Mart): Promise<boolean> {
  type Column = { column_name: string; column_type: string };
  const shape = (cols: Column[]) => JSON.stringify(cols.map((c) => [c.column_name, c.column_type]));
  const actual = await db.all<Column>(`DESCRIBE SELECT * FROM read_parquet(${literal(file)}, hive_partitioning = false)`);
  const expected = await db.all<Column>(
    `DESCRIBE ${emptyRelation(MART_COLUMNS[mart].filter(([name]) => name !== 'user_id'))}`,
  );
  return shape(actual) === shape(expected);
}

/** Every date from `first` to `last`, both 'YYYY-MM-DD' and included. */
function datesBetween(first: string, last: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${last}T00:00:00Z`); t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/**
 * Run `fn` with DuckDB's preserve_insertion_order off: for statements whose result order is given
 * by their own ORDER BY, or does not matter. Restores the setting afterwards.
 */
async function withoutInsertionOrder<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  const [was] = await db.all<{ v: boolean }>(`SELECT current_setting('preserve_insertion_order') AS v`);
  await db.run(`SET preserve_insertion_order = false`);
  try {
    return await fn();
  } finally {
    await db.run(`SET preserve_insertion_order = ${was?.v === false ? 'false' : 'true'}`);
  }
}

/** Most plays one daily_rollups pass reads (keeps a pass well inside the default 768 MB limit). */
const PLAYS_PER_PASS = 150_000;

/**
 * Rows per row group of a daily_rollups file (and of a build's scratch files): about two months of
 * days. A reader holds a row group's lists at a time, and a year's days are read without the rest
 * (mergeStoredDays, the API's date ranges).
 */
const DAILY_ROW_GROUP = 64;

/**
 * Most plays of a user whose daily_rollups a build holds in memory (a temporary table, the fastest
 * for the period snapshots that read it): a 1,000,000-play history builds within the default
 * 768 MB. A user with more goes through Parquet files, one per pass (DaysSink).
 */
const IN_MEMORY_PLAYS = 1_000_000;

/**
 * Where a build collects daily_rollups rows, batch after batch, in the order added: a temporary
 * table, or (for a history too dense to hold in memory) Parquet files in a scratch folder, read
 * back in order. `source` is the SQL of every row added, in that order.
 */
interface DaysSink {
  add(selectSql: string, params?: Params): Promise<void>;
  source(): string;
  /** Make the rows the temporary object `name` (the table itself, or a view over the files). */
  publish(name: string): Promise<void>;
  drop(): Promise<void>;
}

function tableSink(db: Db, table: string): DaysSink & { create(): Promise<void> } {
  return {
    create: () => db.run(`CREATE TEMP TABLE ${ident(table)} AS ${emptyRelation(MART_COLUMNS.daily_rollups)}`),
    add: (sql, params) => db.run(`INSERT INTO ${ident(table)} BY NAME ${sql}`, params),
    source: () => `select * from ${ident(table)}`,
    publish: async (name) => {
      if (name !== table) throw new Error(`a table sink is published under its own name (${table})`);
    },
    drop: () => db.run(`DROP TABLE IF EXISTS temp.${ident(table)}`),
  };
}

function filesSink(db: Db, dir: string): DaysSink & { create(): Promise<void> } {
  const parts: string[] = [];
  const source = () =>
    parts.length === 0
      ? emptyRelation(MART_COLUMNS.daily_rollups)
      : `select ${MART_COLUMNS.daily_rollups.map(([name]) => ident(name)).join(', ')} from read_parquet(${fileList(parts)})`;
  return {
    create: () => fs.mkdir(dir, { recursive: true }).then(() => undefined),
    add: async (sql, params) => {
      const part = path.join(dir, `part-${String(parts.length).padStart(5, '0')}.parquet`);
      // Scratch files, read back by this build only: Snappy writes faster than zstd. Small row
      // groups, as in the mart: a reader holds a row group's lists at a time.
      await db.run(`COPY (${sql}) TO ${literal(part)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${DAILY_ROW_GROUP})`, params);
      parts.push(part);
    },
    source,
    publish: (name) => db.run(`CREATE TEMP VIEW ${ident(name)} AS ${source()}`),
    drop: async () => {
      for (const part of parts.splice(0)) await fs.rm(part, { force: true });
    },
  };
}

/**
 * Run daily_rollups for the days in scope into `sink`, in passes of whole
 * local calendar months holding at most `playsPerPass` plays together (a month heavier than that
 * is a pass of its own): memory stays bounded however long and dense the history, and
 * int_plays_local's coarse filters let each pass read only the files (and row groups) of its
 * months. The sink gets the days in date order. Leaves `scope_days` as the whole scope again.
 * Returns the number of rows.
 */
async function rebuildDays(db: Db, scope: ModelScope, sink: DaysSink, playsPerPass = PLAYS_PER_PASS): Promise<number> {
  const sql = await modelSql('daily_rollups');
  // Plays per local month, with the month's first and last local date: one scan of the plays
  // sizes the passes and, for a full build, finds the span of days.
  const months = await db.all<{ m: string; n: number; first: string; last: string }>(
    `select strftime(month, '%Y-%m') as m, n, strftime(first, '%Y-%m-%d') as first, strftime(last, '%Y-%m-%d') as last
     from (
       select date_trunc('month', local) as month, count(*) as n, min(local) as first, max(local) as last
       from (select ${localTime('started_at', "getvariable('scope_timezone')")} as local
             from plays where user_id = getvariable('scope_user_id') and started_at is not null)
       group by all
     )
     order by m`,
  );
  const perMonth = new Map(months.map((r) => [r.m, r.n]));
  const days =
    scope.days !== undefined
      ? [...new Set(scope.days)].sort()
      : months.length > 0
        ? datesBetween(months[0]!.first, months.at(-1)!.last)
        : [];
  const chunks = new Map<string, string[]>();
  for (const d of days) chunks.set(d.slice(0, 7), [...(chunks.get(d.slice(0, 7)) ?? []), d]);
  // Consecutive months are built together while they hold at most playsPerPass plays: few passes
  // over the files for a light history, bounded memory for a heavy one.
  const passes: string[][] = [];
  let plays = Infinity;
  for (const [month, monthDays] of [...chunks.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const n = perMonth.get(month) ?? 0;
    if (plays + n > playsPerPass) {
      passes.push([]);
      plays = 0;
    }
    passes.at(-1)!.push(...monthDays);
    plays += n;
  }
  // Each pass in date order, and the passes in date order: the sink gets the days in order (an
  // ORDER BY at the top keeps its order into the sink whatever preserve_insertion_order says).
  // Inside a pass nothing needs the order of its input rows: without it DuckDB runs the pass's
  // joins and aggregates a tenth faster.
  await withoutInsertionOrder(db, async () => {
    for (const days of passes) {
      await setScopeDays(db, days);
      await sink.add(`SELECT * FROM (\n${sql}\n) ORDER BY local_date`);
    }
  });
  await setScopeDays(db, scope.days);
  return (await db.one<{ n: number }>(`select count(*) as n from (${sink.source()})`))?.n ?? 0;
}

/**
 * The user's daily_rollups as they must now be, into `sink`, in date order: the rebuilt days
 * (`rebuilt`, a SELECT of them in date order) and the stored days (`stored`, a SELECT of the stored
 * mart, in date order) that are not in scope. Calendar years without a rebuilt day are copied as
 * stored, run by run; a year with rebuilt days is put in order on its own. Memory holds a year's
 * lists at a time, never every day's.
 */
async function mergeStoredDays(db: Db, rebuilt: string, stored: string, sink: DaysSink): Promise<void> {
  const years = await db.all<{ y: number; rebuilt: boolean }>(
    `select y, bool_or(rebuilt) as rebuilt from (
       select cast(year(local_date) as integer) as y, true as rebuilt from (${rebuilt})
       union all
       select cast(year(local_date) as integer), false from (${stored})
     ) group by y order by y`,
  );
  // The stored days of the years [$1, $2), but those in scope.
  const storedIn = `select * from (${stored})
     where local_date >= make_date($1::INTEGER, 1, 1) and local_date < make_date($2::INTEGER, 1, 1)
       and local_date not in (select unnest(getvariable('scope_days')))`;
  for (let i = 0; i < years.length; ) {
    const first = years[i]!.y;
    if (years[i]!.rebuilt) {
      await sink.add(
        `SELECT * FROM (
           select * from (${rebuilt}) where year(local_date) = $1::INTEGER
           union all by name
           ${storedIn}
         ) ORDER BY local_date`,
        [first, first + 1],
      );
      i++;
    } else {
      // A run of years as stored: the file's order is kept (no ORDER BY: nothing to interleave).
      let j = i;
      while (j + 1 < years.length && !years[j + 1]!.rebuilt) j++;
      await sink.add(`SELECT * FROM (${storedIn})`, [first, years[j]!.y + 1]);
      i = j + 1;
    }
  }
}

/**
 * Build the marts of one user: daily_rollups for the days in scope (merged into the user's existing
 * daily_rollups: other days kept as they are, days in scope replaced, a day without plays any more
 * removed), then period_snapshots in full from the merged daily_rollups; then record freshness.
 *
 * Every day is rebuilt when `days` is undefined, when the user was never built, when the time zone
 * differs from the one of the last build (local dates move with the zone), or when the stored
 * daily_rollups file has other columns than the mart has now (it was written by another version).
 *
 * Uses temporary views/tables named after the models on `db` (shadowing views of the same name
 * while it runs): run one build at a time per Db, and one build at a time per user.
 */
export async function buildModels(db: Db, layout: Layout, opts: BuildOptions): Promise<BuildResult> {
  const userId = assertUserId(opts.userId);
  const now = opts.now ?? new Date();
  const previous = (await readModelState(layout))[userId];
  const stored = await liveFile(layout.martPartition('daily_rollups', userId));
  const full =
    opts.days === undefined ||
    previous === undefined ||
    previous.timezone !== opts.timezone ||
    (stored !== undefined && !(await hasMartColumns(db, stored, 'daily_rollups')));
  const scope: ModelScope = { userId, timezone: opts.timezone, now, ...(full ? {} : { days: opts.days }) };

  await cleanUp(db);
  // Scratch Parquet files of a dense history's daily_rollups (under the data folder's tmp/).
  const scratch = path.join(layout.tmp, `models-${randomUUID()}`);
  try {
    await setModelVariables(db, scope);
    await db.run(`CREATE TEMP VIEW plays AS ${await playsSource(layout, userId)}`);
    await db.run(`CREATE TEMP VIEW int_plays_keyed AS\n${await modelSql('int_plays_keyed')}\n`);
    await db.run(`CREATE TEMP VIEW int_plays_local AS\n${await modelSql('int_plays_local')}\n`);
    const plays = await db.one<{ n: number }>(`select count(*) as n from plays`);
    const inMemory = (plays?.n ?? 0) <= (opts.inMemoryPlays ?? IN_MEMORY_PLAYS);
    const sink = async (name: string) => {
      const made = inMemory ? tableSink(db, name) : filesSink(db, path.join(scratch, name));
      await made.create();
      return made;
    };
    // The user's daily_rollups as they must now be, in date order, as the temporary object
    // daily_rollups: the days in scope rebuilt, the other days as stored.
    let rebuilt: number;
    const days = await sink('daily_rollups');
    if (full) rebuilt = await rebuildDays(db, scope, days, opts.playsPerPass);
    else {
      const fresh = await sink('daily_rollups__rebuilt');
      rebuilt = await rebuildDays(db, scope, fresh, opts.playsPerPass);
      await mergeStoredDays(db, fresh.source(), await martSource(layout, 'daily_rollups', userId), days);
      await fresh.drop();
    }
    await days.publish('daily_rollups');
    // In date order already: no sort of every day's lists at once (which, for a dense history,
    // needs more memory than the lists themselves).
    const dailyRows = await writeGeneration(
      db,
      layout.martPartition('daily_rollups', userId),
      `select ${martColumnsWithoutUser('daily_rollups')} from temp.daily_rollups`,
      undefined,
      { rowGroupSize: DAILY_ROW_GROUP },
    );

    // The name dimensions, from every play of the user whatever the days in scope (a name's latest
    // spelling may come from any day), each written in key order.
    for (const dim of DIMENSIONS) {
      await withoutInsertionOrder(db, async () => db.run(`CREATE TEMP TABLE ${ident(dim)} AS\n${await modelSql(dim)}\n`));
      await writeGeneration(
        db,
        layout.martPartition(dim, userId),
        `select ${martColumnsWithoutUser(dim)} from temp.${ident(dim)} order by ${MART_ORDER[dim]}`,
      );
    }

    // (Written in order below: the table's own order does not matter.)
    const snapshotsSql = await modelSql('period_snapshots');
    await withoutInsertionOrder(db, () => db.run(`CREATE TEMP TABLE period_snapshots AS\n${snapshotsSql}\n`));
    const snapshotRows = await writeGeneration(
      db,
      layout.martPartition('period_snapshots', userId),
      `select ${martColumnsWithoutUser('period_snapshots')} from temp.period_snapshots order by ${MART_ORDER.period_snapshots}`,
    );

    const iso = now.toISOString();
    // Builds of different users may finish together: the shared freshness file is updated under a lock.
    await withLock(layout, 'models-state', async () => {
      const state = await readModelState(layout);
      state[userId] = { daily_rollups: iso, period_snapshots: iso, dimensions: iso, timezone: opts.timezone };
      await writeJsonAtomic(layout.models, state);
    });

    return { days: rebuilt, dailyRows, snapshotRows, full };
  } finally {
    // Best effort: a failure here must not hide the build's own error.
    await cleanUp(db).catch(() => undefined);
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Rebuild one user's marts in their own DuckDB, under the user's write lock: the days given (every
 * day when undefined, only the period snapshots when empty), in the user's timezone.
 */
export async function rebuildUserModels(
  layout: Layout,
  options: DbOptions,
  userId: string,
  opts: { days?: readonly string[]; defaultTimezone?: string } = {},
): Promise<BuildResult> {
  const user = await ensureUser(layout, userId, opts.defaultTimezone);
  return withUserLock(layout, userId, () =>
    withDb(options, (db) => buildModels(db, layout, { userId, timezone: user.timezone, days: opts.days })),
  );
}
