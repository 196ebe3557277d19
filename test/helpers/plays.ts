/**
 * Plays fixtures for tests: give only the columns a test cares about, the rest get defaults.
 *
 *   playRow({ artist_name: 'A', ms_played: 29_999, started_at: '2024-01-01T10:00:00Z' })
 *   await createPlaysTable(db, rows)            // an in-memory `plays` table (with user_id, year)
 *   await writePlays(layout, 'alice', rows)     // real Parquet generations under the warehouse
 *
 * Defaults: kind 'track' with track/artist/album names 'Track'/'Artist'/'Album' (episode: show
 * 'Show', episode 'Episode'; audiobook: 'Audiobook'/'Chapter'), ms_played 180000, source
 * 'extended_export', source_row = position in `rows`. Give either started_at or ended_at (or
 * both); the other is derived from ms_played; with neither, ended_at is 2024-01-01T12:00:00Z.
 * Pass `null` explicitly to store a NULL. Plays are partitioned by the UTC year of ended_at.
 */
import { type Db, withDb, literal, ident } from '../../warehouse/duckdb.ts';
import { liveFile, liveFiles, writeGeneration } from '../../warehouse/files.ts';
import type { Layout } from '../../warehouse/layout.ts';
import { PLAY_COLUMNS } from '../../warehouse/schema.ts';
import { type Columns, jsonRowsSql } from './sql.ts';

type JsType<T extends string> = T extends 'TIMESTAMPTZ'
  ? string | Date
  : T extends 'VARCHAR[]'
    ? string[]
  : T extends 'BIGINT' | 'INTEGER'
    ? number
    : T extends 'BOOLEAN'
      ? boolean
      : string;

/** One stored play (every column of PLAY_COLUMNS; timestamps as ISO strings or Dates). */
export type Play = { [C in (typeof PLAY_COLUMNS)[number] as C[0]]: JsType<C[1]> | null };

/** A fixture row: any columns of a play, plus optionally the user it belongs to (createPlaysTable). */
export type PlayInput = Partial<Play> & { user_id?: string };

const DEFAULT_ENDED_AT = '2024-01-01T12:00:00.000Z';

function pick<T>(row: PlayInput, key: keyof Play, fallback: T): T {
  const v = row[key];
  return (v === undefined ? fallback : v) as T;
}

function iso(v: string | Date): string {
  return (typeof v === 'string' ? new Date(v) : v).toISOString();
}

/** A complete play from a partial one (see the defaults above). `index` is 0-based. */
export function playRow(row: PlayInput, index = 0): Play {
  const kind = pick<string | null>(row, 'kind', 'track');
  const ms = pick<number | null>(row, 'ms_played', 180_000);
  const startedIn = pick<string | Date | null>(row, 'started_at', null);
  const endedIn = pick<string | Date | null>(row, 'ended_at', null);
  const ended =
    endedIn !== null
      ? iso(endedIn)
      : startedIn !== null
        ? new Date(new Date(startedIn).getTime() + (ms ?? 0)).toISOString()
        : DEFAULT_ENDED_AT;
  const started = startedIn !== null ? iso(startedIn) : new Date(new Date(ended).getTime() - (ms ?? 0)).toISOString();
  const track = kind === 'track';
  const episode = kind === 'episode';
  const audiobook = kind === 'audiobook';
  return {
    ended_at: ended,
    started_at: started,
    ms_played: ms,
    kind,
    track_uri: pick(row, 'track_uri', null),
    track_name: pick(row, 'track_name', track ? 'Track' : null),
    artist_name: pick(row, 'artist_name', track ? 'Artist' : null),
    album_name: pick(row, 'album_name', track ? 'Album' : null),
    episode_uri: pick(row, 'episode_uri', null),
    episode_name: pick(row, 'episode_name', episode ? 'Episode' : null),
    show_name: pick(row, 'show_name', episode ? 'Show' : null),
    audiobook_uri: pick(row, 'audiobook_uri', null),
    audiobook_title: pick(row, 'audiobook_title', audiobook ? 'Audiobook' : null),
    audiobook_chapter_uri: pick(row, 'audiobook_chapter_uri', null),
    audiobook_chapter_title: pick(row, 'audiobook_chapter_title', audiobook ? 'Chapter' : null),
    platform: pick(row, 'platform', 'test'),
    conn_country: pick(row, 'conn_country', 'US'),
    reason_start: pick(row, 'reason_start', 'trackdone'),
    reason_end: pick(row, 'reason_end', 'trackdone'),
    shuffle: pick(row, 'shuffle', false),
    skipped: pick(row, 'skipped', false),
    offline: pick(row, 'offline', false),
    offline_at: pick(row, 'offline_at', null),
    incognito: pick(row, 'incognito', false),
    source: pick(row, 'source', 'extended_export'),
    time_precision: pick(row, 'time_precision', 'second'),
    occurrence: pick(row, 'occurrence', 1),
    import_id: pick(row, 'import_id', 'test-import'),
    source_file: pick(row, 'source_file', 'test.json'),
    source_row: pick(row, 'source_row', index + 1),
    album_uri: pick(row, 'album_uri', null),
    artist_uris: pick(row, 'artist_uris', null),
    context_uri: pick(row, 'context_uri', null),
    context_type: pick(row, 'context_type', null),
    api_played_at: pick(row, 'api_played_at', null),
  };
}

/** The Hive `year` of a play: the UTC year of ended_at. */
export function playYear(play: Play): number {
  return new Date(play.ended_at as string).getUTCFullYear();
}

const PLAYS_TABLE_COLUMNS: Columns = [...PLAY_COLUMNS, ['user_id', 'VARCHAR'], ['year', 'INTEGER']];

/**
 * Create (or replace) an in-memory table `name` shaped like the `plays` view (PLAY_COLUMNS, then
 * user_id, year). Rows without user_id get `userId`.
 */
export async function createPlaysTable(
  db: Db,
  input: readonly PlayInput[],
  opts: { name?: string; userId?: string } = {},
): Promise<void> {
  const data = input.map((r, i) => {
    const play = playRow(r, i);
    return { ...play, user_id: r.user_id ?? opts.userId ?? 'u1', year: playYear(play) };
  });
  await db.run(`CREATE OR REPLACE TABLE ${ident(opts.name ?? 'plays')} AS ${jsonRowsSql(PLAYS_TABLE_COLUMNS)}`, [
    JSON.stringify(data),
  ]);
}

export interface WritePlaysOptions {
  /** 'append' (default) keeps the plays already stored; 'replace' makes `rows` the user's only plays. */
  mode?: 'append' | 'replace';
  /** Database to use; one is opened (and closed) when omitted. */
  db?: Db;
}

/**
 * Store plays of `userId` as Parquet, one new generation per touched year partition (writeGeneration).
 * Returns the number of plays the user has in the touched partitions afterwards.
 */
export async function writePlays(
  layout: Layout,
  userId: string,
  input: readonly PlayInput[],
  opts: WritePlaysOptions = {},
): Promise<number> {
  if (!opts.db) return withDb({ threads: 1 }, (db) => writePlays(layout, userId, input, { ...opts, db }));
  const db = opts.db;
  const mode = opts.mode ?? 'append';
  const byYear = new Map<number, Play[]>();
  input.forEach((r, i) => {
    const play = playRow(r, i);
    const year = playYear(play);
    byYear.set(year, [...(byYear.get(year) ?? []), play]);
  });
  if (mode === 'replace') {
    for (const file of await liveFiles(layout.userPlays(userId))) {
      const year = Number(/year=(\d+)/.exec(file)?.[1]);
      if (!byYear.has(year)) byYear.set(year, []);
    }
  }
  const columns = PLAY_COLUMNS.map(([name]) => ident(name)).join(', ');
  let total = 0;
  for (const [year, plays] of [...byYear].sort(([a], [b]) => a - b)) {
    const dir = layout.playsPartition(userId, year);
    const existing = mode === 'append' ? await liveFile(dir) : undefined;
    const kept = existing ? ` union all select ${columns} from read_parquet(${literal(existing)})` : '';
    total += await writeGeneration(db, dir, `${jsonRowsSql(PLAY_COLUMNS)}${kept}`, [JSON.stringify(plays)]);
  }
  return total;
}

/**
 * Store a dense synthetic history for `userId` straight from SQL (no JSON): `plays` track streams
 * spread evenly over `years` calendar years ending with 2025, each a listen, each day's drawn from
 * `perDay` tracks of `tracks` (by 9,000 artists, on 30,000 albums; the tracks drift day by day).
 * Memory tests use it: a day of it is far heavier than a real listener's.
 */
export async function writeDenseHistory(
  layout: Layout,
  userId: string,
  opts: { plays: number; years: number; tracks: number; perDay: number },
): Promise<void> {
  const first = 2026 - opts.years;
  const span = (Date.UTC(2026, 0, 1) - Date.UTC(first, 0, 1)) / 1000;
  const playsPerDay = Math.max(1, Math.round(opts.plays / (span / 86_400)));
  const columns = PLAY_COLUMNS.map(([name, type]) => {
    const value: Record<string, string> = {
      ended_at: `make_timestamptz(${first}, 1, 1, 0, 0, 0, 'UTC') + to_seconds(i * ${span} // ${opts.plays}) + INTERVAL 200 SECOND`,
      started_at: `make_timestamptz(${first}, 1, 1, 0, 0, 0, 'UTC') + to_seconds(i * ${span} // ${opts.plays})`,
      ms_played: '200000',
      kind: `'track'`,
      track_uri: `'spotify:track:' || lpad(cast(t as varchar), 22, '0')`,
      track_name: `'A track with a title of some length, number ' || t`,
      artist_name: `'The artist called ' || (t % 9000)`,
      album_name: `'An album: part ' || (t % 30000) || ' (deluxe edition)'`,
      source: `'extended_export'`,
      time_precision: `'second'`,
      occurrence: '1',
      import_id: `'dense'`,
      source_file: `'Streaming_History_Audio_dense.json'`,
      source_row: 'i + 1',
    };
    return `cast(${value[name] ?? 'null'} as ${type}) as ${ident(name)}`;
  }).join(', ');
  await withDb({ threads: 2 }, async (db) => {
    for (let year = first; year < 2026; year++) {
      await writeGeneration(
        db,
        layout.playsPartition(userId, year),
        `select * from (
           select ${columns} from (select range as i, ((range // ${playsPerDay}) * 53 + (range * 7919) % ${opts.perDay}) % ${opts.tracks} as t from range(${opts.plays}))
         ) where year(ended_at) = ${year} order by ended_at`,
      );
    }
  });
}
