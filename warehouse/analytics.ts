/**
 * Read access for the JSON API: every number the API answers with comes from here.
 *
 * One long-lived DuckDB instance with a small pool of connections serves every request (opening a
 * DuckDB per request would cost more than most queries). Each query reads only the caller's live
 * Parquet files (the mart partition of the user, the plays partitions of the years it needs); the
 * user id is never part of the SQL, only of the file names Rewind derives from it, and every value
 * from a request is a bound parameter.
 *
 * Files are immutable and replaced by generations (files.ts), so a result is a pure function of the
 * live file names it was computed from: results are cached under a key made of those names, and a
 * new generation (an import, a rebuild, a sync) simply makes a new key. A reader never waits for a
 * writer: when a writer removes a file between our listing and our read, the listing is taken again.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { DuckDBInstance, JSDuckDBValueConverter, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { DEFAULT_TEMP_DIRECTORY, ident, literal, plain } from './duckdb.ts';
import { partFile, partitionChanges } from './files.ts';
import { type Layout, type Mart, assertUserId } from './layout.ts';
import { PLAY_COLUMNS, withPlayColumns } from './schema.ts';

export interface ReaderOptions {
  memoryLimit?: string;
  threads?: number;
  /** Where DuckDB may spill (inside the data folder). */
  tempDirectory?: string;
  /** Connections in the pool (queries run at once). */
  connections?: number;
  /** Results kept in memory. */
  cacheEntries?: number;
  /** Silence that ends a listening session, in minutes. */
  sessionGapMinutes?: number;
}

type Row = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Periods

export const ROLLING_PERIODS = ['week', 'month', 'quarter', 'year'] as const;

/** A period as the API names it: week|month|quarter|year|all_time, a year '2023' or a month '2023-07'. */
export const PERIOD_PATTERN = '^(week|month|quarter|year|all_time|[0-9]{4}|[0-9]{4}-(0[1-9]|1[0-2]))$';

export interface PeriodRef {
  type: 'week' | 'month' | 'quarter' | 'year' | 'all_time' | 'calendar_year' | 'calendar_month';
  /** The period_key in period_snapshots; undefined for the rolling periods (one row each). */
  key: string | undefined;
}

export class InvalidPeriodError extends Error {}

export function parsePeriod(period: string): PeriodRef {
  if (!new RegExp(PERIOD_PATTERN).test(period)) {
    throw new InvalidPeriodError(`invalid period "${period}": use week, month, quarter, year, all_time, a year (2023) or a month (2023-07)`);
  }
  if ((ROLLING_PERIODS as readonly string[]).includes(period)) return { type: period as PeriodRef['type'], key: undefined };
  if (period === 'all_time') return { type: 'all_time', key: 'all' };
  if (/^\d{4}$/.test(period)) return { type: 'calendar_year', key: period };
  return { type: 'calendar_month', key: period };
}

// ---------------------------------------------------------------------------------------------
// Shapes of the answers (plain JSON values)

export interface Period {
  period_type: string;
  period_key: string;
  period_start: string;
  period_end: string;
}

export interface Snapshot extends Period {
  streams: number;
  listens: number;
  skips: number;
  track_ms: number;
  episode_ms: number;
  audiobook_ms: number;
  active_days: number;
  unique_tracks: number;
  unique_artists: number;
  unique_albums: number;
  longest_streak_days: number;
  longest_streak_start: string | null;
  longest_streak_end: string | null;
  top_artists: { rank: number; artist_name: string; plays: number; ms: number }[];
  top_tracks: { rank: number; track_name: string; artist_name: string; album_name: string | null; track_uri: string | null; plays: number; ms: number }[];
  top_albums: { rank: number; album_name: string; artist_name: string; plays: number; ms: number }[];
  hourly: { hour: number; listens: number; ms: number }[];
  weekday: { iso_weekday: number; listens: number; ms: number }[];
  built_at: string;
}

export type TopKind = 'artists' | 'tracks' | 'albums';

export interface TopPage {
  period: Period;
  kind: TopKind;
  total: number;
  offset: number;
  limit: number;
  items: Row[];
}

/** A stored play as the API shows it. `id` is the play's identity (see README, the matching rule). */
export const HISTORY_COLUMNS = [
  'ended_at', 'started_at', 'ms_played', 'kind', 'track_name', 'artist_name', 'album_name', 'track_uri',
  'episode_name', 'show_name', 'episode_uri', 'audiobook_title', 'audiobook_chapter_title', 'platform',
  'conn_country', 'reason_start', 'reason_end', 'shuffle', 'skipped', 'offline', 'incognito', 'source',
] as const;

export interface HistoryPage {
  plays: Row[];
  /** Cursor for the next (older) page, or null at the end. */
  next: string | null;
}

export interface DailyRollup {
  date: string;
  streams: number;
  listens: number;
  skips: number;
  track_ms: number;
  episode_ms: number;
  audiobook_ms: number;
}

export interface HeatmapCell {
  iso_weekday: number;
  hour: number;
  listens: number;
  ms: number;
}

export interface Streak {
  start: string;
  end: string;
  days: number;
}

export interface Streaks {
  current: Streak | null;
  longest: Streak | null;
  top: Streak[];
}

export interface ListeningSession {
  start: string;
  end: string;
  streams: number;
  listens: number;
  ms: number;
  top_artist: string | null;
}

export interface Discovery {
  period: Period;
  artists: { artist_name: string; first_heard: string; plays: number; ms: number }[];
  tracks: { track_name: string; artist_name: string; first_heard: string; plays: number; ms: number }[];
}

export interface PlaysSummary {
  sources: { source: string; plays: number; first: string | null; last: string | null }[];
  gaps: { from: string; to: string; days: number }[];
}

export type ExportFormat = 'csv' | 'jsonl' | 'parquet' | 'arrow';

// ---------------------------------------------------------------------------------------------
// Errors

/** The data asked for does not exist for this user (the API answers 404). */
export class NotFoundError extends Error {}
export class InvalidCursorError extends Error {}

const VANISHED = /No such file|No files found|cannot open file|Cannot open file|could not open/i;

// ---------------------------------------------------------------------------------------------
// Files

const PART = /^part-(\d{8})\.parquet$/;

/**
 * Folder listings, revalidated by the folder's change time: a new generation is renamed into its
 * partition folder, and a new partition folder into its parent, which changes that folder's ctime and
 * mtime. A stat is cheaper than a readdir, and a listing checked in the last RECHECK_MS is used
 * without one (a stat per folder per request was a third of a cached answer's cost): a generation
 * another process (a separate worker) writes is seen up to RECHECK_MS later, one this process writes
 * at once (partitionChanges).
 */
const listings = new Map<string, { stamp: string; names: string[]; checkedAt: number; changes: number }>();
const MAX_LISTINGS = 50_000;
const RECHECK_MS = 100;

function listDir(dir: string): string[] {
  const now = performance.now();
  const cached = listings.get(dir);
  if (cached && now - cached.checkedAt < RECHECK_MS && cached.changes === partitionChanges()) return cached.names;
  let stamp: string;
  try {
    const st = statSync(dir);
    stamp = `${st.ino}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    listings.delete(dir);
    return [];
  }
  if (cached && cached.stamp === stamp) {
    cached.checkedAt = now;
    cached.changes = partitionChanges();
    return cached.names;
  }
  // File times have the kernel's coarse clock: a folder changed in the last second may change again
  // with the same time stamp, so its listing is not trusted (and not kept) until it has been quiet.
  const settled = Date.now() - Number(stamp.split(':')[1]) > 1000;
  const changes = partitionChanges();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  if (!settled) {
    listings.delete(dir);
    return names;
  }
  if (listings.size >= MAX_LISTINGS) listings.clear();
  listings.set(dir, { stamp, names, checkedAt: now, changes });
  return names;
}

/** The live file of a partition folder (synchronous: on the hot path). */
function liveFileSync(dir: string): string | undefined {
  let top = -1;
  for (const n of listDir(dir)) {
    const m = PART.exec(n);
    if (m && Number(m[1]) > top) top = Number(m[1]);
  }
  return top < 0 ? undefined : partFile(dir, top);
}

/** The live plays file of every year of a user, newest year first. */
function playsFilesSync(layout: Layout, userId: string): { year: number; file: string }[] {
  const root = layout.userPlays(userId);
  const out: { year: number; file: string }[] = [];
  for (const n of listDir(root)) {
    const m = /^year=(-?\d+)$/.exec(n);
    if (!m) continue;
    const file = liveFileSync(path.join(root, n));
    if (file) out.push({ year: Number(m[1]), file });
  }
  return out.sort((a, b) => b.year - a.year);
}

const fileList = (files: readonly string[]) => `[${files.map(literal).join(', ')}]`;
const parquet = (files: readonly string[]) => `read_parquet(${fileList(files)}, hive_partitioning = false, union_by_name = true)`;
const isoTs = (col: string) => `strftime(${col}, '%Y-%m-%dT%H:%M:%S.%gZ')`;
const isoDate = (col: string) => `strftime(${col}, '%Y-%m-%d')`;

/** Local "today" in an IANA zone, as YYYY-MM-DD. */
export function localToday(timezone: string, now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// The pool

class Pool {
  private idle: DuckDBConnection[] = [];
  private waiting: ((c: DuckDBConnection) => void)[] = [];
  private constructor(
    readonly instance: DuckDBInstance,
    private readonly all: DuckDBConnection[],
  ) {
    this.idle = [...all];
  }

  static async open(options: ReaderOptions): Promise<Pool> {
    const settings: Record<string, string> = {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'true',
      // Parquet footers of the live files are kept between queries (files never change in place).
      enable_object_cache: 'true',
    };
    if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
    if (options.threads) settings.threads = String(options.threads);
    settings.temp_directory = options.tempDirectory ?? DEFAULT_TEMP_DIRECTORY;
    const instance = await DuckDBInstance.create(':memory:', settings);
    const conns: DuckDBConnection[] = [];
    for (let i = 0; i < Math.max(1, options.connections ?? 4); i++) {
      const c = await instance.connect();
      await c.run(`SET TimeZone = 'UTC'`);
      conns.push(c);
    }
    return new Pool(instance, conns);
  }

  async use<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const c = this.idle.pop() ?? (await new Promise<DuckDBConnection>((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(c);
    } finally {
      const next = this.waiting.shift();
      if (next) next(c);
      else this.idle.push(c);
    }
  }

  /** A connection of its own (for long streams that must not hold a pooled one). */
  async dedicated(): Promise<DuckDBConnection> {
    const c = await this.instance.connect();
    await c.run(`SET TimeZone = 'UTC'`);
    return c;
  }

  close(): void {
    for (const c of this.all) c.closeSync();
    this.instance.closeSync();
  }
}

async function rows<T = Row>(c: DuckDBConnection, sql: string, params?: DuckDBValue[]): Promise<T[]> {
  const reader = await c.runAndReadAll(sql, params);
  return reader.getRowObjectsJS().map((r) => plain(r) as T);
}

// ---------------------------------------------------------------------------------------------
// The reader

export class AnalyticsReader {
  /** How stale a folder listing may be when another process changed the folder (ms). */
  static readonly RECHECK_MS = RECHECK_MS;
  private readonly cache = new Map<string, unknown>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly cacheEntries: number;
  readonly sessionGapMinutes: number;
  /** Queries actually run (cache misses): tests use it to show the cache works. */
  queries = 0;

  private constructor(
    readonly layout: Layout,
    private readonly pool: Pool,
    private readonly options: ReaderOptions,
  ) {
    this.cacheEntries = options.cacheEntries ?? 2000;
    this.sessionGapMinutes = options.sessionGapMinutes ?? 30;
  }

  static async open(layout: Layout, options: ReaderOptions = {}): Promise<AnalyticsReader> {
    if (options.tempDirectory) await fs.mkdir(options.tempDirectory, { recursive: true });
    return new AnalyticsReader(layout, await Pool.open(options), options);
  }

  close(): void {
    this.pool.close();
  }

  /** Can the warehouse be read (DuckDB answers, the data folder is there)? */
  async ready(): Promise<boolean> {
    try {
      await fs.access(this.layout.home);
      await this.pool.use((c) => c.run('select 1'));
      return true;
    } catch {
      return false;
    }
  }

  clearCache(): void {
    this.cache.clear();
  }

  /**
   * A result computed from files: `list` names the files (their names are part of the cache key), `run`
   * computes from them. A file removed by a writer between listing and reading makes a new listing.
   */
  private async memo<T>(key: string, list: () => readonly string[], run: (files: readonly string[]) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const files = list();
      const full = `${key}\u0000${files.join('\u0000')}`;
      if (this.cache.has(full)) {
        const v = this.cache.get(full) as T;
        // Least recently used goes first: move a hit to the end.
        this.cache.delete(full);
        this.cache.set(full, v);
        return v;
      }
      let pending = this.inflight.get(full) as Promise<T> | undefined;
      if (!pending) {
        pending = (async () => {
          this.queries++;
          return run(files);
        })();
        this.inflight.set(full, pending);
        pending.then(
          (v) => {
            this.inflight.delete(full);
            this.cache.set(full, v);
            while (this.cache.size > this.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
          },
          () => this.inflight.delete(full),
        );
      }
      try {
        return await pending;
      } catch (e) {
        if (attempt < 5 && VANISHED.test(String(e))) {
          listings.clear();
          continue;
        }
        throw e;
      }
    }
  }

  private martFiles(mart: Mart, userId: string): string[] {
    const f = liveFileSync(this.layout.martPartition(mart, assertUserId(userId)));
    return f ? [f] : [];
  }

  // -------------------------------------------------------------------------------------------
  // Period snapshots

  /** The period snapshot, or undefined when the user has no such period. */
  async overview(userId: string, period: PeriodRef): Promise<Snapshot | undefined> {
    return this.memo(
      `overview\u0000${period.type}\u0000${period.key ?? ''}`,
      () => this.martFiles('period_snapshots', userId),
      async (files) => {
        if (files.length === 0) return undefined;
        const found = await this.pool.use((c) =>
          rows<Snapshot>(
            c,
            `select period_type, period_key, ${isoDate('period_start')} as period_start, ${isoDate('period_end')} as period_end,
                    streams, listens, skips, track_ms, episode_ms, audiobook_ms, active_days,
                    unique_tracks, unique_artists, unique_albums, longest_streak_days,
                    ${isoDate('longest_streak_start')} as longest_streak_start, ${isoDate('longest_streak_end')} as longest_streak_end,
                    top_artists, top_tracks, top_albums, hourly, weekday, ${isoTs('built_at')} as built_at
             from ${parquet(files)}
             where period_type = $1 and ($2::VARCHAR is null or period_key = $2::VARCHAR)
             order by period_key desc limit 1`,
            [period.type, period.key ?? null],
          ),
        );
        return found[0];
      },
    );
  }

  /** The period snapshot with its top lists cut to `top` entries (the API's overview). */
  async overviewTop(userId: string, period: PeriodRef, top: number): Promise<Snapshot | undefined> {
    return this.memo(
      `overview-top\u0000${period.type}\u0000${period.key ?? ''}\u0000${top}`,
      () => this.martFiles('period_snapshots', userId),
      async () => {
        const snap = await this.overview(userId, period);
        if (!snap) return undefined;
        return { ...snap, top_artists: snap.top_artists.slice(0, top), top_tracks: snap.top_tracks.slice(0, top), top_albums: snap.top_albums.slice(0, top) };
      },
    );
  }

  async top(userId: string, period: PeriodRef, kind: TopKind, limit: number, offset: number): Promise<TopPage | undefined> {
    return this.memo(
      `top\u0000${period.type}\u0000${period.key ?? ''}\u0000${kind}\u0000${limit}\u0000${offset}`,
      () => this.martFiles('period_snapshots', userId),
      async () => {
        const snap = await this.overview(userId, period);
        if (!snap) return undefined;
        const list = kind === 'artists' ? snap.top_artists : kind === 'tracks' ? snap.top_tracks : snap.top_albums;
        const total = kind === 'artists' ? snap.unique_artists : kind === 'tracks' ? snap.unique_tracks : snap.unique_albums;
        return { period: periodOf(snap), kind, total, offset, limit, items: (list as Row[]).slice(offset, offset + limit) };
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Daily rollups

  async daily(userId: string, from: string, to: string): Promise<DailyRollup[]> {
    return this.memo(
      `daily\u0000${from}\u0000${to}`,
      () => this.martFiles('daily_rollups', userId),
      async (files) => {
        if (files.length === 0) return [];
        return this.pool.use((c) =>
          rows<DailyRollup>(
            c,
            `select ${isoDate('local_date')} as date, streams, listens, skips, track_ms, episode_ms, audiobook_ms
             from ${parquet(files)} where local_date between $1::DATE and $2::DATE order by local_date`,
            [from, to],
          ),
        );
      },
    );
  }

  /** Listens and track ms per local weekday and hour over a period: always 7 x 24 cells. */
  async heatmap(userId: string, period: PeriodRef): Promise<{ period: Period; cells: HeatmapCell[] } | undefined> {
    return this.memo(
      `heatmap\u0000${period.type}\u0000${period.key ?? ''}`,
      () => [...this.martFiles('period_snapshots', userId), ...this.martFiles('daily_rollups', userId)],
      async (files) => {
        const snap = await this.overview(userId, period);
        const daily = files.filter((f) => f.includes(`${path.sep}daily_rollups${path.sep}`));
        if (!snap) return undefined;
        const cells = await this.pool.use((c) =>
          rows<HeatmapCell>(
            c,
            `with cells as (
               select cast(w.range as integer) as iso_weekday, cast(h.range as integer) as hour
               from range(1, 8) as w cross join range(24) as h
             ),
             hours as (
               ${daily.length === 0 ? 'select 1 as iso_weekday, struct_pack(hour := 0, listens := 0, ms := 0) as h limit 0' : `select cast(isodow(local_date) as integer) as iso_weekday, unnest(hourly) as h
               from ${parquet(daily)} where local_date between $1::DATE and $2::DATE`}
             ),
             sums as (
               select iso_weekday, h.hour as hour, sum(h.listens) as listens, sum(h.ms) as ms from hours group by all
             )
             select cells.iso_weekday, cells.hour,
                    cast(coalesce(sums.listens, 0) as bigint) as listens, cast(coalesce(sums.ms, 0) as bigint) as ms
             from cells left join sums using (iso_weekday, hour)
             order by cells.iso_weekday, cells.hour`,
            daily.length === 0 ? [] : [snap.period_start, snap.period_end],
          ),
        );
        return { period: periodOf(snap), cells };
      },
    );
  }

  /** Runs of consecutive local days with at least one listen: the current one, the longest, the top 10. */
  async streaks(userId: string, today: string): Promise<Streaks> {
    return this.memo(
      `streaks\u0000${today}`,
      () => this.martFiles('daily_rollups', userId),
      async (files) => {
        if (files.length === 0) return { current: null, longest: null, top: [] };
        const all = await this.pool.use((c) =>
          rows<Streak>(
            c,
            `with active as (
               select local_date, local_date - cast(row_number() over (order by local_date) as integer) as island
               from ${parquet(files)} where listens > 0
             )
             select ${isoDate('min(local_date)')} as start, ${isoDate('max(local_date)')} as "end", count(*) as days
             from active group by island order by start`,
          ),
        );
        const last = all.at(-1);
        const current = last && last.end >= addDays(today, -1) ? last : null;
        const top = [...all].sort((a, b) => b.days - a.days || a.start.localeCompare(b.start)).slice(0, 10);
        return { current, longest: top[0] ?? null, top };
      },
    );
  }

  /**
   * Artists and tracks whose first listen (local date) lies in the period, with their listens in
   * it, named as the dimensions spell them (their latest stream).
   */
  async discovery(userId: string, period: PeriodRef, limit: number): Promise<Discovery | undefined> {
    return this.memo(
      `discovery\u0000${period.type}\u0000${period.key ?? ''}\u0000${limit}`,
      () => [
        ...this.martFiles('period_snapshots', userId),
        ...this.martFiles('daily_rollups', userId),
        ...this.martFiles('dim_artists', userId),
        ...this.martFiles('dim_tracks', userId),
      ],
      async (files) => {
        const snap = await this.overview(userId, period);
        const of = (mart: Mart) => files.filter((f) => f.includes(`${path.sep}${mart}${path.sep}`));
        const [daily, artistNames, trackNames] = [of('daily_rollups'), of('dim_artists'), of('dim_tracks')];
        if (!snap) return undefined;
        if (daily.length === 0 || artistNames.length === 0 || trackNames.length === 0) {
          return { period: periodOf(snap), artists: [], tracks: [] };
        }
        return this.pool.use(async (c) => {
          const artists = await rows<Discovery['artists'][number]>(
            c,
            `with entries as (
               select local_date, unnest(artists) as e from ${parquet(daily)}
             ),
             per_artist as (
               select e.artist_key as k,
                      min(local_date) filter (where e.plays > 0) as first_heard,
                      sum(e.plays) filter (where local_date between $1::DATE and $2::DATE) as plays,
                      sum(e.ms) filter (where local_date between $1::DATE and $2::DATE) as ms
               from entries group by k
             )
             select n.artist_name, ${isoDate('first_heard')} as first_heard, cast(plays as bigint) as plays, cast(ms as bigint) as ms
             from per_artist inner join ${parquet(artistNames)} as n on n.artist_key = per_artist.k
             where first_heard between $1::DATE and $2::DATE
             order by plays desc, ms desc, k limit $3`,
            [snap.period_start, snap.period_end, limit],
          );
          const tracks = await rows<Discovery['tracks'][number]>(
            c,
            `with entries as (
               select local_date, unnest(tracks) as e from ${parquet(daily)}
             ),
             per_track as (
               select e.track_key as k,
                      min(local_date) filter (where e.plays > 0) as first_heard,
                      sum(e.plays) filter (where local_date between $1::DATE and $2::DATE) as plays,
                      sum(e.ms) filter (where local_date between $1::DATE and $2::DATE) as ms
               from entries group by k
             )
             select n.track_name, n.artist_name, ${isoDate('first_heard')} as first_heard, cast(plays as bigint) as plays, cast(ms as bigint) as ms
             from per_track inner join ${parquet(trackNames)} as n on n.track_key = per_track.k
             where first_heard between $1::DATE and $2::DATE
             order by plays desc, ms desc, k limit $3`,
            [snap.period_start, snap.period_end, limit],
          );
          return { period: periodOf(snap), artists, tracks };
        });
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Plays

  /**
   * Plays newest first, `limit` at a time. The order is the play's identity (ended_at, source,
   * ms_played, occurrence), which is unique per user, so the cursor of the last play of a page marks
   * a fixed place: plays added meanwhile appear in their place and no play is shown twice or skipped.
   * `before` is a cursor from a previous page or an ISO date-time (plays that ended before it).
   */
  async history(userId: string, before: string | undefined, limit: number): Promise<HistoryPage> {
    const cursor = before === undefined ? undefined : parseBefore(before);
    const cutoffYear = cursor ? new Date(cursor.endedAt).getUTCFullYear() : Infinity;
    const years = () => playsFilesSync(this.layout, assertUserId(userId)).filter((y) => y.year <= cutoffYear);
    return this.memo(
      `history\u0000${before ?? ''}\u0000${limit}`,
      () => years().map((y) => y.file),
      async (files) => {
        const out: Row[] = [];
        // Year partitions newest first: a page usually reads one file.
        for (const file of files) {
          const need = limit + 1 - out.length;
          const where = cursor
            ? cursor.source === undefined
              ? `ended_at < $1::TIMESTAMPTZ`
              : `(ended_at < $1::TIMESTAMPTZ or (ended_at = $1::TIMESTAMPTZ and (source < $2 or (source = $2 and (ms_played < $3 or (ms_played = $3 and occurrence < $4))))))`
            : 'true';
          const params: DuckDBValue[] = cursor
            ? cursor.source === undefined
              ? [cursor.endedAt]
              : [cursor.endedAt, cursor.source, cursor.ms!, cursor.occurrence!]
            : [];
          const got = await this.pool.use((c) =>
            rows(
              c,
              `select ${HISTORY_COLUMNS.map((col) => (col === 'ended_at' || col === 'started_at' ? `${isoTs(col)} as ${col}` : col)).join(', ')},
                      strftime(ended_at, '%Y-%m-%dT%H:%M:%S.%fZ') as _cursor_ts, occurrence as _occurrence
               from ${parquet([file])}
               where ${where}
               order by ended_at desc, source desc, ms_played desc, occurrence desc
               limit ${need}`,
              params,
            ),
          );
          out.push(...got);
          if (out.length > limit) break;
        }
        const page = out.slice(0, limit);
        const last = page.at(-1);
        const next =
          out.length > limit && last
            ? encodeCursor({ endedAt: String(last._cursor_ts), source: String(last.source), ms: Number(last.ms_played), occurrence: Number(last._occurrence) })
            : null;
        const plays = page.map((r) => {
          const { _cursor_ts, _occurrence, ...rest } = r;
          return { id: `${rest.source}:${_cursor_ts}:${rest.ms_played}:${_occurrence}`, ...rest };
        });
        return { plays, next };
      },
    );
  }

  /**
   * Listening sessions that started on local dates from..to, newest first. A session is a run of
   * streams where each starts less than `sessionGapMinutes` after the previous ones ended.
   */
  async sessions(userId: string, timezone: string, from: string, to: string, limit: number): Promise<ListeningSession[]> {
    const lo = Number(from.slice(0, 4)) - 1;
    const hi = Number(to.slice(0, 4)) + 1;
    return this.memo(
      `sessions\u0000${timezone}\u0000${from}\u0000${to}\u0000${limit}\u0000${this.sessionGapMinutes}`,
      () => playsFilesSync(this.layout, assertUserId(userId)).filter((y) => y.year >= lo && y.year <= hi).map((y) => y.file),
      async (files) => {
        if (files.length === 0) return [];
        return this.pool.use((c) =>
          rows<ListeningSession>(
            c,
            `with plays as (
               select started_at, ended_at, ms_played, kind, artist_name
               from ${parquet(files)}
               where started_at is not null
                 and started_at >= cast($1::DATE - 1 as TIMESTAMPTZ) and started_at < cast($2::DATE + 2 as TIMESTAMPTZ)
                 and cast(timezone($3, started_at) as DATE) between $1::DATE and $2::DATE
             ),
             ordered as (
               select *, max(ended_at) over (order by started_at, ended_at rows between unbounded preceding and 1 preceding) as prev_end
               from plays
             ),
             numbered as (
               select *, sum(case when prev_end is null or started_at - prev_end > to_minutes(cast($4 as bigint)) then 1 else 0 end)
                         over (order by started_at, ended_at rows unbounded preceding) as session_no
               from ordered
             )
             select ${isoTs('min(started_at)')} as start, ${isoTs('max(ended_at)')} as "end", count(*) as streams,
                    count(*) filter (where kind = 'track' and ms_played >= 30000) as listens,
                    cast(coalesce(sum(ms_played), 0) as bigint) as ms,
                    mode(artist_name) as top_artist
             from numbered group by session_no order by min(started_at) desc limit $5`,
            [from, to, timezone, this.sessionGapMinutes, limit],
          ),
        );
      },
    );
  }

  /** Plays per source, and gaps of a week or more without any stream (for /status). */
  async playsSummary(userId: string): Promise<PlaysSummary> {
    const sources = await this.memo(
      'sources',
      () => playsFilesSync(this.layout, assertUserId(userId)).map((y) => y.file),
      async (files) => {
        if (files.length === 0) return [];
        return this.pool.use((c) =>
          rows<PlaysSummary['sources'][number]>(
            c,
            `select source, count(*) as plays, ${isoTs('min(ended_at)')} as first, ${isoTs('max(ended_at)')} as last
             from ${parquet(files)} group by source order by source`,
          ),
        );
      },
    );
    const gaps = await this.memo(
      'gaps',
      () => this.martFiles('daily_rollups', userId),
      async (files) => {
        if (files.length === 0) return [];
        return this.pool.use((c) =>
          rows<PlaysSummary['gaps'][number]>(
            c,
            `with d as (select local_date, lag(local_date) over (order by local_date) as prev from ${parquet(files)} where streams > 0)
             select ${isoDate('prev + 1')} as "from", ${isoDate('local_date - 1')} as "to", cast(local_date - prev - 1 as bigint) as days
             from d where local_date - prev - 1 >= 7 order by prev`,
          ),
        );
      },
    );
    return { sources, gaps };
  }

  /**
   * The user's plays that started on local dates from..to (any when undefined), oldest first, for
   * export. CSV, JSON lines and Arrow are streamed chunk by chunk from a connection of their own;
   * Parquet is written by DuckDB to a temporary file, which the returned stream removes when done.
   */
  async exportPlays(
    userId: string,
    timezone: string,
    range: { from?: string; to?: string },
  ): Promise<{ columns: readonly (readonly [string, string])[]; chunks: () => AsyncGenerator<Row[]>; parquetFile: () => Promise<{ file: string; cleanup: () => Promise<void> }> }> {
    const files = playsFilesSync(this.layout, assertUserId(userId))
      .filter((y) => (range.from === undefined || y.year >= Number(range.from.slice(0, 4)) - 1) && (range.to === undefined || y.year <= Number(range.to.slice(0, 4)) + 1))
      .map((y) => y.file)
      .reverse();
    const columns = PLAY_COLUMNS;
    const select = (fileSet: readonly string[]) =>
      fileSet.length === 0
        ? `select ${columns.map(([n, t]) => `cast(null as ${t}) as ${n}`).join(', ')} limit 0`
        : `select ${columns.map(([n]) => ident(n)).join(', ')} from ${withPlayColumns(parquet(fileSet))}
           where ($1::DATE is null or cast(timezone($3, started_at) as DATE) >= $1::DATE)
             and ($2::DATE is null or cast(timezone($3, started_at) as DATE) <= $2::DATE)
           order by ended_at, source, ms_played, occurrence`;
    const params: DuckDBValue[] = [range.from ?? null, range.to ?? null, timezone];
    const pool = this.pool;
    const tmpDir = this.options.tempDirectory ?? this.layout.tmp;
    return {
      columns,
      async *chunks() {
        const c = await pool.dedicated();
        try {
          const result = await c.stream(select(files), files.length === 0 ? [] : params);
          for (;;) {
            const chunk = await result.fetchChunk();
            if (!chunk || chunk.rowCount === 0) break;
            const names = result.columnNames();
            const cols = chunk.convertColumns(JSDuckDBValueConverter);
            const out: Row[] = [];
            for (let i = 0; i < chunk.rowCount; i++) {
              const r: Row = {};
              names.forEach((n, j) => (r[n] = cols[j]![i]));
              out.push(r);
            }
            yield out;
          }
        } finally {
          c.closeSync();
        }
      },
      async parquetFile() {
        await fs.mkdir(tmpDir, { recursive: true });
        const file = path.join(tmpDir, `.export-${randomUUID()}.parquet`);
        const c = await pool.dedicated();
        try {
          await c.run(`COPY (${select(files)}) TO ${literal(file)} (FORMAT parquet, COMPRESSION zstd)`, files.length === 0 ? [] : params);
        } catch (e) {
          await fs.rm(file, { force: true });
          throw e;
        } finally {
          c.closeSync();
        }
        return { file, cleanup: () => fs.rm(file, { force: true }) };
      },
    };
  }
}

function periodOf(s: Snapshot): Period {
  return { period_type: s.period_type, period_key: s.period_key, period_start: s.period_start, period_end: s.period_end };
}

// ---------------------------------------------------------------------------------------------
// Cursors

interface Cursor {
  endedAt: string;
  source?: string;
  ms?: number;
  occurrence?: number;
}

function encodeCursor(c: Required<Cursor>): string {
  return Buffer.from(JSON.stringify([c.endedAt, c.source, c.ms, c.occurrence])).toString('base64url');
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseBefore(before: string): Cursor {
  if (ISO_DATE_TIME.test(before)) {
    const t = Date.parse(before.length === 10 ? `${before}T00:00:00Z` : before);
    if (Number.isNaN(t)) throw new InvalidCursorError(`before: "${before}" is not a valid date-time`);
    return { endedAt: new Date(t).toISOString() };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(before, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 4 ||
    typeof parsed[0] !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(parsed[0]) ||
    typeof parsed[1] !== 'string' ||
    parsed[1].length > 64 ||
    !Number.isSafeInteger(parsed[2]) ||
    !Number.isSafeInteger(parsed[3])
  ) {
    throw new InvalidCursorError('before: not a cursor from a previous page nor an ISO date-time');
  }
  return { endedAt: parsed[0], source: parsed[1], ms: parsed[2], occurrence: parsed[3] };
}
