/**
 * The dashboards' access to the warehouse, and the build of a user's site.
 *
 * Datasets: every file the Observable Framework site (dashboards/) reads is one dataset here, a
 * query over the same views `rewind sql` has (`plays`, `daily_rollups`, `period_snapshots`, the
 * `int_plays_local` model for local days and hours, and the shared catalog's `tracks` and `artists`
 * for album art), restricted to ONE user's files: the other users' files are not even listed. A
 * dataset is answered as Arrow IPC bytes (compact, columnar: strings dictionary-encoded, integers in
 * the smallest type that holds them, dates as days; the same values always give the same bytes),
 * which the site reads with apache-arrow. The site's one data loader
 * (dashboards/src/data/warehouse.zip.ts) is a ZIP of every dataset (`<dataset>.arrow`); Framework
 * extracts the members each page references, so a browser fetches only the Arrow files of the page
 * it shows.
 *
 * The site build (`buildSite`), in the build's own process:
 * 1. the datasets, computed in one DuckDB session (the plays localized once), each kept in the user's
 *    dataset cache (`<home>/tmp/site-build/<user>/datasets/`) under a key made of the live files it
 *    reads (DatasetInput), the user's settings and the code: a dataset whose files did not change is
 *    read back, not computed;
 * 2. the pages: when the site's shape (the dashboards project, the libraries, the years, Framework)
 *    is the last Framework build's, the last site is copied with its data files replaced and the
 *    pages' `registerFile` lines pointed at them (byte for byte what Framework would write, but the
 *    files' times); otherwise Observable Framework builds every page in a per-user copy of the project
 *    (`<home>/tmp/site-build/<user>/`: symlinks to dashboards/, so the source tree never holds user
 *    data or a Framework cache), its loader output handed to it ready-made (no loader process);
 * 3. the result swapped into `layout.site(user)` (served by the API behind login) only when the whole
 *    build succeeded.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import yazl from 'yazl';
import {
  Bool,
  DateDay,
  Dictionary,
  Float64,
  Int8,
  Int16,
  Int32,
  Table,
  TimestampMillisecond,
  Utf8,
  type DataType,
  type Vector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import { type Config, PROJECT_ROOT, loadConfig, siteBuildEnv } from '../config.ts';
import { type Db, type DbOptions, ident, withDb } from './duckdb.ts';
import { Layout, MARTS, assertUserId } from './layout.ts';
import { listManifests } from './manifest.ts';
import { liveFile, liveFiles, readJson, writeJsonAtomic } from './files.ts';
import type { SyncState } from '../spotify/sync-state.ts';
import { catalogSource, enrichmentBacklogIn } from './catalog.ts';
import { DIMENSIONS, martSource, modelSql, playsSource, readModelState, setModelVariables } from './models.ts';
import { withLock } from './lock.ts';
import { getUser } from './users.ts';

// ---------------------------------------------------------------------------------------------
// Arrow encoding

/** A column of a dataset: its name, how it is encoded, and its values (one per row). */
export interface Column {
  name: string;
  kind: ColumnKind;
  values: unknown[];
}
export type ColumnKind = 'string' | 'int' | 'float' | 'date' | 'timestamp' | 'bool';

/** How a DuckDB type is encoded in the dataset's Arrow file. Nested types are not allowed. */
export function columnKind(duckType: string): ColumnKind {
  if (duckType === 'VARCHAR') return 'string';
  if (duckType === 'DATE') return 'date';
  if (duckType.startsWith('TIMESTAMP')) return 'timestamp';
  if (duckType === 'BOOLEAN') return 'bool';
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/.test(duckType)) return 'int';
  if (/^(FLOAT|DOUBLE|DECIMAL)/.test(duckType)) return 'float';
  throw new Error(`a dataset column of type ${duckType} cannot be encoded (flatten lists and structs in SQL)`);
}

function toNumber(v: unknown, column: string): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'bigint' ? Number(v) : Number(v);
  if (typeof v === 'bigint' && !Number.isSafeInteger(n)) throw new Error(`column ${column}: ${v} does not fit a double exactly`);
  return n;
}

const INT32_MAX = 2 ** 31 - 1;

/** A column as an Arrow vector; `id` numbers its dictionary (the file's bytes depend on nothing but the values). */
function vectorOf(column: Column, id: number): Vector {
  const { name, kind, values } = column;
  let type: DataType;
  let data: unknown[] = values;
  switch (kind) {
    case 'string': {
      data = values.map((v) => (v === null || v === undefined ? null : String(v)));
      const distinct = new Set(data).size;
      type = new Dictionary(new Utf8(), distinct < 128 ? new Int8() : distinct < 32_768 ? new Int16() : new Int32(), id);
      break;
    }
    case 'int': {
      const numbers = values.map((v) => toNumber(v, name));
      data = numbers;
      let lo = 0;
      let hi = 0;
      for (const v of numbers) {
        if (v === null) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      // The smallest integer type that holds every value; doubles beyond 32 bits (exact to 2^53).
      type = lo >= -128 && hi <= 127 ? new Int8() : lo >= -32_768 && hi <= 32_767 ? new Int16() : lo >= -INT32_MAX - 1 && hi <= INT32_MAX ? new Int32() : new Float64();
      break;
    }
    case 'float':
      type = new Float64();
      data = values.map((v) => toNumber(v, name));
      break;
    case 'date':
      type = new DateDay();
      data = values.map((v) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(`${String(v)}T00:00:00Z`)));
      break;
    case 'timestamp':
      type = new TimestampMillisecond();
      data = values.map((v) => (v === null || v === undefined ? null : v instanceof Date ? v.getTime() : new Date(String(v)).getTime()));
      break;
    case 'bool':
      type = new Bool();
      data = values.map((v) => (v === null || v === undefined ? null : Boolean(v)));
      break;
  }
  return vectorFromArray(data, type);
}

/** Arrow IPC (stream format) bytes of the columns. */
export function encodeArrow(columns: readonly Column[]): Uint8Array {
  const vectors: Record<string, Vector> = {};
  columns.forEach((c, i) => (vectors[c.name] = vectorOf(c, i)));
  return tableToIPC(new Table(vectors), 'stream');
}

/** Run `sql` and return its result as dataset columns. */
async function queryColumns(db: Db, sql: string, params?: Record<string, string | number>): Promise<Column[]> {
  const reader = await db.connection.runAndReadAll(sql, params);
  const names = reader.columnNames();
  const types = reader.columnTypes().map((t) => t.toString());
  const values = reader.getColumnsJS();
  return names.map((name, i) => ({ name, kind: columnKind(types[i]!), values: values[i] ?? [] }));
}

// ---------------------------------------------------------------------------------------------
// Datasets

/**
 * Intermediate tables several datasets read, each built once per session when a dataset needs it
 * (so a build reads and localizes the plays once, and unnests the daily lists once).
 */
const SHARED_TABLES = {
  /** The int_plays_local model (plays in the user's time zone), only the columns datasets read. */
  local_plays: async (scope: DatasetScope) => {
    await setModelVariables(scope.db, { userId: scope.userId, timezone: scope.timezone });
    await scope.db.run(`CREATE OR REPLACE TEMP VIEW int_plays_keyed AS\n${await modelSql('int_plays_keyed')}\n`);
    return `select started_at, ended_at, local_started_at, local_date, local_hour, kind, ms_played, is_listen, is_skip,
                   track_key, track_name, artist_name, platform, shuffle
            from (\n${await modelSql('int_plays_local')}\n)`;
  },
  /**
   * Every entry of the daily artists / tracks / albums lists, with the key period_snapshots ranks by
   * and the names of the dimensions (the lists hold keys only).
   */
  day_entries: async () => `
    select x.local_date, 'artist' as entity, x.e.artist_key as entry_key, n.artist_name as name,
           cast(null as varchar) as artist, x.e.plays as plays, x.e.ms as ms
    from (select local_date, unnest(artists) as e from daily_rollups) as x
    inner join dim_artists as n on n.artist_key = x.e.artist_key
    union all
    select x.local_date, 'track', x.e.track_key, n.track_name, n.artist_name, x.e.plays, x.e.ms
    from (select local_date, unnest(tracks) as e from daily_rollups) as x
    inner join dim_tracks as n on n.track_key = x.e.track_key
    union all
    select x.local_date, 'album', x.e.album_key, n.album_name, n.artist_name, x.e.plays, x.e.ms
    from (select local_date, unnest(albums) as e from daily_rollups) as x
    inner join dim_albums as n on n.album_key = x.e.album_key`,
  /** Every entry of the top lists of period_snapshots, with its key (and a track's latest URI). */
  snapshot_tops: async () => `
    select s.period_type, s.period_key, s.period_start, 'artist' as entity, e.rank, e.artist_name as name,
           cast(null as varchar) as artist, cast(null as varchar) as album,
           lower(trim(e.artist_name)) as entry_key, cast(null as varchar) as track_uri, e.plays, e.ms
    from period_snapshots s, unnest(s.top_artists) as t(e)
    union all
    select s.period_type, s.period_key, s.period_start, 'track', e.rank, e.track_name, e.artist_name, e.album_name,
           lower(trim(e.artist_name)) || chr(31) || lower(trim(e.track_name)), e.track_uri, e.plays, e.ms
    from period_snapshots s, unnest(s.top_tracks) as t(e)
    union all
    select s.period_type, s.period_key, s.period_start, 'album', e.rank, e.album_name, e.artist_name, cast(null as varchar),
           lower(trim(e.artist_name)) || chr(31) || lower(trim(e.album_name)), cast(null as varchar), e.plays, e.ms
    from period_snapshots s, unnest(s.top_albums) as t(e)`,
  /**
   * Album art where enrichment found it (the shared catalog, warehouse/catalog.ts): one row per entry
   * of the user's top lists (any period, as the lists spell it) that has an image, never the whole
   * catalog. A track: its album's image, by the URI the top list carries, else by artist + track
   * name, else by its artist + album name; an album: by artist + album name; an artist: by name,
   * preferring an artist credited on one of the user's top tracks (names are not unique on Spotify).
   */
  entry_art: async () => `
    with entries as (
        select distinct entity, name, artist, album, entry_key, track_uri from snapshot_tops
    ),
    top_tracks as (
        select t.* from tracks t semi join entries e on e.entity = 'track' and e.track_uri = t.track_uri
    ),
    credited as (
        select distinct unnest(artist_uris) as artist_uri from top_tracks
    ),
    candidates as (
        select e.entity, e.name, e.artist, t.album_image_url as image, 1 as preference, t.fetched_at, t.track_uri as id
        from entries e inner join top_tracks t on t.track_uri = e.track_uri
        where e.entity = 'track' and t.album_image_url is not null
        union all
        select e.entity, e.name, e.artist, t.album_image_url, 2, t.fetched_at, t.track_uri
        from entries e inner join tracks t on lower(trim(t.artist_names[1])) || chr(31) || lower(trim(t.name)) = e.entry_key
        where e.entity = 'track' and t.album_image_url is not null
        union all
        select e.entity, e.name, e.artist, t.album_image_url, 2, t.fetched_at, t.album_uri
        from entries e inner join tracks t on lower(trim(t.artist_names[1])) || chr(31) || lower(trim(t.album_name)) = e.entry_key
        where e.entity = 'album' and t.album_image_url is not null
        union all
        select e.entity, e.name, e.artist, t.album_image_url, 3, t.fetched_at, t.album_uri
        from entries e inner join tracks t
            on lower(trim(t.artist_names[1])) || chr(31) || lower(trim(t.album_name)) = lower(trim(e.artist)) || chr(31) || lower(trim(e.album))
        where e.entity = 'track' and t.album_image_url is not null
        union all
        select e.entity, e.name, e.artist, a.image_url, case when c.artist_uri is null then 2 else 1 end, a.fetched_at, a.artist_uri
        from entries e inner join artists a on lower(trim(a.name)) = e.entry_key
        left join credited c on c.artist_uri = a.artist_uri
        where e.entity = 'artist' and a.image_url is not null
    ),
    final as (
        select entity, name, artist, image from candidates
        qualify row_number() over (partition by entity, name, artist order by preference, fetched_at desc nulls last, id) = 1
    )
    select * from final`,
} satisfies Record<string, (scope: DatasetScope) => Promise<string>>;

type SharedTable = keyof typeof SHARED_TABLES;

/** What a dataset query can use besides its views. */
interface DatasetScope {
  db: Db;
  layout: Layout;
  userId: string;
  timezone: string;
  sessionGapMinutes: number;
  /** The Temporal UI's address when Rewind runs the embedded dev server (links to workflows). */
  temporalUi: string | undefined;
  temporalNamespace: string;
  /** Create the shared tables (temp tables named as in SHARED_TABLES) that are not there yet. */
  need(tables: readonly SharedTable[]): Promise<void>;
}

/**
 * What a dataset reads besides the user's settings (time zone, session gap, Temporal UI), for the
 * dataset cache of the site build: a dataset is computed again only when one of these changed.
 */
export type DatasetInput =
  | 'plays' // the user's live plays files (one per year partition)
  | 'daily_rollups' // the user's live daily_rollups file and name dimensions (dim_artists, dim_tracks, dim_albums)
  | 'period_snapshots' // the user's live period_snapshots file
  | 'catalog' // the shared catalog's live tracks and artists files
  | 'sync_state' // the user's sync state (sync/<user>.json)
  | 'manifests'; // the user's import manifests

interface Dataset {
  /** One line for the site's readers and the docs. */
  about: string;
  /** What it reads; 'always' = computed at every build (it depends on the clock, or is too cheap to keep). */
  inputs: readonly DatasetInput[] | 'always';
  /** Shared tables the query reads. */
  needs?: readonly SharedTable[];
  columns(scope: DatasetScope): Promise<Column[]>;
}

const sqlDataset = (about: string, inputs: readonly DatasetInput[], sql: string, needs: readonly SharedTable[] = []): Dataset => ({
  about,
  inputs,
  needs,
  async columns(scope) {
    await scope.need(needs);
    return queryColumns(scope.db, sql);
  },
});

/** Platform strings vary by device and version: the family they belong to. */
const PLATFORM_FAMILY = `case
    when platform is null or trim(platform) = '' then 'Unknown'
    when lower(platform) like '%web_player%' or lower(platform) like '%web player%' then 'Web player'
    when lower(platform) like '%ios%' or lower(platform) like '%iphone%' or lower(platform) like '%ipad%' then 'iOS'
    when lower(platform) like '%android%' then 'Android'
    when lower(platform) like '%windows%' then 'Windows'
    when lower(platform) like '%osx%' or lower(platform) like '%os x%' or lower(platform) like '%macos%' then 'macOS'
    when lower(platform) like '%linux%' then 'Linux'
    when lower(platform) like '%cast%' or lower(platform) like '%partner%' or lower(platform) like '%sonos%'
      or lower(platform) like '%speaker%' or lower(platform) like '%tv%' then 'Cast, TV and speakers'
    else 'Other'
  end`;

/**
 * The top lists of some periods (period_snapshots), one row per entry, with the entry's rank in the
 * previous period's top 50 (NULL when it was not in it). The previous period of a calendar month or
 * year is the one before it (its snapshot); of a rolling period, the window of the same length just
 * before it, ranked from daily_rollups the way period_snapshots ranks (plays, then ms, then key).
 */
function topSql(periodTypes: readonly string[], limit = 50): string {
  const types = periodTypes.map((t) => `'${t}'`).join(', ');
  return `
with entries as (
    select * from snapshot_tops where period_type in (${types}) and rank <= ${Number(limit)}
),

-- Calendar periods: the rank in the previous calendar period's snapshot.
calendar_previous as (
    select
        period_type,
        case when period_type = 'calendar_year' then cast(make_date(year(period_start) + 1, 1, 1) as date)
             else cast(period_start + interval 1 month as date) end as next_start,
        entity, entry_key, rank as prev_rank
    from snapshot_tops
    where period_type in ('calendar_year', 'calendar_month') and period_type in (${types})
),

-- Rolling periods: the days of the window just before, ranked as period_snapshots ranks.
rolling_windows as (
    select period_type,
           cast(period_start - cast(period_end - period_start + 1 as integer) as date) as prev_start,
           cast(period_start - 1 as date) as prev_end
    from period_snapshots
    where period_type in ('week', 'month', 'quarter', 'year') and period_type in (${types})
),

rolling_previous as (
    select w.period_type, d.entity, d.entry_key,
           row_number() over (partition by w.period_type, d.entity order by sum(d.plays) desc, sum(d.ms) desc, d.entry_key) as prev_rank
    from rolling_windows w
    inner join day_entries d on d.local_date between w.prev_start and w.prev_end
    group by w.period_type, d.entity, d.entry_key
    qualify prev_rank <= 50
),

final as (
    select
        case when e.period_type in ('calendar_year', 'calendar_month') then e.period_key else e.period_type end as period,
        e.entity, e.rank, e.name, e.artist, e.album, e.plays, e.ms,
        coalesce(c.prev_rank, r.prev_rank) as prev_rank
    from entries e
    left join calendar_previous c
        on c.period_type = e.period_type and c.next_start = e.period_start
        and c.entity = e.entity and c.entry_key = e.entry_key
    left join rolling_previous r
        on r.period_type = e.period_type and r.entity = e.entity and r.entry_key = e.entry_key
)

select * from final order by period, entity, rank`;
}

export const DATASETS: Record<string, Dataset> = {
  meta: {
    about: 'who and when: user, time zone, build time, first and last day, number of plays',
    inputs: ['period_snapshots', 'daily_rollups', 'plays'],
    async columns(scope) {
      return queryColumns(
        scope.db,
        `select
             $user::VARCHAR as user_id,
             $timezone::VARCHAR as timezone,
             (select max(built_at) from period_snapshots) as built_at,
             (select max(period_end) from period_snapshots where period_type = 'week') as build_date,
             (select min(local_date) from daily_rollups) as first_date,
             (select max(local_date) from daily_rollups) as last_date,
             (select count(*) from plays) as plays,
             (select count(*) from daily_rollups) as days,
             $gap::INTEGER as session_gap_minutes`,
        { user: scope.userId, timezone: scope.timezone, gap: scope.sessionGapMinutes },
      );
    },
  },

  periods: sqlDataset(
    'last 7 / 30 / 90 / 365 days and all time (period_snapshots), with the same totals for the window just before (daily_rollups)',
    ['period_snapshots', 'daily_rollups'],
    `with current_periods as (
         select period_type, period_start, period_end, streams, listens, skips, track_ms, episode_ms, audiobook_ms,
                active_days, unique_tracks, unique_artists, unique_albums, longest_streak_days,
                case when period_type = 'all_time' then null
                     else cast(period_start - cast(period_end - period_start + 1 as integer) as date) end as prev_start,
                case when period_type = 'all_time' then null else cast(period_start - 1 as date) end as prev_end
         from period_snapshots
         where period_type in ('week', 'month', 'quarter', 'year', 'all_time')
     ),
     previous as (
         select p.period_type,
                cast(sum(d.listens) as bigint) as prev_listens,
                cast(sum(d.track_ms) as bigint) as prev_track_ms,
                cast(sum(d.episode_ms) as bigint) as prev_episode_ms,
                count(*) filter (where d.listens > 0) as prev_active_days
         from current_periods p
         inner join daily_rollups d on d.local_date between p.prev_start and p.prev_end
         group by p.period_type
     ),
     history as (select min(local_date) as first_date from daily_rollups),
     final as (
         select c.*,
                case when c.period_type = 'all_time' then null else coalesce(p.prev_listens, 0) end as prev_listens,
                case when c.period_type = 'all_time' then null else coalesce(p.prev_track_ms, 0) end as prev_track_ms,
                case when c.period_type = 'all_time' then null else coalesce(p.prev_episode_ms, 0) end as prev_episode_ms,
                case when c.period_type = 'all_time' then null else coalesce(p.prev_active_days, 0) end as prev_active_days,
                coalesce(c.prev_start >= h.first_date, false) as prev_complete
         from current_periods c
         cross join history h
         left join previous p using (period_type)
     )
     select * from final
     order by list_position(['week', 'month', 'quarter', 'year', 'all_time'], period_type)`,
  ),

  weeks: sqlDataset(
    'listening per week (Monday to Sunday, local days) over the whole history (daily_rollups)',
    ['daily_rollups'],
    `select cast(date_trunc('week', local_date) as date) as week,
            cast(sum(listens) as bigint) as listens,
            cast(sum(track_ms) as bigint) as track_ms,
            cast(sum(episode_ms) as bigint) as episode_ms,
            count(*) filter (where listens > 0) as active_days
     from daily_rollups group by 1 order by 1`,
  ),

  days: sqlDataset(
    'one row per local day with any stream (daily_rollups totals)',
    ['daily_rollups'],
    `select local_date, streams, listens, skips, track_ms, episode_ms, audiobook_ms
     from daily_rollups order by local_date`,
  ),

  months: sqlDataset(
    'one row per calendar month with data (period_snapshots calendar_month)',
    ['period_snapshots'],
    `select period_key as month, period_start, streams, listens, skips, track_ms, episode_ms, audiobook_ms,
            active_days, unique_tracks, unique_artists, unique_albums, longest_streak_days
     from period_snapshots where period_type = 'calendar_month' order by period_key`,
  ),

  top: sqlDataset(
    'top 50 artists, tracks, albums of the rolling periods, all time and each calendar year, with the rank in the previous top 50',
    ['period_snapshots', 'daily_rollups'],
    topSql(['week', 'month', 'quarter', 'year', 'all_time', 'calendar_year']),
    ['snapshot_tops', 'day_entries'],
  ),

  // The months' lists stop at 25 (the page fetches them when a month is picked: 180 months of a
  // 15-year history would be over 0.5 MB with 50 each); the rank before is still in the top 50.
  top_months: sqlDataset(
    "top 25 artists, tracks, albums of each calendar month, with the rank in the previous month's top 50",
    ['period_snapshots', 'daily_rollups'],
    topSql(['calendar_month'], 25),
    ['snapshot_tops', 'day_entries'],
  ),

  clock: sqlDataset(
    'listens and track time per local weekday x hour, per calendar year and for all time (daily_rollups hourly)',
    ['daily_rollups'],
    `with hours as (
         select cast(year(local_date) as varchar) as period, cast(isodow(local_date) as integer) as iso_weekday,
                e.hour, e.listens, e.ms
         from daily_rollups, unnest(hourly) as t(e)
     )
     select period, iso_weekday, hour, cast(sum(listens) as bigint) as listens, cast(sum(ms) as bigint) as ms
     from hours group by all
     union all
     select 'all', iso_weekday, hour, cast(sum(listens) as bigint), cast(sum(ms) as bigint)
     from hours group by all
     order by period, iso_weekday, hour`,
  ),

  skips: sqlDataset(
    'track streams and skips (under 30 s) by local hour, platform family and shuffle (int_plays_local)',
    ['plays'],
    `with counts as (
         select local_hour, platform, shuffle, count(*) as track_streams, count(*) filter (where is_skip) as skips
         from local_plays where kind = 'track' group by all
     )
     select 'hour' as dimension, lpad(cast(local_hour as varchar), 2, '0') as key, local_hour as sort,
            cast(sum(track_streams) as bigint) as track_streams, cast(sum(skips) as bigint) as skips
     from counts group by all
     union all
     select 'platform', ${PLATFORM_FAMILY}, 0, cast(sum(track_streams) as bigint), cast(sum(skips) as bigint)
     from counts group by all
     union all
     select 'shuffle', case when shuffle then 'Shuffle on' when not shuffle then 'Shuffle off' else 'Unknown' end,
            case when shuffle then 1 when not shuffle then 0 else 2 end,
            cast(sum(track_streams) as bigint), cast(sum(skips) as bigint)
     from counts group by all
     order by dimension, sort, key`,
    ['local_plays'],
  ),

  sessions: {
    about: 'listening sessions (streams separated by less than the session gap) per local year and length bucket',
    inputs: ['plays'],
    needs: ['local_plays'],
    async columns(scope) {
      await scope.need(['local_plays']);
      return queryColumns(
        scope.db,
        `with ordered as (
             select started_at, ended_at, local_date,
                    max(ended_at) over (order by started_at, ended_at rows between unbounded preceding and 1 preceding) as prev_end
             from local_plays
         ),
         numbered as (
             select *, sum(case when prev_end is null or started_at - prev_end > to_minutes(cast($gap as bigint)) then 1 else 0 end)
                       over (order by started_at, ended_at rows unbounded preceding) as session_no
             from ordered
         ),
         sessions as (
             select session_no, min(local_date) as local_date, count(*) as streams,
                    epoch(max(ended_at) - min(started_at)) / 60.0 as minutes
             from numbered group by session_no
         ),
         buckets as (
             select lo, hi, label, sort
             from (values (0, 5, '< 5 min', 1), (5, 15, '5-15 min', 2), (15, 30, '15-30 min', 3), (30, 60, '30-60 min', 4),
                          (60, 120, '1-2 h', 5), (120, 240, '2-4 h', 6), (240, 100000000, '4 h +', 7)) as b(lo, hi, label, sort)
         ),
         final as (
             select cast(year(s.local_date) as varchar) as year, b.label as bucket, b.sort as bucket_sort,
                    count(*) as sessions, cast(sum(s.streams) as bigint) as streams, sum(s.minutes) as minutes
             from sessions s
             inner join buckets b on s.minutes >= b.lo and s.minutes < b.hi
             group by all
         )
         select * from final order by year, bucket_sort`,
        { gap: scope.sessionGapMinutes },
      );
    },
  },

  skipped_tracks: sqlDataset(
    'the 50 most skipped tracks (track streams under 30 s), with their streams and skip rate (int_plays_local)',
    ['plays'],
    `with tracks as (
         select track_key, arg_max(track_name, started_at) as track_name, arg_max(artist_name, started_at) as artist_name,
                count(*) as track_streams, count(*) filter (where is_skip) as skips
         from local_plays
         where kind = 'track' and track_key is not null
         group by track_key
     )
     select track_name, artist_name, track_streams, skips, skips / track_streams as skip_rate
     from tracks where skips > 0
     order by skips desc, skip_rate desc, track_key limit 50`,
    ['local_plays'],
  ),

  discovery: sqlDataset(
    'per calendar month: artists and tracks first heard, and how much of the track time went to tracks first heard that month (daily_rollups lists)',
    ['daily_rollups'],
    `with firsts as (
         select entity, entry_key, date_trunc('month', min(local_date)) as first_month
         from day_entries where entity in ('artist', 'track') group by all
     ),
     month_tracks as (
         select date_trunc('month', d.local_date) as month,
                cast(sum(d.ms) as bigint) as named_track_ms,
                cast(coalesce(sum(d.ms) filter (where f.first_month = date_trunc('month', d.local_date)), 0) as bigint) as new_track_ms,
                cast(coalesce(sum(d.plays) filter (where f.first_month = date_trunc('month', d.local_date)), 0) as bigint) as new_track_plays
         from day_entries d inner join firsts f using (entity, entry_key)
         where d.entity = 'track'
         group by 1
     ),
     new_entries as (
         select first_month as month,
                count(*) filter (where entity = 'artist') as new_artists,
                count(*) filter (where entity = 'track') as new_tracks
         from firsts group by 1
     ),
     months as (
         select date_trunc('month', local_date) as month, cast(sum(track_ms) as bigint) as track_ms,
                cast(sum(listens) as bigint) as listens
         from daily_rollups group by 1
     )
     select cast(m.month as date) as month, coalesce(n.new_artists, 0) as new_artists, coalesce(n.new_tracks, 0) as new_tracks,
            m.listens, m.track_ms, coalesce(t.named_track_ms, 0) as named_track_ms,
            coalesce(t.new_track_ms, 0) as new_track_ms, coalesce(t.new_track_plays, 0) as new_track_plays
     from months m
     left join month_tracks t using (month)
     left join new_entries n using (month)
     order by m.month`,
    ['day_entries'],
  ),

  forgotten: sqlDataset(
    'all-time top 100 artists and tracks (by plays) not heard in the 180 days before the build (daily_rollups lists)',
    ['daily_rollups', 'period_snapshots'],
    `with build as (select max(period_end) as build_date from period_snapshots where period_type = 'week'),
     totals as (
         select entity, entry_key, arg_max(name, local_date) as name, arg_max(artist, local_date) as artist,
                cast(sum(plays) as bigint) as plays, cast(sum(ms) as bigint) as ms,
                min(local_date) as first_date, max(local_date) as last_date
         from day_entries where entity in ('artist', 'track') group by all
     ),
     ranked as (
         select *, row_number() over (partition by entity order by plays desc, ms desc, entry_key) as rank from totals
         qualify rank <= 100
     )
     select entity, rank, name, artist, plays, ms, first_date, last_date,
            cast(build.build_date - last_date as integer) as days_since
     from ranked cross join build
     where last_date < build.build_date - 180
     order by entity, rank`,
    ['day_entries'],
  ),

  years: sqlDataset(
    'one row per calendar year: totals and streak (period_snapshots), top month, biggest day (daily_rollups), first and last song (int_plays_local)',
    ['period_snapshots', 'daily_rollups', 'plays'],
    `with years as (
         select period_key as year, streams, listens, skips, track_ms, episode_ms, active_days,
                unique_tracks, unique_artists, unique_albums,
                longest_streak_days, longest_streak_start, longest_streak_end
         from period_snapshots where period_type = 'calendar_year'
     ),
     top_months as (
         select left(period_key, 4) as year,
                first(period_key order by track_ms desc, period_key) as top_month,
                max(track_ms) as top_month_track_ms,
                first(listens order by track_ms desc, period_key) as top_month_listens
         from period_snapshots where period_type = 'calendar_month' group by 1
     ),
     biggest_days as (
         select cast(year(local_date) as varchar) as year,
                first(local_date order by track_ms desc, local_date) as biggest_day,
                max(track_ms) as biggest_day_track_ms,
                first(listens order by track_ms desc, local_date) as biggest_day_listens
         from daily_rollups group by 1
     ),
     songs as (
         select cast(year(local_date) as varchar) as year,
                first(track_name order by started_at, ended_at) as first_track,
                first(artist_name order by started_at, ended_at) as first_artist,
                min(local_started_at) as first_at,
                first(track_name order by started_at desc, ended_at desc) as last_track,
                first(artist_name order by started_at desc, ended_at desc) as last_artist,
                max(local_started_at) as last_at
         from local_plays where is_listen group by 1
     )
     select * from years
     left join top_months using (year)
     left join biggest_days using (year)
     left join songs using (year)
     order by year`,
    ['local_plays'],
  ),

  year_tops: sqlDataset(
    'the top five artists, tracks and albums of each calendar year (period_snapshots), with the image enrichment found (see art)',
    ['period_snapshots', 'catalog'],
    `select t.period_key as year, t.entity, t.rank, t.name, t.artist, t.plays, t.ms, a.image
     from snapshot_tops t
     left join entry_art a on a.entity = t.entity and a.name = t.name and a.artist is not distinct from t.artist
     where t.period_type = 'calendar_year' and t.rank <= 5
     order by year, t.entity, t.rank`,
    ['snapshot_tops', 'entry_art'],
  ),

  art: sqlDataset(
    "images of the entries of the user's top lists that the catalog has one for (album art for tracks and albums, the artist's image)",
    ['period_snapshots', 'catalog'],
    `select entity, name, artist, image from entry_art order by entity, name, artist`,
    ['snapshot_tops', 'entry_art'],
  ),

  shows: sqlDataset(
    'podcast shows: episode streams, time, first and last day (daily_rollups shows)',
    ['daily_rollups'],
    `select e.show_name, cast(sum(e.streams) as bigint) as streams, cast(sum(e.ms) as bigint) as ms,
            min(d.local_date) as first_date, max(d.local_date) as last_date, count(*) as days
     from daily_rollups d, unnest(d.shows) as t(e)
     group by e.show_name order by ms desc, e.show_name`,
  ),

  podcast_months: sqlDataset(
    'podcast time per calendar month for the eight most listened shows and the rest (daily_rollups shows)',
    ['daily_rollups'],
    `with shows as (
         select date_trunc('month', d.local_date) as month, e.show_name, e.ms from daily_rollups d, unnest(d.shows) as t(e)
     ),
     top as (select show_name from shows group by 1 order by sum(ms) desc, show_name limit 8)
     select cast(month as date) as month,
            case when show_name in (select show_name from top) then show_name else 'Other shows' end as show_name,
            cast(sum(ms) as bigint) as ms
     from shows group by all order by all`,
  ),

  sources: sqlDataset(
    'plays per source per UTC month of ended_at, with their time (plays)',
    ['plays'],
    `select cast(date_trunc('month', ended_at) as date) as month, source, count(*) as plays,
            cast(coalesce(sum(ms_played), 0) as bigint) as ms
     from plays group by all order by all`,
  ),

  sync: {
    about: "the live Spotify sync's state (spotify/sync-state.ts): last run, cursor, schedule; no row when it never ran",
    inputs: ['sync_state'],
    async columns(scope) {
      const state = (await readJson<SyncState>(scope.layout.syncState(scope.userId))) ?? undefined;
      const rows = state ? [state] : [];
      const col = (name: string, kind: ColumnKind, f: (s: SyncState) => unknown): Column => ({ name, kind, values: rows.map(f) });
      return [
        col('cursor', 'timestamp', (s) => (s.cursor === null ? null : new Date(s.cursor))),
        col('last_workflow_id', 'string', (s) => s.lastRun?.workflowId ?? null),
        col('last_started_at', 'timestamp', (s) => s.lastRun?.startedAt ?? null),
        col('last_finished_at', 'timestamp', (s) => s.lastRun?.finishedAt ?? null),
        col('last_status', 'string', (s) => s.lastRun?.status ?? null),
        col('last_fetched', 'int', (s) => s.lastRun?.fetched ?? null),
        col('last_added', 'int', (s) => s.lastRun?.added ?? null),
        col('last_error', 'string', (s) => s.lastRun?.error ?? null),
        col('last_success_at', 'timestamp', (s) => s.lastSuccessAt ?? null),
        col('rate_limited_until', 'timestamp', (s) => s.rateLimitedUntil ?? null),
        col('interval_seconds', 'int', (s) => s.schedule?.intervalSeconds ?? null),
        col('paused', 'bool', (s) => s.schedule?.paused ?? null),
        col('temporal_ui', 'string', () => scope.temporalUi ?? null),
        col('temporal_namespace', 'string', () => scope.temporalNamespace),
      ];
    },
  },

  enrichment: {
    about: "the shared catalog's enrichment among the user's plays (warehouse/catalog.ts): tracks without metadata, artists without genres or image, the last run, audio features on/off",
    inputs: 'always',
    async columns(scope) {
      const b = await enrichmentBacklogIn(scope.db, scope.layout, { userId: scope.userId });
      return [
        { name: 'tracks_pending', kind: 'int', values: [b.tracksPending] },
        { name: 'artists_pending', kind: 'int', values: [b.artistsPending] },
        { name: 'last_run_at', kind: 'timestamp', values: [b.lastRunAt] },
        { name: 'audio_features', kind: 'string', values: [b.audioFeatures] },
      ];
    },
  },

  sync_gaps: {
    about: 'spans the live sync could not cover (more than 50 plays between two syncs): import an export to fill them',
    inputs: ['sync_state'],
    async columns(scope) {
      const state = await readJson<SyncState>(scope.layout.syncState(scope.userId));
      const gaps = state?.gaps ?? [];
      return [
        { name: 'from', kind: 'timestamp', values: gaps.map((g) => g.from) },
        { name: 'to', kind: 'timestamp', values: gaps.map((g) => g.to) },
        { name: 'detected_at', kind: 'timestamp', values: gaps.map((g) => g.detectedAt) },
        { name: 'suggestion', kind: 'string', values: gaps.map((g) => g.suggestion) },
      ];
    },
  },

  imports: {
    about: 'the import batches of the user (warehouse manifests), oldest first',
    inputs: ['manifests'],
    async columns(scope) {
      const manifests = await listManifests(scope.layout, scope.userId);
      const col = (name: string, kind: ColumnKind, f: (m: (typeof manifests)[number]) => unknown): Column => ({
        name,
        kind,
        values: manifests.map(f),
      });
      return [
        col('import_id', 'string', (m) => m.importId),
        col('committed_at', 'timestamp', (m) => m.committedAt),
        col('inputs', 'string', (m) => m.inputs.map((p) => path.basename(p)).join(', ')),
        col('files', 'int', (m) => m.files.length),
        col('rows_read', 'int', (m) => m.rowsRead),
        col('plays_added', 'int', (m) => m.playsAdded),
        col('duplicates_skipped', 'int', (m) => m.duplicatesSkipped),
        col('account_rows_superseded', 'int', (m) => m.accountRowsSuperseded),
        col('rows_rejected', 'int', (m) => m.rowsRejected),
        col('ignored_files', 'int', (m) => m.ignored.length),
      ];
    },
  },
};

export type DatasetName = keyof typeof DATASETS;

export class UnknownDatasetError extends Error {}

/** Local days and hours in the zone the marts were built in, so that every page agrees with them. */
async function datasetTimezone(layout: Layout, userId: string, defaultTimezone: string): Promise<string> {
  return (await readModelState(layout))[userId]?.timezone ?? (await getUser(layout, userId))?.timezone ?? defaultTimezone;
}

/** Open a DuckDB with the user's views (only that user's files) and run `fn` with the scope. */
async function withUserScope<T>(
  layout: Layout,
  options: DbOptions,
  userId: string,
  settings: Omit<DatasetOptions, 'db'> & { timezone?: string },
  fn: (scope: DatasetScope) => Promise<T>,
): Promise<T> {
  assertUserId(userId);
  const timezone = settings.timezone ?? (await datasetTimezone(layout, userId, settings.defaultTimezone));
  return withDb(options, async (db) => {
    await db.run(`CREATE TEMP VIEW plays AS ${await playsSource(layout, userId)}`);
    for (const mart of MARTS) await db.run(`CREATE TEMP VIEW ${ident(mart)} AS ${await martSource(layout, mart, userId)}`);
    // The shared catalog, as `rewind sql` has it (no user data in it; datasets join it to the user's entries).
    await db.run(`CREATE TEMP VIEW tracks AS ${await catalogSource(layout, 'tracks')}`);
    await db.run(`CREATE TEMP VIEW artists AS ${await catalogSource(layout, 'artists')}`);
    const built = new Set<SharedTable>();
    const scope: DatasetScope = {
      db,
      layout,
      userId,
      timezone,
      sessionGapMinutes: settings.sessionGapMinutes,
      temporalUi: settings.temporalUi,
      temporalNamespace: settings.temporalNamespace,
      async need(tables) {
        for (const table of tables) {
          if (built.has(table)) continue;
          await db.run(`CREATE TEMP TABLE ${ident(table)} AS ${await SHARED_TABLES[table](scope)}`);
          built.add(table);
        }
      },
    };
    return fn(scope);
  });
}

export interface DatasetOptions {
  /** DuckDB limits (the config's), and its spill folder. */
  db: DbOptions;
  sessionGapMinutes: number;
  defaultTimezone: string;
  temporalUi: string | undefined;
  temporalNamespace: string;
}

export function datasetOptions(config: Config, layout: Layout): DatasetOptions {
  const t = config.temporal;
  return {
    db: { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp },
    sessionGapMinutes: config.api.sessionGapMinutes,
    defaultTimezone: config.defaultTimezone,
    // The embedded dev server's UI (worker/temporal-server.ts); unknown for a TEMPORAL_ADDRESS server.
    temporalUi: t.address ? undefined : `http://${t.embeddedHost}:${t.uiPort}`,
    temporalNamespace: t.namespace,
  };
}

/** The columns of one dataset for one user. */
export async function datasetColumns(layout: Layout, options: DatasetOptions, userId: string, name: string): Promise<Column[]> {
  const dataset = datasetNamed(name);
  return withUserScope(layout, options.db, userId, options, (scope) => dataset.columns(scope));
}

function datasetNamed(name: string): Dataset {
  const dataset = Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
  if (!dataset) throw new UnknownDatasetError(`unknown dataset "${name}": one of ${Object.keys(DATASETS).join(', ')}`);
  return dataset;
}

/** One dataset for one user, as Arrow IPC bytes. */
export async function datasetArrow(layout: Layout, options: DatasetOptions, userId: string, name: string): Promise<Uint8Array> {
  return encodeArrow(await datasetColumns(layout, options, userId, name));
}

/** A writer replaced a file between our listing and our read: list again (as queryWarehouse does). */
async function retryVanished<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt < 5 && /No such file|No files found|cannot open file/i.test(String(e))) continue;
      throw e;
    }
  }
}

/**
 * Every dataset of one user (or those named), as Arrow IPC bytes by name, computed in one DuckDB
 * session: the user's plays are localized once for all the datasets that need local time.
 */
export async function siteDatasets(
  layout: Layout,
  options: DatasetOptions,
  userId: string,
  names: readonly string[] = Object.keys(DATASETS),
): Promise<Map<string, Uint8Array>> {
  const datasets = names.map((n) => [n, datasetNamed(n)] as const);
  return retryVanished(() =>
    withUserScope(layout, options.db, userId, options, async (scope) => {
      const out = new Map<string, Uint8Array>();
      for (const [name, dataset] of datasets) out.set(name, encodeArrow(await dataset.columns(scope)));
      return out;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The dataset cache of the site build

/**
 * What the code that computes the datasets is: this module, the models and the catalog it reads,
 * and the libraries that encode and query. A cached dataset made by other code is never reused.
 */
let codeVersionMemo: Promise<string> | undefined;
function codeVersion(): Promise<string> {
  codeVersionMemo ??= (async () => {
    const hash = createHash('sha256');
    const files = ['warehouse/dashboards.ts', 'warehouse/models.ts', 'warehouse/catalog.ts', 'sql/intermediate/int_plays_local.sql'];
    for (const pkg of ['apache-arrow', '@duckdb/node-api']) files.push(path.join('node_modules', pkg, 'package.json'));
    for (const file of files) hash.update(`\n${file}\n`).update(await fs.readFile(path.join(PROJECT_ROOT, file)));
    return hash.digest('hex');
  })();
  return codeVersionMemo;
}

/** A file as a cache key part: its path (a generation number for warehouse files), size and time. */
async function fileStamp(file: string): Promise<string> {
  try {
    const st = await fs.stat(file);
    return `${file}\t${st.size}\t${st.mtimeMs}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return `${file}\t-`;
    throw e;
  }
}

/** The live files of one dataset input, stamped. */
async function inputStamp(layout: Layout, userId: string, input: DatasetInput): Promise<string> {
  let files: string[];
  switch (input) {
    case 'plays':
      files = await liveFiles(layout.userPlays(userId));
      break;
    case 'daily_rollups':
    case 'period_snapshots': {
      // The daily lists hold keys: their names are in the dimensions, built with them.
      const marts = input === 'daily_rollups' ? (['daily_rollups', ...DIMENSIONS] as const) : ([input] as const);
      files = (await Promise.all(marts.map((m) => liveFile(layout.martPartition(m, userId))))).filter(
        (f): f is string => f !== undefined,
      );
      break;
    }
    case 'catalog':
      files = (await Promise.all([liveFile(layout.tracksRoot), liveFile(layout.artistsRoot)])).filter((f): f is string => f !== undefined);
      break;
    case 'sync_state':
      files = [layout.syncState(userId)];
      break;
    case 'manifests': {
      const dir = layout.userImports(userId);
      files = (await fs.readdir(dir).catch(() => [] as string[])).sort().map((n) => path.join(dir, n));
      break;
    }
  }
  return `${input}\n${(await Promise.all(files.map(fileStamp))).join('\n')}`;
}

export interface SiteData {
  /** Arrow IPC bytes by dataset name (every dataset of DATASETS). */
  datasets: Map<string, Uint8Array>;
  /** The calendar years with data (one Year in review page each), from the `years` dataset. */
  years: string[];
  /** Datasets computed by this call, and those taken from the cache (their inputs had not changed). */
  computed: string[];
  reused: string[];
}

/**
 * Every dataset of one user for the site build. With `cacheDir`, each dataset is kept there under a
 * key made of the user's settings, the code version and the live files it reads (DatasetInput): a
 * dataset whose files did not change since the last build is read back instead of computed. The files
 * are stamped BEFORE DuckDB lists them, so a cached entry is never newer than its key says (a writer
 * that replaces a file in between only makes the next build compute that dataset again).
 */
export async function siteData(layout: Layout, options: DatasetOptions, userId: string, opts: { cacheDir?: string } = {}): Promise<SiteData> {
  assertUserId(userId);
  const { cacheDir } = opts;
  const timezone = await datasetTimezone(layout, userId, options.defaultTimezone);
  const settings = JSON.stringify([userId, timezone, options.sessionGapMinutes, options.temporalUi ?? null, options.temporalNamespace, await codeVersion()]);
  const stamps = new Map<DatasetInput, Promise<string>>();
  const stamp = (input: DatasetInput) => {
    let s = stamps.get(input);
    if (!s) stamps.set(input, (s = inputStamp(layout, userId, input)));
    return s;
  };
  const datasets = new Map<string, Uint8Array>();
  const reused: string[] = [];
  const pending: { name: string; dataset: Dataset; key?: string }[] = [];
  if (cacheDir) await fs.mkdir(cacheDir, { recursive: true });
  for (const [name, dataset] of Object.entries(DATASETS)) {
    if (!cacheDir || dataset.inputs === 'always') {
      pending.push({ name, dataset });
      continue;
    }
    const parts = await Promise.all(dataset.inputs.map(stamp));
    const key = createHash('sha256').update(`${name}\n${settings}\n${parts.join('\n')}`).digest('hex').slice(0, 32);
    const cached = await fs.readFile(path.join(cacheDir, `${name}.${key}.arrow`)).catch(() => undefined);
    if (cached) {
      datasets.set(name, new Uint8Array(cached.buffer, cached.byteOffset, cached.byteLength));
      reused.push(name);
    } else {
      pending.push({ name, dataset, key });
    }
  }
  if (pending.length > 0) {
    const computed = await retryVanished(() =>
      withUserScope(layout, options.db, userId, { ...options, timezone }, async (scope) => {
        const out = new Map<string, Uint8Array>();
        for (const { name, dataset } of pending) out.set(name, encodeArrow(await dataset.columns(scope)));
        return out;
      }),
    );
    for (const { name, key } of pending) {
      const bytes = computed.get(name)!;
      datasets.set(name, bytes);
      if (cacheDir && key) await writeCacheEntry(cacheDir, name, key, bytes);
    }
  }
  // In the order of DATASETS, whatever came from where.
  const ordered = new Map(Object.keys(DATASETS).map((n) => [n, datasets.get(n)!]));
  const years = [...tableFromIPC(ordered.get('years')!).getChild('year')!].map(String);
  return { datasets: ordered, years, computed: pending.map((p) => p.name), reused };
}

/** Keep one entry per dataset: write the new one (temp name + rename), then remove the others. */
async function writeCacheEntry(dir: string, name: string, key: string, bytes: Uint8Array): Promise<void> {
  const file = path.join(dir, `${name}.${key}.arrow`);
  const tmp = path.join(dir, `.tmp-${randomUUID()}`);
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, file);
  for (const other of await fs.readdir(dir)) {
    if (other.startsWith(`${name}.`) && other.endsWith('.arrow') && other !== path.basename(file)) await fs.rm(path.join(dir, other), { force: true });
  }
}

/** The calendar years the user has data in (one Year in review page each). */
export async function siteYears(layout: Layout, options: DatasetOptions, userId: string): Promise<string[]> {
  return withUserScope(layout, options.db, userId, options, async ({ db }) =>
    (await db.all<{ year: string }>(`select period_key as year from period_snapshots where period_type = 'calendar_year' order by 1`)).map(
      (r) => r.year,
    ),
  );
}

/** The archive the site's data loader produces: one `<dataset>.arrow` member per dataset. */
export const SITE_ARCHIVE = 'warehouse.zip';

/** The ZIP of the datasets (members stored, not deflated: Framework extracts each file a page references). */
async function archiveOf(datasets: Map<string, Uint8Array>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, bytes] of datasets) zip.addBuffer(Buffer.from(bytes), `${name}.arrow`, { compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * For the data loader (dashboards/src/data/warehouse.zip.ts): write the ZIP of every dataset of the
 * user the site is being built for to stdout, the browser only ever fetching the Arrow files a page
 * references. The user and the data folder come from the configuration the site build passes down
 * (REWIND_SITE_USER, see config.ts); outside a site build this refuses. (`buildSite` hands Framework
 * the archive ready-made, so Framework runs this loader only when it is started by hand.)
 */
export async function writeSiteArchive(config: Config = loadConfig(), out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const userId = config.site.userId;
  if (!userId) throw new Error(`the data loader of ${SITE_ARCHIVE} runs only inside a site build (rewind build): no site user is set`);
  const layout = new Layout(config.home);
  const { datasets } = await siteData(layout, datasetOptions(config, layout), userId, { cacheDir: datasetCacheDir(layout, userId) });
  const zip = await archiveOf(datasets);
  // Not pipeline(): that would end process.stdout.
  await new Promise<void>((resolve, reject) => out.write(zip, (e) => (e ? reject(e) : resolve())));
}

// ---------------------------------------------------------------------------------------------
// The site build

/** The Observable Framework project (the source; never written to by a build). */
export const DASHBOARDS_ROOT = path.join(PROJECT_ROOT, 'dashboards');

/** Where a user's site is built: a per-user copy of the project (symlinks) under the data folder. */
export function siteWorkDir(layout: Layout, userId: string): string {
  return path.join(layout.tmp, 'site-build', assertUserId(userId));
}

/** The user's dataset cache (see siteData): in the user's build folder, under the data folder's tmp. */
export function datasetCacheDir(layout: Layout, userId: string): string {
  return path.join(siteWorkDir(layout, userId), 'datasets');
}

/**
 * What the site build tells observablehq.config.js (in the build folder): the user and the years
 * (one Year in review page each), so that Framework's process needs no DuckDB of its own.
 */
export const SITE_SETTINGS = 'rewind-site.json';
export interface SiteSettings {
  userId: string;
  years: string[];
}

export interface SiteBuildOptions {
  /** Run Observable Framework even when only the data changed (never reuse the last site's pages). */
  full?: boolean;
}

export interface SiteBuildResult {
  userId: string;
  /** The built site (layout.site(userId)). */
  site: string;
  /** Pages built, as paths relative to the site ('index.html', 'years/2024.html', ...). */
  pages: string[];
  years: string[];
  seconds: number;
  /**
   * 'framework': Observable Framework rendered every page; 'data': the pages, scripts and styles
   * were the last build's (same pages, same source, same libraries) and only the data files changed.
   */
  mode: 'framework' | 'data';
  /** The datasets step: computed, or taken from the cache (their files had not changed). */
  datasets: { computed: string[]; reused: string[]; seconds: number };
}

export class SiteBuildError extends Error {}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, base)));
    else out.push(path.relative(base, full));
  }
  return out.sort();
}

/**
 * Lay out the per-user project: `observablehq.config.js` and `node_modules` linked, `src/` a real
 * folder whose entries link to dashboards/src's (so Framework's cache, `src/.observablehq/`, lands
 * in the data folder). The loaders' cached outputs of an earlier build are removed; kept are only
 * what holds no user data: the bundles of node_modules libraries (`_node`) and the npm version
 * lookups (`_npm`, empty folders: kept, Framework asks the npm registry nothing again).
 */
async function prepareWorkDir(work: string): Promise<void> {
  const src = path.join(work, 'src');
  await fs.mkdir(src, { recursive: true });
  const link = async (target: string, at: string) => {
    await fs.rm(at, { recursive: true, force: true });
    await fs.symlink(target, at);
  };
  await link(path.join(DASHBOARDS_ROOT, 'observablehq.config.js'), path.join(work, 'observablehq.config.js'));
  await link(path.join(PROJECT_ROOT, 'node_modules'), path.join(work, 'node_modules'));
  const wanted = (await fs.readdir(path.join(DASHBOARDS_ROOT, 'src'))).filter((n) => !n.startsWith('.'));
  for (const name of await fs.readdir(src)) {
    if (name !== '.observablehq' && !wanted.includes(name)) await fs.rm(path.join(src, name), { recursive: true, force: true });
  }
  for (const name of wanted) await link(path.join(DASHBOARDS_ROOT, 'src', name), path.join(src, name));
  const cache = path.join(src, '.observablehq', 'cache');
  await fs.mkdir(cache, { recursive: true });
  for (const name of await fs.readdir(cache)) {
    if (name !== '_node' && name !== '_npm') await fs.rm(path.join(cache, name), { recursive: true, force: true });
  }
  for (const name of await fs.readdir(work)) {
    if (name.startsWith('dist-')) await fs.rm(path.join(work, name), { recursive: true, force: true });
  }
}

/**
 * Put the data loader's output in Framework's cache, newer than the loader: Framework takes it as
 * fresh and runs no loader process (which would start Node and DuckDB again for the same datasets).
 */
async function seedLoaderCache(work: string, datasets: Map<string, Uint8Array>): Promise<void> {
  const file = path.join(work, 'src', '.observablehq', 'cache', 'data', SITE_ARCHIVE);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomUUID()}`;
  await fs.writeFile(tmp, await archiveOf(datasets));
  await fs.rename(tmp, file);
}

/** Run `observable build` in `work` for the user; its output (and the loaders' errors) are collected. */
function runFramework(config: Config, work: string, userId: string, output: string): Promise<string> {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('@observablehq/framework/package.json')), 'dist', 'bin', 'observable.js');
  const tsx = import.meta.resolve('tsx');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, bin, 'build'], {
      cwd: work,
      env: siteBuildEnv(config, userId, output),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (b: Buffer) => (log += b.toString()));
    child.stderr.on('data', (b: Buffer) => (log += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      // Framework logs a failed loader and carries on with a missing file: treat it as a failure.
      const failed = code !== 0 || /\berror\b.*loader|loader exited with code|Unexpected error/i.test(log);
      if (failed) reject(new SiteBuildError(`the site build of "${userId}" failed (exit ${code}):\n${log.split('\n').slice(-40).join('\n')}`));
      else resolve(log);
    });
  });
}

/**
 * What the pages of a site are made of besides the data: the user (the footer), the years (one page
 * each), the datasets (the files pages reference), the dashboards project's every file, the
 * libraries (package-lock.json), Framework's version and Node's. Two builds with the same shape
 * differ only in their data files.
 */
async function siteShape(userId: string, years: readonly string[], datasets: readonly string[]): Promise<string> {
  const require = createRequire(import.meta.url);
  const hash = createHash('sha256');
  const framework = (require('@observablehq/framework/package.json') as { version: string }).version;
  hash.update(JSON.stringify({ userId, years, datasets, framework, node: process.version }));
  for (const file of await listFiles(DASHBOARDS_ROOT)) hash.update(`\n${file}\n`).update(await fs.readFile(path.join(DASHBOARDS_ROOT, file)));
  hash.update(await fs.readFile(path.join(PROJECT_ROOT, 'package-lock.json')).catch(() => Buffer.alloc(0)));
  return hash.digest('hex');
}

/** The last Framework build of a user's site (in the build folder): its shape and pages. */
interface FrameworkBuildRecord {
  shape: string;
  pages: string[];
}
const FRAMEWORK_RECORD = 'framework-build.json';

/** A data file a page registers: `registerFile("./data/warehouse/top.arrow", {...,"path":"./_file/data/warehouse/top.<hash>.arrow",...});` */
const REGISTER_FILE = /\nregisterFile\(("(?:[^"\\\n]|\\.)*"), (\{[^\n]*?\})\);/g;
const DATA_NAME = /^(?:\.\.?\/)+data\/warehouse\/([a-z0-9_]+)\.arrow$/;
const DATA_PATH = /^((?:\.\.?\/)+_file\/data\/warehouse\/[a-z0-9_]+)\.([0-9a-f]{8})\.arrow$/;

/**
 * The site of the last build with new data, written to `output` without Framework: a copy of `site`
 * whose data files are replaced by the new datasets' (named, as Framework names them, by the first 8
 * hex digits of the SHA-256 of their bytes), and whose pages register the new files (the
 * `registerFile` lines Framework writes, with the new path, size and time). Everything else of a page
 * depends only on the site's shape, which is the last Framework build's. Returns undefined (and the
 * caller runs Framework) when anything is not exactly as Framework left it.
 */
async function replaceSiteData(site: string, output: string, datasets: Map<string, Uint8Array>, record: FrameworkBuildRecord): Promise<string[] | undefined> {
  let files: string[];
  try {
    files = await listFiles(site);
  } catch {
    return undefined;
  }
  const pages = files.filter((f) => f.endsWith('.html'));
  if (JSON.stringify(pages) !== JSON.stringify([...record.pages].sort())) return undefined;
  const dataDir = path.join('_file', 'data', 'warehouse');
  const oldData = new Set(files.filter((f) => f.startsWith(`${dataDir}${path.sep}`)));
  const hashes = new Map([...datasets].map(([name, bytes]) => [name, createHash('sha256').update(bytes).digest('hex').slice(0, 8)]));
  const now = Date.now();
  const rewritten = new Map<string, string>();
  const referenced = new Set<string>();
  for (const page of pages) {
    const html = await fs.readFile(path.join(site, page), 'utf8');
    let bad = false;
    const next = html.replace(REGISTER_FILE, (whole, nameJson: string, infoJson: string) => {
      let name: string;
      let info: { name?: string; mimeType?: string; path?: string; lastModified?: number; size?: number };
      try {
        name = JSON.parse(nameJson) as string;
        info = JSON.parse(infoJson) as typeof info;
      } catch {
        bad = true;
        return whole;
      }
      const dataset = DATA_NAME.exec(name)?.[1];
      const at = DATA_PATH.exec(info.path ?? '');
      const hash = dataset === undefined ? undefined : hashes.get(dataset);
      if (!dataset || !at || !hash || info.name !== name || path.posix.basename(at[1]!) !== dataset) {
        bad = true;
        return whole;
      }
      const file = path.join(dataDir, `${dataset}.${hash}.arrow`);
      referenced.add(file);
      if (!oldData.has(path.join(dataDir, `${dataset}.${at[2]}.arrow`))) bad = true;
      if (at[2] === hash) return whole;
      const renewed = { name, mimeType: info.mimeType, path: `${at[1]}.${hash}.arrow`, lastModified: now, size: datasets.get(dataset)!.byteLength };
      return `\nregisterFile(${JSON.stringify(name)}, ${JSON.stringify(renewed)});`;
    });
    if (bad) return undefined;
    if (next !== html) rewritten.set(page, next);
  }
  // Every file of the site but the data is copied as it is (content-hashed scripts and styles, pages).
  await fs.mkdir(output, { recursive: true });
  for (const file of files) {
    if (oldData.has(file)) continue;
    await fs.mkdir(path.dirname(path.join(output, file)), { recursive: true });
    const text = rewritten.get(file);
    if (text === undefined) await fs.copyFile(path.join(site, file), path.join(output, file));
    else await fs.writeFile(path.join(output, file), text);
  }
  for (const file of referenced) {
    const dataset = path.basename(file).replace(/\.[0-9a-f]{8}\.arrow$/, '');
    await fs.mkdir(path.dirname(path.join(output, file)), { recursive: true });
    await fs.writeFile(path.join(output, file), datasets.get(dataset)!);
  }
  return pages;
}

/** Replace `target` with `next` (both folders in the data folder): rename away, rename in, remove. */
async function swapInto(next: string, target: string): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const old = `${target}.old-${randomUUID()}`;
  let moved = false;
  try {
    await fs.rename(target, old);
    moved = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await fs.rename(next, target);
  if (moved) await fs.rm(old, { recursive: true, force: true });
}

/**
 * Build the user's site from the warehouse into `layout.site(userId)`. One build per user at a time
 * (a lock); builds of different users share nothing but the node_modules libraries' bundles.
 *
 * 1. The datasets, in this process, each taken from the user's dataset cache when the files it
 *    reads did not change (siteData).
 * 2. When the site's shape (siteShape: the project, the libraries, the years...) is the last
 *    Framework build's and that site is still there, only its data files are replaced
 *    (replaceSiteData): no Framework, no process. Otherwise Observable Framework builds every page
 *    (one process, its loader output handed to it ready-made, no loader process).
 * 3. The new site is swapped in only when the whole build succeeded.
 */
export async function buildSite(
  config: Config,
  userId: string,
  log: (m: string) => void = () => undefined,
  opts: SiteBuildOptions = {},
): Promise<SiteBuildResult> {
  assertUserId(userId);
  const started = performance.now();
  const layout = new Layout(config.home);
  return withLock(layout, `site-${userId}`, async () => {
    const work = siteWorkDir(layout, userId);
    await fs.mkdir(work, { recursive: true });
    const data = await siteData(layout, datasetOptions(config, layout), userId, { cacheDir: datasetCacheDir(layout, userId) });
    const dataSeconds = (performance.now() - started) / 1000;
    log(`${userId}: datasets in ${dataSeconds.toFixed(1)} s (${data.computed.length} computed, ${data.reused.length} unchanged)`);
    const shape = await siteShape(userId, data.years, [...data.datasets.keys()]);
    const recordFile = path.join(work, FRAMEWORK_RECORD);
    const record = await readJson<FrameworkBuildRecord>(recordFile);
    const site = layout.site(userId);
    const output = path.join(work, `dist-${randomUUID()}`);
    try {
      let mode: SiteBuildResult['mode'] = 'data';
      let pages = !opts.full && record?.shape === shape ? await replaceSiteData(site, output, data.datasets, record) : undefined;
      if (!pages) {
        mode = 'framework';
        await fs.rm(output, { recursive: true, force: true });
        log(`${userId}: building the site with Observable Framework`);
        await prepareWorkDir(work);
        await seedLoaderCache(work, data.datasets);
        await writeJsonAtomic(path.join(work, SITE_SETTINGS), { userId, years: data.years } satisfies SiteSettings);
        await runFramework(config, work, userId, output);
        pages = (await listFiles(output)).filter((f) => f.endsWith('.html'));
        // The record describes the site being swapped in only once it is there.
        await fs.rm(recordFile, { force: true });
      }
      const years = pages.map((p) => /^years[/\\](\d{4})\.html$/.exec(p)?.[1]).filter((y): y is string => y !== undefined);
      await swapInto(output, site);
      if (mode === 'framework') await writeJsonAtomic(recordFile, { shape, pages } satisfies FrameworkBuildRecord);
      const seconds = (performance.now() - started) / 1000;
      return { userId, site, pages, years, seconds, mode, datasets: { computed: data.computed, reused: data.reused, seconds: dataSeconds } };
    } finally {
      await fs.rm(output, { recursive: true, force: true });
      // The loader's outputs are in the site now: no second copy stays in Framework's cache.
      await fs.rm(path.join(work, 'src', '.observablehq', 'cache', 'data'), { recursive: true, force: true });
    }
  });
}
