/**
 * Where everything lives under the data folder (REWIND_HOME). Nothing in Rewind builds a path
 * under the data folder by hand; it asks this module.
 *
 *   <home>/warehouse/plays/user_id=<u>/year=<yyyy>/part-<gen>.parquet     the system of record
 *   <home>/warehouse/daily_rollups/user_id=<u>/part-<gen>.parquet         mart
 *   <home>/warehouse/period_snapshots/user_id=<u>/part-<gen>.parquet      mart
 *   <home>/warehouse/dim_artists|dim_tracks|dim_albums/user_id=<u>/part-<gen>.parquet  marts: names
 *   <home>/warehouse/imports/user_id=<u>/<import_id>.json                 manifest of import batches
 *   <home>/users/<u>.json                                                 per-user settings (timezone)
 *   <home>/staging/<import_id>/                                           an import's checkpoints
 *   <home>/tmp/                                                           scratch, DuckDB spill
 *   <home>/temporal/                                                      embedded Temporal dev server
 *   <home>/cache/                                                         workflow bundle cache
 *   <home>/site/<u>/                                                      the user's built dashboards
 *   <home>/secrets/                                                       encryption key, encrypted tokens, API token hashes
 *   <home>/uploads/                                                       export ZIPs uploaded through the API
 *   <home>/sync/<u>.json, _spotify-budget.json                            live sync cursor, last run, gaps; app-wide Spotify budget
 *   <home>/sync/realtime/<u>.json                                         realtime mode: the play being watched, counters
 *   <home>/warehouse/playlists/user_id=<u>/part-<gen>.parquet             playlist snapshots (one row per playlist and snapshot day)
 *   <home>/warehouse/playlist_items/user_id=<u>/part-<gen>.parquet        items of every playlist version (snapshot_id)
 *   <home>/warehouse/tracks/part-<gen>.parquet, artists/part-<gen>.parquet  the shared catalog (no user data): enrichment
 *   <home>/warehouse/catalog_misses/part-<gen>.parquet                    catalog lookups Spotify answered 404/400
 *   <home>/sync/_enrich.json                                              enrichment: last run, audio features on/off
 */
import path from 'node:path';

const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class InvalidUserIdError extends Error {}

/** A user id becomes a folder name, so it is restricted to a safe alphabet. */
export function assertUserId(userId: string): string {
  if (!USER_ID.test(userId) || userId.includes('..')) {
    throw new InvalidUserIdError(
      `invalid user id "${userId}": use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
  return userId;
}

export const MARTS = ['daily_rollups', 'period_snapshots', 'dim_artists', 'dim_tracks', 'dim_albums'] as const;
export type Mart = (typeof MARTS)[number];

export class Layout {
  constructor(readonly home: string) {}

  get warehouse(): string {
    return path.join(this.home, 'warehouse');
  }
  get playsRoot(): string {
    return path.join(this.warehouse, 'plays');
  }
  userPlays(userId: string): string {
    return path.join(this.playsRoot, `user_id=${assertUserId(userId)}`);
  }
  playsPartition(userId: string, year: number): string {
    return path.join(this.userPlays(userId), `year=${year}`);
  }
  martRoot(mart: Mart): string {
    return path.join(this.warehouse, mart);
  }
  martPartition(mart: Mart, userId: string): string {
    return path.join(this.martRoot(mart), `user_id=${assertUserId(userId)}`);
  }
  get importsRoot(): string {
    return path.join(this.warehouse, 'imports');
  }
  userImports(userId: string): string {
    return path.join(this.importsRoot, `user_id=${assertUserId(userId)}`);
  }
  importManifest(userId: string, importId: string): string {
    return path.join(this.userImports(userId), `${safeName(importId)}.json`);
  }
  get usersDir(): string {
    return path.join(this.home, 'users');
  }
  userSettings(userId: string): string {
    return path.join(this.usersDir, `${assertUserId(userId)}.json`);
  }
  staging(importId: string): string {
    return path.join(this.home, 'staging', safeName(importId));
  }
  get tmp(): string {
    return path.join(this.home, 'tmp');
  }
  get temporal(): string {
    return path.join(this.home, 'temporal');
  }
  get cache(): string {
    return path.join(this.home, 'cache');
  }
  get locks(): string {
    return path.join(this.home, 'locks');
  }
  /** The user's built dashboard site (served by the API behind login). */
  site(userId: string): string {
    return path.join(this.home, 'site', assertUserId(userId));
  }
  /** Key material and credentials: created with mode 0700, files 0600. */
  get secrets(): string {
    return path.join(this.home, 'secrets');
  }
  /** The key that encrypts tokens at rest, when REWIND_SECRET_KEY is not set (0600). */
  get secretKeyFile(): string {
    return path.join(this.secrets, 'secret.key');
  }
  /** A user's Spotify tokens, encrypted (AES-256-GCM, 0600). */
  spotifyTokens(userId: string): string {
    return path.join(this.secrets, 'spotify', `${assertUserId(userId)}.json`);
  }
  /** Live sync state: per-user cursor, last run and gaps (`<u>.json`), and the app-wide Spotify budget. */
  get syncDir(): string {
    return path.join(this.home, 'sync');
  }
  syncState(userId: string): string {
    return path.join(this.syncDir, `${assertUserId(userId)}.json`);
  }
  /** The realtime mode's state per user: the play being watched, plays waiting to be written, counters. */
  realtimeState(userId: string): string {
    return path.join(this.syncDir, 'realtime', `${assertUserId(userId)}.json`);
  }
  /** Playlist snapshots: the playlists of each generation, and the items of each playlist version. */
  get playlistsRoot(): string {
    return path.join(this.warehouse, 'playlists');
  }
  get playlistItemsRoot(): string {
    return path.join(this.warehouse, 'playlist_items');
  }
  playlistsPartition(userId: string): string {
    return path.join(this.playlistsRoot, `user_id=${assertUserId(userId)}`);
  }
  playlistItemsPartition(userId: string): string {
    return path.join(this.playlistItemsRoot, `user_id=${assertUserId(userId)}`);
  }
  /** The shared catalog (warehouse/catalog.ts): one partition folder each, no user data. */
  get tracksRoot(): string {
    return path.join(this.warehouse, 'tracks');
  }
  get artistsRoot(): string {
    return path.join(this.warehouse, 'artists');
  }
  get catalogMissesRoot(): string {
    return path.join(this.warehouse, 'catalog_misses');
  }
  /** The enrichment's state: last run, audio features on/off (after the first 403). */
  get enrichState(): string {
    return path.join(this.syncDir, '_enrich.json');
  }
  get spotifyBudget(): string {
    return path.join(this.syncDir, '_spotify-budget.json');
  }
  get uploads(): string {
    return path.join(this.home, 'uploads');
  }
  get models(): string {
    return path.join(this.warehouse, '_models.json');
  }
}

/** Make an id safe as a single file name (import ids contain ':'). */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_');
}
