/**
 * Given rows shared by the SQL model tests, and helpers to run the models on them.
 *
 * The plays are for user 'u1' in America/New_York (UTC-5 in winter, UTC-4 in summer), plus one
 * play of another user that must never show up. `source_row` numbers the plays so that expected
 * rows can refer to them.
 */
import { type Db } from '../../warehouse/duckdb.ts';
import { type ModelName, type ModelScope, modelSql, setModelVariables } from '../../warehouse/models.ts';
import { type PlayInput, createPlaysTable } from '../helpers/plays.ts';

export const TZ = 'America/New_York';
export const USER = 'u1';

export const GIVEN_PLAYS: PlayInput[] = [
  // 2024-06-01, a Saturday (EDT, UTC-4): the busy day.
  // A spelling variant of Alpha / One from an account export (no URI, no album), 09:00 local.
  { source_row: 1, started_at: '2024-06-01T13:00:00Z', ms_played: 180_000, artist_name: 'ALPHA', track_name: 'one ', album_name: null, source: 'account_export' },
  { source_row: 2, started_at: '2024-06-01T14:00:00Z', ms_played: 200_000, artist_name: 'Alpha', track_name: 'One', album_name: 'First', track_uri: 'spotify:track:1' },
  { source_row: 3, started_at: '2024-06-01T14:10:00Z', ms_played: 200_000, artist_name: 'Alpha', track_name: 'One', album_name: 'First', track_uri: 'spotify:track:1' },
  // 29.999 s: a skip. 30 s: a listen.
  { source_row: 4, started_at: '2024-06-01T14:20:00Z', ms_played: 29_999, artist_name: 'Alpha', track_name: 'One', album_name: 'First', track_uri: 'spotify:track:1' },
  { source_row: 5, started_at: '2024-06-01T15:00:00Z', ms_played: 30_000, artist_name: 'Beta', track_name: 'Two', album_name: 'Second', track_uri: 'spotify:track:2' },
  { source_row: 6, started_at: '2024-06-01T15:05:00Z', ms_played: 250_000, artist_name: 'Beta', track_name: 'Three', album_name: 'Second', track_uri: 'spotify:track:3' },
  // Episodes (any length counts as a stream of the show), an audiobook, an unknown row.
  { source_row: 7, kind: 'episode', started_at: '2024-06-01T17:00:00Z', ms_played: 600_000, show_name: 'Pod', episode_name: 'Pod #1' },
  { source_row: 8, kind: 'episode', started_at: '2024-06-01T17:30:00Z', ms_played: 1_000, show_name: 'Pod', episode_name: 'Pod #2' },
  { source_row: 9, kind: 'episode', started_at: '2024-06-01T18:00:00Z', ms_played: 900_000, show_name: 'Cast', episode_name: 'Cast #1' },
  { source_row: 10, kind: 'audiobook', started_at: '2024-06-01T19:00:00Z', ms_played: 120_000 },
  { source_row: 11, kind: 'unknown', started_at: '2024-06-01T19:30:00Z', ms_played: 5_000 },
  // A track stream of 0 ms: a skip, and nothing to show in the lists.
  { source_row: 12, started_at: '2024-06-01T20:00:00Z', ms_played: 0, artist_name: 'Gamma', track_name: 'Zero', album_name: 'Z' },

  // 22:30 on Sunday 2024-01-14 in New York is 03:30 on the 15th in UTC.
  { source_row: 13, started_at: '2024-01-15T03:30:00Z', ms_played: 240_000, artist_name: 'Delta', track_name: 'Night', album_name: 'Moon' },
  // Starts at 23:59 local and ends after midnight: it belongs to the 14th, hour 23.
  { source_row: 14, started_at: '2024-01-15T04:59:00Z', ms_played: 300_000, artist_name: 'Delta', track_name: 'Late', album_name: 'Moon' },

  // 2024-03-10: clocks go forward at 02:00 (07:00 UTC); local hour 2 does not exist.
  { source_row: 15, started_at: '2024-03-10T06:30:00Z', ms_played: 60_000, artist_name: 'Echo', track_name: 'Spring', album_name: 'E' },
  { source_row: 16, started_at: '2024-03-10T07:30:00Z', ms_played: 60_000, artist_name: 'Echo', track_name: 'Spring', album_name: 'E' },

  // 2024-11-03: clocks go back at 02:00 EDT (06:00 UTC); local 01:30 happens twice.
  { source_row: 17, started_at: '2024-11-03T05:30:00Z', ms_played: 60_000, artist_name: 'Echo', track_name: 'Fall', album_name: 'E' },
  { source_row: 18, started_at: '2024-11-03T06:30:00Z', ms_played: 60_000, artist_name: 'Echo', track_name: 'Fall', album_name: 'E' },

  // Another user's play on the busy day: never in u1's models.
  { source_row: 19, user_id: 'u2', started_at: '2024-06-01T14:00:00Z', ms_played: 200_000, artist_name: 'Alpha', track_name: 'One' },
];

/** 24 hourly entries, zero except the given hours: { 10: [listens, ms] }. */
export function hourly(given: Record<number, [number, number]> = {}): { hour: number; listens: number; ms: number }[] {
  return Array.from({ length: 24 }, (_, hour) => ({ hour, listens: given[hour]?.[0] ?? 0, ms: given[hour]?.[1] ?? 0 }));
}

/** 7 weekday entries (1 = Monday), zero except the given ones: { 6: [listens, ms] }. */
export function weekdays(
  given: Record<number, [number, number]> = {},
): { iso_weekday: number; listens: number; ms: number }[] {
  return Array.from({ length: 7 }, (_, i) => ({
    iso_weekday: i + 1,
    listens: given[i + 1]?.[0] ?? 0,
    ms: given[i + 1]?.[1] ?? 0,
  }));
}

/** Define `model` as a temporary view (or table) from its SQL file. */
export async function defineModel(db: Db, model: ModelName, as: 'view' | 'table' = 'view'): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP ${as === 'view' ? 'VIEW' : 'TABLE'} ${model} AS\n${await modelSql(model)}\n`);
}

/**
 * Load `plays` as the `plays` table, set the model variables and define the plays models as views
 * (int_plays_keyed, int_plays_local, daily_rollups and the name dimensions).
 */
export async function setUpPlays(db: Db, plays: readonly PlayInput[], scope: Partial<ModelScope> = {}): Promise<void> {
  await createPlaysTable(db, plays, { userId: USER });
  await setModelVariables(db, { userId: USER, timezone: TZ, now: new Date('2024-12-31T12:00:00Z'), ...scope });
  await defineModel(db, 'int_plays_keyed');
  await defineModel(db, 'int_plays_local');
  await defineModel(db, 'daily_rollups');
  for (const dim of ['dim_artists', 'dim_tracks', 'dim_albums'] as const) await defineModel(db, dim);
}

/** The rows of a name dimension in key order, its first and last stream as ISO strings. */
export function dimensionRows(dim: 'dim_artists' | 'dim_tracks' | 'dim_albums', key: string): string {
  return `select * replace (strftime(first_played_at, '%Y-%m-%dT%H:%M:%SZ') as first_played_at,
                            strftime(last_played_at, '%Y-%m-%dT%H:%M:%SZ') as last_played_at)
          from ${dim} order by ${key}`;
}
