import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Db } from '../../warehouse/duckdb.ts';
import { MART_COLUMNS, setModelVariables } from '../../warehouse/models.ts';
import { assertChecksPass } from '../helpers/checks.ts';
import { columnsOf, createTable, rows } from '../helpers/sql.ts';
import { type PlayInput } from '../helpers/plays.ts';
import { TZ, USER, defineModel, hourly, setUpPlays, weekdays } from './fixtures.ts';

const k = (a: string, b: string): string => `${a}\x1f${b}`;

// 03:00 UTC on Aug 1 is still July 31 in New York: the build date is the user's local today.
const NOW = new Date('2024-08-01T03:00:00Z');
const BUILT_AT = NOW.toISOString();

interface Entry {
  artist: string;
  track?: string;
  album?: string | null;
  uri?: string | null;
  plays: number;
  ms: number;
}

/**
 * A daily_rollups row; artists, tracks and albums lists are derived from `entries`, whose names go to
 * the dimensions (see dimensionsOf).
 */
function day(
  local_date: string,
  d: {
    streams: number;
    skips?: number;
    episode_ms?: number;
    hours?: Record<number, [number, number]>;
    entries?: Entry[];
    shows?: { show_name: string; streams: number; ms: number }[];
    user_id?: string;
  },
) {
  const entries = d.entries ?? [];
  const h = hourly(d.hours);
  return {
    user_id: d.user_id ?? USER,
    local_date,
    streams: d.streams,
    listens: h.reduce((a, x) => a + x.listens, 0),
    skips: d.skips ?? 0,
    track_ms: h.reduce((a, x) => a + x.ms, 0),
    episode_ms: d.episode_ms ?? 0,
    audiobook_ms: 0,
    hourly: h,
    // The lists hold keys; names are in the dimensions (dimensionsOf).
    artists: entries.map((e) => ({ artist_key: e.artist.toLowerCase(), plays: e.plays, ms: e.ms })),
    tracks: entries
      .filter((e) => e.track)
      .map((e) => ({ track_key: k(e.artist.toLowerCase(), e.track!.toLowerCase()), plays: e.plays, ms: e.ms })),
    albums: entries
      .filter((e) => e.album)
      .map((e) => ({ album_key: k(e.artist.toLowerCase(), e.album!.toLowerCase()), plays: e.plays, ms: e.ms })),
    entries, // (not a column: read by dimensionsOf)
    shows: d.shows ?? [],
  };
}

type Day = ReturnType<typeof day>;

/**
 * dim_artists, dim_tracks and dim_albums as the runner would build them from the plays behind
 * `days`: one row per key of the user, spelled as on the latest day it appears; a track's album
 * and URI the latest non-NULL ones.
 */
function dimensionsOf(days: readonly Day[]) {
  const artists = new Map<string, Record<string, unknown>>();
  const tracks = new Map<string, Record<string, unknown>>();
  const albums = new Map<string, Record<string, unknown>>();
  const sorted = [...days].filter((d) => d.user_id === USER).sort((a, b) => a.local_date.localeCompare(b.local_date));
  for (const d of sorted) {
    const at = `${d.local_date}T12:00:00Z`;
    for (const e of d.entries) {
      const ak = e.artist.toLowerCase();
      const times = (prev: Record<string, unknown> | undefined) => ({ first_played_at: prev?.first_played_at ?? at, last_played_at: at });
      artists.set(ak, { user_id: USER, artist_key: ak, artist_name: e.artist, ...times(artists.get(ak)) });
      if (e.track) {
        const tk = k(ak, e.track.toLowerCase());
        const prev = tracks.get(tk);
        tracks.set(tk, {
          user_id: USER,
          track_key: tk,
          track_name: e.track,
          artist_name: e.artist,
          album_name: e.album ?? prev?.album_name ?? null,
          track_uri: e.uri ?? prev?.track_uri ?? null,
          ...times(prev),
        });
      }
      if (e.album) {
        const bk = k(ak, e.album.toLowerCase());
        albums.set(bk, { user_id: USER, album_key: bk, album_name: e.album, artist_name: e.artist, ...times(albums.get(bk)) });
      }
    }
  }
  return { dim_artists: [...artists.values()], dim_tracks: [...tracks.values()], dim_albums: [...albums.values()] };
}

const alphaOne = { artist: 'Alpha', track: 'One', album: 'First', uri: 'spotify:track:1' };
const betaTwo = { artist: 'Beta', track: 'Two', album: 'Second', uri: 'spotify:track:2' };
const deltaNight = { artist: 'Delta', track: 'Night', album: 'Moon' };

/** Given daily rows (user u1, plus one row of u2 that must not count). */
const GIVEN_DAYS = [
  day('2023-12-31', { streams: 1, hours: { 23: [1, 100_000] }, entries: [{ ...alphaOne, plays: 1, ms: 100_000 }] }),
  day('2024-06-15', {
    streams: 3,
    episode_ms: 50_000,
    hours: { 10: [2, 300_000] },
    entries: [{ ...betaTwo, plays: 2, ms: 300_000 }],
    shows: [{ show_name: 'Pod', streams: 1, ms: 50_000 }],
  }),
  // July 1st: in the quarter, not in the 30-day month (July 2-31). Gamma was only skipped.
  day('2024-07-01', {
    streams: 4,
    skips: 1,
    hours: { 8: [3, 420_000] },
    entries: [
      { ...alphaOne, plays: 3, ms: 400_000 },
      { artist: 'Gamma', track: 'Zero', album: 'Z', plays: 0, ms: 20_000 },
    ],
  }),
  day('2024-07-20', { streams: 1, hours: { 20: [1, 200_000] }, entries: [{ ...betaTwo, plays: 1, ms: 200_000 }] }),
  day('2024-07-21', { streams: 1, hours: { 20: [1, 200_000] }, entries: [{ ...betaTwo, plays: 1, ms: 200_000 }] }),
  // July 24th: in the month, not in the week (July 25-31).
  day('2024-07-24', { streams: 1, hours: { 7: [1, 150_000] }, entries: [{ ...deltaNight, plays: 1, ms: 150_000 }] }),
  // Another spelling from an account export: no album, no URI. Latest name wins in the top lists.
  day('2024-07-28', {
    streams: 2,
    hours: { 21: [2, 360_000] },
    entries: [{ artist: 'ALPHA', track: 'ONE', album: null, uri: null, plays: 2, ms: 360_000 }],
  }),
  day('2024-07-29', { streams: 1, hours: { 22: [1, 100_000] }, entries: [{ ...betaTwo, plays: 1, ms: 100_000 }] }),
  day('2024-07-30', { streams: 1, hours: { 23: [1, 100_000] }, entries: [{ ...deltaNight, plays: 1, ms: 100_000 }] }),
  // Only a podcast: streams, but not an active day.
  day('2024-07-31', { streams: 1, episode_ms: 3_600_000, shows: [{ show_name: 'Pod', streams: 1, ms: 3_600_000 }] }),
  day('2024-07-30', {
    user_id: 'u2',
    streams: 9,
    hours: { 12: [9, 900_000] },
    entries: [{ ...betaTwo, plays: 9, ms: 900_000 }],
  }),
];

const SUMMARY_COLUMNS = `
  period_type, period_key, period_start, period_end, streams, listens, skips, track_ms,
  episode_ms, audiobook_ms, active_days, unique_tracks, unique_artists, unique_albums,
  longest_streak_days, longest_streak_start, longest_streak_end`;
const SUMMARY = `select ${SUMMARY_COLUMNS} from period_snapshots order by period_type, period_key`;

function summary(
  period_type: string,
  period_key: string,
  period_start: string,
  period_end: string,
  [streams, listens, skips, track_ms, episode_ms]: number[],
  [active_days, unique_tracks, unique_artists, unique_albums]: number[],
  streak: [number, string | null, string | null],
) {
  return {
    period_type,
    period_key,
    period_start,
    period_end,
    streams,
    listens,
    skips,
    track_ms,
    episode_ms,
    audiobook_ms: 0,
    active_days,
    unique_tracks,
    unique_artists,
    unique_albums,
    longest_streak_days: streak[0],
    longest_streak_start: streak[1],
    longest_streak_end: streak[2],
  };
}

const STREAK_28_30: [number, string, string] = [3, '2024-07-28', '2024-07-30'];

const EXPECTED_SUMMARY = [
  summary('all_time', 'all', '2023-12-31', '2024-07-31', [16, 13, 1, 1_930_000, 3_650_000], [9, 3, 3, 3], STREAK_28_30),
  summary('calendar_month', '2023-12', '2023-12-01', '2023-12-31', [1, 1, 0, 100_000, 0], [1, 1, 1, 1], [1, '2023-12-31', '2023-12-31']),
  summary('calendar_month', '2024-06', '2024-06-01', '2024-06-30', [3, 2, 0, 300_000, 50_000], [1, 1, 1, 1], [1, '2024-06-15', '2024-06-15']),
  summary('calendar_month', '2024-07', '2024-07-01', '2024-07-31', [12, 10, 1, 1_530_000, 3_600_000], [7, 3, 3, 3], STREAK_28_30),
  summary('calendar_year', '2023', '2023-01-01', '2023-12-31', [1, 1, 0, 100_000, 0], [1, 1, 1, 1], [1, '2023-12-31', '2023-12-31']),
  summary('calendar_year', '2024', '2024-01-01', '2024-12-31', [15, 12, 1, 1_830_000, 3_650_000], [8, 3, 3, 3], STREAK_28_30),
  summary('month', '2024-07-31', '2024-07-02', '2024-07-31', [8, 7, 0, 1_110_000, 3_600_000], [6, 3, 3, 2], STREAK_28_30),
  summary('quarter', '2024-07-31', '2024-05-03', '2024-07-31', [15, 12, 1, 1_830_000, 3_650_000], [8, 3, 3, 3], STREAK_28_30),
  summary('week', '2024-07-31', '2024-07-25', '2024-07-31', [5, 4, 0, 560_000, 3_600_000], [3, 3, 3, 2], STREAK_28_30),
  summary('year', '2024-07-31', '2023-08-02', '2024-07-31', [16, 13, 1, 1_930_000, 3_650_000], [9, 3, 3, 3], STREAK_28_30),
];

const EXPECTED_WEEK = {
  user_id: USER,
  ...EXPECTED_SUMMARY.find((r) => r.period_type === 'week'),
  top_artists: [
    { rank: 1, artist_name: 'ALPHA', plays: 2, ms: 360_000 },
    // Equal plays and ms: by name.
    { rank: 2, artist_name: 'Beta', plays: 1, ms: 100_000 },
    { rank: 3, artist_name: 'Delta', plays: 1, ms: 100_000 },
  ],
  top_tracks: [
    // Names from the dimension: the latest spelling (July 28th's account export), with the latest
    // album and URI known (July 1st's).
    { rank: 1, track_name: 'ONE', artist_name: 'ALPHA', album_name: 'First', track_uri: 'spotify:track:1', plays: 2, ms: 360_000 },
    { rank: 2, track_name: 'Two', artist_name: 'Beta', album_name: 'Second', track_uri: 'spotify:track:2', plays: 1, ms: 100_000 },
    { rank: 3, track_name: 'Night', artist_name: 'Delta', album_name: 'Moon', track_uri: null, plays: 1, ms: 100_000 },
  ],
  top_albums: [
    { rank: 1, album_name: 'Second', artist_name: 'Beta', plays: 1, ms: 100_000 },
    { rank: 2, album_name: 'Moon', artist_name: 'Delta', plays: 1, ms: 100_000 },
  ],
  hourly: hourly({ 21: [2, 360_000], 22: [1, 100_000], 23: [1, 100_000] }),
  weekday: weekdays({ 7: [2, 360_000], 1: [1, 100_000], 2: [1, 100_000] }),
  built_at: BUILT_AT,
};

const EXPECTED_ALL_TIME = {
  user_id: USER,
  ...EXPECTED_SUMMARY.find((r) => r.period_type === 'all_time'),
  top_artists: [
    { rank: 1, artist_name: 'ALPHA', plays: 6, ms: 860_000 },
    { rank: 2, artist_name: 'Beta', plays: 5, ms: 800_000 },
    { rank: 3, artist_name: 'Delta', plays: 2, ms: 250_000 },
    // Skipped only: no play, but listened to for a while; not counted in unique_artists.
    { rank: 4, artist_name: 'Gamma', plays: 0, ms: 20_000 },
  ],
  top_tracks: [
    { rank: 1, track_name: 'ONE', artist_name: 'ALPHA', album_name: 'First', track_uri: 'spotify:track:1', plays: 6, ms: 860_000 },
    { rank: 2, track_name: 'Two', artist_name: 'Beta', album_name: 'Second', track_uri: 'spotify:track:2', plays: 5, ms: 800_000 },
    { rank: 3, track_name: 'Night', artist_name: 'Delta', album_name: 'Moon', track_uri: null, plays: 2, ms: 250_000 },
    { rank: 4, track_name: 'Zero', artist_name: 'Gamma', album_name: 'Z', track_uri: null, plays: 0, ms: 20_000 },
  ],
  top_albums: [
    { rank: 1, album_name: 'Second', artist_name: 'Beta', plays: 5, ms: 800_000 },
    { rank: 2, album_name: 'First', artist_name: 'Alpha', plays: 4, ms: 500_000 },
    { rank: 3, album_name: 'Moon', artist_name: 'Delta', plays: 2, ms: 250_000 },
    { rank: 4, album_name: 'Z', artist_name: 'Gamma', plays: 0, ms: 20_000 },
  ],
  hourly: hourly({
    7: [1, 150_000],
    8: [3, 420_000],
    10: [2, 300_000],
    20: [2, 400_000],
    21: [2, 360_000],
    22: [1, 100_000],
    23: [2, 200_000],
  }),
  weekday: weekdays({ 1: [4, 520_000], 2: [1, 100_000], 3: [1, 150_000], 6: [3, 500_000], 7: [4, 660_000] }),
  built_at: BUILT_AT,
};

describe('period_snapshots', () => {
  let db: Db;
  before(async () => {
    db = await Db.open({ threads: 1 });
  });
  after(() => db.close());

  async function build(days: Day[], now = NOW): Promise<void> {
    await createTable(db, 'daily_rollups', MART_COLUMNS.daily_rollups, days);
    for (const [dim, given] of Object.entries(dimensionsOf(days))) {
      await createTable(db, dim, MART_COLUMNS[dim as keyof ReturnType<typeof dimensionsOf>], given);
    }
    await setModelVariables(db, { userId: USER, timezone: TZ, now });
    await defineModel(db, 'period_snapshots', 'table');
  }

  test('the given daily rows are themselves consistent', async () => {
    await createTable(db, 'daily_rollups', MART_COLUMNS.daily_rollups, GIVEN_DAYS);
    await assertChecksPass(db, 'daily_rollups');
  });

  test('given daily rows -> expected periods', async () => {
    await build(GIVEN_DAYS);
    assert.deepEqual(await rows(db, SUMMARY), EXPECTED_SUMMARY);
    assert.deepEqual(await rows(db, `select * from period_snapshots where period_type = 'week'`), [EXPECTED_WEEK]);
    assert.deepEqual(await rows(db, `select * from period_snapshots where period_type = 'all_time'`), [EXPECTED_ALL_TIME]);
    await assertChecksPass(db, 'period_snapshots');
  });

  test('has exactly the declared columns and types', async () => {
    await build(GIVEN_DAYS);
    const declared = await columnsOf(
      db,
      `select ${MART_COLUMNS.period_snapshots.map(([n, t]) => `cast(null as ${t}) as "${n}"`).join(', ')}`,
    );
    assert.deepEqual(await columnsOf(db, 'period_snapshots'), declared);
  });

  test('a user without data gets empty rolling periods and all_time', async () => {
    await build([]);
    const empty = (period_type: string, period_key: string, period_start: string) => ({
      ...summary(period_type, period_key, period_start, '2024-07-31', [0, 0, 0, 0, 0], [0, 0, 0, 0], [0, null, null]),
      top_artists: [],
      top_tracks: [],
      top_albums: [],
      hourly: hourly(),
      weekday: weekdays(),
    });
    assert.deepEqual(
      await rows(
        db,
        `select ${SUMMARY_COLUMNS}, top_artists, top_tracks, top_albums, hourly, weekday
         from period_snapshots order by period_type`,
      ),
      [
        empty('all_time', 'all', '2024-07-31'),
        empty('month', '2024-07-31', '2024-07-02'),
        empty('quarter', '2024-07-31', '2024-05-03'),
        empty('week', '2024-07-31', '2024-07-25'),
        empty('year', '2024-07-31', '2023-08-02'),
      ],
    );
    await assertChecksPass(db, 'period_snapshots');
  });

  test('rolling periods move with the build date', async () => {
    await build(GIVEN_DAYS, new Date('2024-08-05T12:00:00Z'));
    assert.deepEqual(
      await rows(db, `select period_key, period_start, listens, longest_streak_days from period_snapshots where period_type = 'week'`),
      [{ period_key: '2024-08-05', period_start: '2024-07-30', listens: 1, longest_streak_days: 1 }],
    );
  });

  test('random plays: the snapshots equal a direct computation from the plays', async () => {
    // A small deterministic generator (mulberry32), so that a failure can be reproduced.
    let seed = 20240731;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T,>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const start = Date.parse('2023-05-01T00:00:00Z');
    const plays: PlayInput[] = Array.from({ length: 4000 }, () => {
      const at = new Date(start + Math.floor(random() * 460) * 86_400_000 + Math.floor(random() * 86_400) * 1000);
      const kind = pick(['track', 'track', 'track', 'track', 'track', 'track', 'episode', 'audiobook', 'unknown']);
      const n = Math.floor(random() * 80);
      return {
        kind,
        started_at: at.toISOString(),
        // Few distinct lengths, so that ties in plays and ms are common.
        ms_played: pick([0, 10_000, 29_999, 30_000, 60_000, 180_000]),
        ...(kind === 'track'
          ? { artist_name: `Artist ${n % 12}`, track_name: `Track ${n}`, album_name: `Album ${n % 17}`, track_uri: `spotify:track:${n}` }
          : {}),
      };
    });
    // plays -> int_plays_local -> daily_rollups (views) -> period_snapshots
    await setUpPlays(db, plays, { now: new Date('2024-07-20T12:00:00Z') });
    await defineModel(db, 'period_snapshots', 'table');
    await assertChecksPass(db, 'daily_rollups');
    await assertChecksPass(db, 'period_snapshots');
    assert.ok(((await rows<{ n: number }>(db, `select count(*) as n from period_snapshots`))[0]?.n ?? 0) > 20);

    const fromModel = `
      select period_type, period_key, streams, listens, skips, track_ms, episode_ms, audiobook_ms,
             active_days, unique_tracks, unique_artists, unique_albums, longest_streak_days,
             longest_streak_start,
             list_transform(top_tracks, lambda e: [lower(e.artist_name) || chr(31) || lower(e.track_name), e.plays::varchar, e.ms::varchar]) as top_tracks,
             list_transform(top_artists, lambda e: [lower(e.artist_name), e.plays::varchar, e.ms::varchar]) as top_artists,
             list_transform(top_albums, lambda e: [lower(e.artist_name) || chr(31) || lower(e.album_name), e.plays::varchar, e.ms::varchar]) as top_albums,
             hourly, weekday
      from period_snapshots
      order by period_type, period_key`;
    const reference = `
      with periods as (
          select period_type, period_key, period_start, period_end from period_snapshots
      ),
      p as (
          select periods.*, plays.*
          from periods
          join int_plays_local as plays on plays.local_date between periods.period_start and periods.period_end
      ),
      totals as (
          select period_type, period_key,
                 count(*) as streams,
                 count(*) filter (where is_listen) as listens,
                 count(*) filter (where is_skip) as skips,
                 coalesce(sum(ms_played) filter (where kind = 'track'), 0)::bigint as track_ms,
                 coalesce(sum(ms_played) filter (where kind = 'episode'), 0)::bigint as episode_ms,
                 coalesce(sum(ms_played) filter (where kind = 'audiobook'), 0)::bigint as audiobook_ms,
                 count(distinct local_date) filter (where is_listen) as active_days,
                 count(distinct track_key) filter (where is_listen) as unique_tracks,
                 count(distinct lower(artist_name)) filter (where is_listen) as unique_artists,
                 count(distinct album_key) filter (where is_listen) as unique_albums
          from p group by all
      ),
      listen_days as (
          select distinct period_type, period_key, local_date from p where is_listen
      ),
      islands as (
          select period_type, period_key, local_date,
                 local_date - (row_number() over (partition by period_type, period_key order by local_date))::integer as island
          from listen_days
      ),
      streaks as (
          select period_type, period_key, count(*) as days, min(local_date) as first_day
          from islands group by period_type, period_key, island
      ),
      longest as (
          select period_type, period_key, days, first_day from streaks
          qualify row_number() over (partition by period_type, period_key order by days desc, first_day) = 1
      ),
      entries as (
          select period_type, period_key, 'track' as entity, track_key as entry_key,
                 count(*) filter (where is_listen) as plays, sum(ms_played) as ms
          from p where kind = 'track' group by all
          union all
          select period_type, period_key, 'artist', lower(artist_name),
                 count(*) filter (where is_listen), sum(ms_played)
          from p where kind = 'track' group by all
          union all
          select period_type, period_key, 'album', album_key,
                 count(*) filter (where is_listen), sum(ms_played)
          from p where kind = 'track' group by all
      ),
      ranked as (
          select *, row_number() over (partition by period_type, period_key, entity order by plays desc, ms desc, entry_key) as rank
          from entries where plays > 0 or ms > 0
          qualify rank <= 50
      ),
      tops as (
          select period_type, period_key,
                 coalesce(list([entry_key, plays::varchar, ms::varchar] order by rank) filter (where entity = 'track'), []) as top_tracks,
                 coalesce(list([entry_key, plays::varchar, ms::varchar] order by rank) filter (where entity = 'artist'), []) as top_artists,
                 coalesce(list([entry_key, plays::varchar, ms::varchar] order by rank) filter (where entity = 'album'), []) as top_albums
          from ranked group by all
      ),
      hours as (
          select periods.period_type, periods.period_key,
                 list({'hour': h.hour::integer, 'listens': coalesce(c.listens, 0), 'ms': coalesce(c.ms, 0)::bigint} order by h.hour) as hourly
          from periods
          cross join (select range as hour from range(24)) as h
          left join (
              select period_type, period_key, local_hour, count(*) filter (where is_listen) as listens, sum(ms_played) as ms
              from p where kind = 'track' group by all
          ) as c on c.period_type = periods.period_type and c.period_key = periods.period_key and c.local_hour = h.hour
          group by all
      ),
      weekdays as (
          select periods.period_type, periods.period_key,
                 list({'iso_weekday': w.d::integer, 'listens': coalesce(c.listens, 0), 'ms': coalesce(c.ms, 0)::bigint} order by w.d) as weekday
          from periods
          cross join (select range as d from range(1, 8)) as w
          left join (
              select period_type, period_key, iso_weekday, count(*) filter (where is_listen) as listens, sum(ms_played) as ms
              from p where kind = 'track' group by all
          ) as c on c.period_type = periods.period_type and c.period_key = periods.period_key and c.iso_weekday = w.d
          group by all
      )
      select periods.period_type, periods.period_key,
             coalesce(streams, 0) as streams, coalesce(listens, 0) as listens, coalesce(skips, 0) as skips,
             coalesce(track_ms, 0) as track_ms, coalesce(episode_ms, 0) as episode_ms, coalesce(audiobook_ms, 0) as audiobook_ms,
             coalesce(active_days, 0) as active_days, coalesce(unique_tracks, 0) as unique_tracks,
             coalesce(unique_artists, 0) as unique_artists, coalesce(unique_albums, 0) as unique_albums,
             coalesce(longest.days, 0) as longest_streak_days, longest.first_day as longest_streak_start,
             coalesce(tops.top_tracks, []) as top_tracks, coalesce(tops.top_artists, []) as top_artists,
             coalesce(tops.top_albums, []) as top_albums, hours.hourly, weekdays.weekday
      from periods
      left join totals using (period_type, period_key)
      left join longest using (period_type, period_key)
      left join tops using (period_type, period_key)
      join hours using (period_type, period_key)
      join weekdays using (period_type, period_key)
      order by period_type, period_key`;
    assert.deepEqual(await rows(db, fromModel), await rows(db, reference));
    for (const view of ['daily_rollups', 'int_plays_local', 'int_plays_keyed', 'dim_artists', 'dim_tracks', 'dim_albums']) await db.run(`DROP VIEW temp.${view}`);
  });

  test('top lists keep the best 50; equal streaks: the earliest', async () => {
    const many = Array.from({ length: 60 }, (_, i) => ({
      artist: `Artist ${String(i).padStart(2, '0')}`,
      track: 'Song',
      album: 'Album',
      plays: 1,
      ms: 100_000 + i,
    }));
    const total = many.reduce((a, e) => a + e.ms, 0);
    await build([
      day('2024-07-10', { streams: 60, hours: { 12: [60, total] }, entries: many }),
      day('2024-07-11', { streams: 1, hours: { 12: [1, 1_000] }, entries: [{ ...alphaOne, plays: 1, ms: 1_000 }] }),
      day('2024-07-20', { streams: 1, hours: { 12: [1, 1_000] }, entries: [{ ...alphaOne, plays: 1, ms: 1_000 }] }),
      day('2024-07-21', { streams: 1, hours: { 12: [1, 1_000] }, entries: [{ ...alphaOne, plays: 1, ms: 1_000 }] }),
    ]);
    const [month] = await rows<{
      unique_artists: number;
      top_artists: { rank: number; artist_name: string }[];
      longest_streak_start: string;
    }>(db, `select unique_artists, top_artists, longest_streak_start from period_snapshots where period_key = '2024-07'`);
    assert.equal(month?.unique_artists, 61);
    assert.equal(month?.top_artists.length, 50);
    // Alpha has 3 plays; then the artists of one play, most ms first.
    assert.deepEqual(month?.top_artists[0], { rank: 1, artist_name: 'Alpha', plays: 3, ms: 3_000 });
    assert.deepEqual(month?.top_artists[1], { rank: 2, artist_name: 'Artist 59', plays: 1, ms: 100_059 });
    assert.deepEqual(month?.top_artists[49], { rank: 50, artist_name: 'Artist 11', plays: 1, ms: 100_011 });
    assert.equal(month?.longest_streak_start, '2024-07-10');
    await assertChecksPass(db, 'period_snapshots');
  });
});
