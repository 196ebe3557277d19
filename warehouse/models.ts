/**
 * The SQL models and their runner.
 *
 * Models are plain SQL files under `sql/` (dbt-like: import CTEs, named steps, `select * from
 * final`). A model refers to its upstream models by their view names (`plays`, `int_plays_local`,
 * `daily_rollups`) and takes its parameters from DuckDB variables (`getvariable('...')`), which
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
 *   <home>/warehouse/period_snapshots/user_id=<u>/part-<gen>.parquet
 *
 * (`user_id` is the Hive key in the path, not a column of the files), and records per-user freshness
 * in `<home>/warehouse/_models.json`.
 */
import { type Db, type DbOptions, ident, literal, stringList, withDb } from './duckdb.ts';
import { liveFile, liveFiles, readJson, writeGeneration, writeJsonAtomic } from './files.ts';
import { withLock, withUserLock } from './lock.ts';
import { ensureUser } from './users.ts';
import { sqlFileText } from './sql.ts';
import { type Layout, type Mart, assertUserId } from './layout.ts';
import { HIVE_TYPES, PLAY_COLUMNS, withPlayColumns } from './schema.ts';

/** The models, in the order they run. `file` is relative to the project root. */
export const MODELS = [
  { name: 'int_plays_local', file: 'sql/intermediate/int_plays_local.sql' },
  { name: 'daily_rollups', file: 'sql/marts/daily_rollups.sql' },
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
    ['artists', 'STRUCT(artist_name VARCHAR, plays BIGINT, ms BIGINT)[]'],
    [
      'tracks',
      'STRUCT(track_key VARCHAR, track_uri VARCHAR, track_name VARCHAR, artist_name VARCHAR, album_name VARCHAR, plays BIGINT, ms BIGINT)[]',
    ],
    ['albums', 'STRUCT(album_key VARCHAR, album_name VARCHAR, artist_name VARCHAR, plays BIGINT, ms BIGINT)[]'],
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
};

/** Order of rows inside a mart file. */
const MART_ORDER: Record<Mart, string> = {
  daily_rollups: 'local_date',
  period_snapshots: `period_type, period_key`,
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
  /** Time zone the marts were built in. */
  timezone?: string;
}
export type ModelState = Record<string, UserModelState>;

/** The freshness of every user's marts ({} when nothing was ever built). For `rewind status`. */
export async function readModelState(layout: Layout): Promise<ModelState> {
  return (await readJson<ModelState>(layout.models)) ?? {};
}

export type BuildOptions = ModelScope;

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

/** Temporary objects a build creates on the connection (dropped afterwards). */
const TEMP_OBJECTS = [
  ['VIEW', 'plays'],
  ['VIEW', 'int_plays_local'],
  ['TABLE', 'daily_rollups__rebuilt'],
  ['TABLE', 'daily_rollups'],
  ['TABLE', 'period_snapshots'],
] as const;

/** Drop the build's temporary objects and variables. */
async function cleanUp(db: Db): Promise<void> {
  for (const [kind, name] of [...TEMP_OBJECTS].reverse()) await db.run(`DROP ${kind} IF EXISTS temp.${ident(name)}`);
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

/** Every date of a calendar year, as 'YYYY-MM-DD'. */
function datesOfYear(year: number): string[] {
  const out: string[] = [];
  for (let t = Date.UTC(year, 0, 1); new Date(t).getUTCFullYear() === year; t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/** Most plays one daily_rollups pass reads (keeps a pass well inside the default 768 MB limit). */
const PLAYS_PER_PASS = 150_000;

/**
 * Run daily_rollups for the days in scope into the temporary table `table`, in passes of whole
 * local calendar years holding at most PLAYS_PER_PASS plays (a heavy year is a pass of its own):
 * memory stays bounded however long the history, and int_plays_local's coarse filters let each
 * pass read only the files of its years. Leaves `scope_days`
 * as the whole scope again. Returns the number of rows.
 */
async function rebuildDays(db: Db, scope: ModelScope, table: string): Promise<number> {
  const sql = await modelSql('daily_rollups');
  const chunks = new Map<number, string[]>();
  if (scope.days === undefined) {
    const span = await db.one<{ first: number | null; last: number | null }>(
      `select cast(year(timezone(getvariable('scope_timezone'), min(started_at))) as integer) as first,
              cast(year(timezone(getvariable('scope_timezone'), max(started_at))) as integer) as last
       from plays where user_id = getvariable('scope_user_id')`,
    );
    if (span?.first != null && span.last != null) {
      for (let y = span.first; y <= span.last; y++) chunks.set(y, datesOfYear(y));
    }
  } else {
    for (const d of [...new Set(scope.days)].sort()) {
      const y = Number(d.slice(0, 4));
      chunks.set(y, [...(chunks.get(y) ?? []), d]);
    }
  }
  // Consecutive years are built together while they hold at most PLAYS_PER_PASS plays: fewer passes
  // over the files for light years, bounded memory for heavy ones.
  const perYear = new Map(
    (
      await db.all<{ y: number; n: number }>(
        `select cast(year(timezone(getvariable('scope_timezone'), started_at)) as integer) as y, count(*) as n
         from plays where user_id = getvariable('scope_user_id') group by all`,
      )
    ).map((r) => [r.y, r.n]),
  );
  const passes: string[][] = [];
  let plays = Infinity;
  for (const [year, days] of [...chunks.entries()].sort((a, b) => a[0] - b[0])) {
    const n = perYear.get(year) ?? 0;
    if (plays + n > PLAYS_PER_PASS) {
      passes.push([]);
      plays = 0;
    }
    passes.at(-1)!.push(...days);
    plays += n;
  }
  await setScopeDays(db, []);
  await db.run(`CREATE TEMP TABLE ${ident(table)} AS\n${sql}\n`);
  for (const days of passes) {
    await setScopeDays(db, days);
    await db.run(`INSERT INTO ${ident(table)} BY NAME SELECT * FROM (\n${sql}\n)`);
  }
  await setScopeDays(db, scope.days);
  return (await db.one<{ n: number }>(`select count(*) as n from ${ident(table)}`))?.n ?? 0;
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
  try {
    await setModelVariables(db, scope);
    await db.run(`CREATE TEMP VIEW plays AS ${await playsSource(layout, userId)}`);
    await db.run(`CREATE TEMP VIEW int_plays_local AS\n${await modelSql('int_plays_local')}\n`);
    // The user's daily_rollups as they must now be, in the temporary table daily_rollups: the days
    // in scope rebuilt, the other days as stored.
    let rebuilt: number;
    if (full) rebuilt = await rebuildDays(db, scope, 'daily_rollups');
    else {
      rebuilt = await rebuildDays(db, scope, 'daily_rollups__rebuilt');
      await db.run(
        `CREATE TEMP TABLE daily_rollups AS
         select * from daily_rollups__rebuilt
         union all by name
         select * from (${await martSource(layout, 'daily_rollups', userId)})
         where local_date not in (select unnest(getvariable('scope_days')))`,
      );
    }
    const dailyRows = await writeGeneration(
      db,
      layout.martPartition('daily_rollups', userId),
      `select ${martColumnsWithoutUser('daily_rollups')} from temp.daily_rollups order by ${MART_ORDER.daily_rollups}`,
    );

    await db.run(`CREATE TEMP TABLE period_snapshots AS\n${await modelSql('period_snapshots')}\n`);
    const snapshotRows = await writeGeneration(
      db,
      layout.martPartition('period_snapshots', userId),
      `select ${martColumnsWithoutUser('period_snapshots')} from temp.period_snapshots order by ${MART_ORDER.period_snapshots}`,
    );

    const iso = now.toISOString();
    // Builds of different users may finish together: the shared freshness file is updated under a lock.
    await withLock(layout, 'models-state', async () => {
      const state = await readModelState(layout);
      state[userId] = { daily_rollups: iso, period_snapshots: iso, timezone: opts.timezone };
      await writeJsonAtomic(layout.models, state);
    });

    return { days: rebuilt, dailyRows, snapshotRows, full };
  } finally {
    // Best effort: a failure here must not hide the build's own error.
    await cleanUp(db).catch(() => undefined);
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
