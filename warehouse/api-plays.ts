/**
 * Plays from the Web API (GET /v1/me/player/recently-played): the item mapping, and staging one
 * batch into a checkpoint Parquet file in the same shape as an export file's checkpoint
 * (stageFile in plays.ts), with source = 'api', so that `mergeStaged` merges it with the stored
 * plays under the matching rule (sql/intermediate/int_plays_merged.sql).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Db, ident, literal } from './duckdb.ts';
import { type RejectedRows, type StageResult } from './plays.ts';
import { PLAY_COLUMN_NAMES } from './schema.ts';
import { createModelView, setVariables } from './sql.ts';

/** One item of GET /v1/me/player/recently-played, as Rewind keeps it. */
export interface ApiPlay {
  /** `played_at` as returned (ISO 8601, UTC; usually the end of the play, sometimes its start). */
  playedAt: string;
  trackUri: string;
  trackName: string;
  /** The track's duration: the API does not say how long it was played. */
  durationMs: number;
  /** The first (main) artist's name, as the export's `master_metadata_album_artist_name`. */
  artistName: string;
  /** Every artist of the track, in credit order. */
  artistUris: string[];
  albumName: string | null;
  albumUri: string | null;
  contextUri: string | null;
  contextType: string | null;
  /**
   * How long it was played, when known (realtime mode: estimated from currently-playing's progress
   * across polls, see activities/realtime.ts). Absent for recently-played items: the duration stands in.
   */
  msPlayed?: number;
  /** A local file (`is_local`): URI `spotify:local:...`, no ids. */
  isLocal?: boolean;
  /** Which endpoint saw it; absent = recently-played. */
  origin?: 'recently_played' | 'currently_playing';
}

/** A recently-played item that is not a play Rewind can store. Permanent: retrying won't help. */
export class BadApiItemError extends Error {
  constructor(readonly reason: string) {
    super(`recently-played item: ${reason}`);
    this.name = 'BadApiItemError';
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(obj: Json, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v === '') throw new BadApiItemError(`${where}.${key} is missing or not a string`);
  return v;
}

function optionalText(obj: Json | undefined, key: string): string | null {
  const v = obj?.[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

/**
 * Map one item of a recently-played response (`{ track, played_at, context }`, the real JSON) to
 * an ApiPlay. Pure. Throws BadApiItemError naming the field when the item is not a track play.
 */
export function apiPlayFromItem(item: unknown): ApiPlay {
  if (!isObject(item)) throw new BadApiItemError('not a JSON object');
  const playedAt = text(item, 'played_at', 'item');
  if (Number.isNaN(Date.parse(playedAt))) throw new BadApiItemError(`item.played_at "${playedAt}" is not an ISO 8601 time`);
  const track = item.track;
  if (!isObject(track)) throw new BadApiItemError('item.track is missing or not an object');
  if (track.type !== undefined && track.type !== 'track') {
    throw new BadApiItemError(`item.track.type is "${String(track.type)}", not "track"`);
  }
  const durationMs = track.duration_ms;
  if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) {
    throw new BadApiItemError('item.track.duration_ms is missing or not a non-negative number');
  }
  const artists = Array.isArray(track.artists) ? track.artists.filter(isObject) : [];
  const album = isObject(track.album) ? track.album : undefined;
  const context = isObject(item.context) ? item.context : undefined;
  return {
    playedAt,
    trackUri: text(track, 'uri', 'item.track'),
    trackName: text(track, 'name', 'item.track'),
    durationMs: Math.round(durationMs),
    artistName: optionalText(artists[0], 'name') ?? '',
    artistUris: artists.map((a) => optionalText(a, 'uri')).filter((u): u is string => u !== null),
    albumName: optionalText(album, 'name'),
    albumUri: optionalText(album, 'uri'),
    contextUri: optionalText(context, 'uri'),
    contextType: optionalText(context, 'type'),
  };
}

/**
 * Write one batch of API plays, in the stored play shape with source = 'api', to `outFile` (a
 * Parquet checkpoint, written to a temporary name and renamed): the same shape as stageFile's
 * checkpoints, so `mergeStaged(db, layout, { stagedFiles: [outFile], ... })` stores them, each
 * stream once. Rows that cannot be stored (no time, no track URI, ...) are kept in the file with
 * their reject_reason and counted in `rejected`, as for export files.
 */
export async function stageApiPlays(
  db: Db,
  opts: { plays: ApiPlay[]; importId: string; entry: string; outFile: string },
): Promise<StageResult<'api'>> {
  await setVariables(db, { rewind_import_id: opts.importId, rewind_source_file: opts.entry });
  const rows = JSON.stringify(opts.plays.map((play, i) => ({ source_row: i + 1, play })));
  await db.run(
    `CREATE OR REPLACE TEMP TABLE raw_api_plays AS
     SELECT cast(j ->> 'source_row' as bigint) AS source_row, j -> 'play' AS play
     FROM (SELECT unnest(cast(cast($1 as json) as json[])) AS j)`,
    [rows],
  );
  await createModelView(db, 'staging', 'stg_api_plays');
  await createModelView(db, 'intermediate', 'int_api_plays');
  await fs.mkdir(path.dirname(opts.outFile), { recursive: true });
  const tmp = `${opts.outFile}.tmp-${randomUUID()}`;
  try {
    await db.run(
      `COPY (SELECT ${PLAY_COLUMN_NAMES.map(ident).join(', ')}, reject_reason FROM int_api_plays ORDER BY source_row)
       TO ${literal(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const counts = await db.all<RejectedRows & { kept: boolean }>(
      `SELECT reject_reason IS NULL AS kept, coalesce(reject_reason, '') AS reason, count(*) AS rows, min(source_row) AS "firstRow"
       FROM read_parquet(${literal(tmp)}) GROUP BY ALL ORDER BY rows DESC`,
    );
    await fs.rename(tmp, opts.outFile);
    const rowsStaged = counts.find((c) => c.kept)?.rows ?? 0;
    const rejected = counts.filter((c) => !c.kept).map(({ reason, rows: n, firstRow }) => ({ reason, rows: n, firstRow }));
    return { entry: opts.entry, format: 'api', rowsRead: opts.plays.length, rowsStaged, rejected };
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  } finally {
    await db.run(`DROP TABLE IF EXISTS raw_api_plays`);
  }
}
