/**
 * The daily playlist snapshot's activity (workflows/playlists.ts): every playlist of the user
 * (GET /v1/me/playlists, all pages) and the items of each playlist version not stored before
 * (GET /v1/playlists/{id}/items, all pages), written to the warehouse (warehouse/playlists.ts).
 *
 * A playlist whose snapshot_id is already stored is not fetched again (`unchanged`): a user with
 * 100 playlists of which 2 changed costs 2 + 2 x pages requests, not hundreds. Since 2026 Spotify
 * answers 403 for the items of playlists the user neither owns nor collaborates on: such a
 * playlist is kept with `items_status = 'forbidden'` (and not asked again until its version changes).
 *
 * Resumable: each fetched version is kept in the day's staging folder as soon as it is complete, so
 * a retry after a 429's Retry-After (a durable timer in Temporal, however long) or a crash fetches
 * only what is missing. All requests go through the app-wide budget (spotify/client.ts). Inputs and
 * results hold the user id and counts only: no token, no playlist name reaches the history.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../config.ts';
import { Db, type DbOptions } from '../warehouse/duckdb.ts';
import { readJson, writeJsonAtomic } from '../warehouse/files.ts';
import type { Layout } from '../warehouse/layout.ts';
import { withUserLock } from '../warehouse/lock.ts';
import { knownPlaylistVersions, versionKey, writePlaylistSnapshot, type ItemsStatus, type PlaylistItemRow, type PlaylistRow } from '../warehouse/playlists.ts';
import { hasScope, spotifyApp } from '../spotify/auth.ts';
import { SpotifyClient, type PlaylistItem, type PlaylistSummary } from '../spotify/client.ts';
import { rateBudget, tokenStore } from '../spotify/connect.ts';
import { SpotifyForbidden, SpotifyRequestError } from '../spotify/errors.ts';
import { syncFailure } from './sync.ts';

export interface PlaylistSnapshotInput {
  userId: string;
}

export interface PlaylistSnapshotResult {
  snapshotDate: string;
  playlists: number;
  /** Versions whose items were fetched now. */
  fetched: number;
  unchanged: number;
  forbidden: number;
  gone: number;
  itemsAdded: number;
  requests: number;
}

/** The page size of both endpoints (their maximum). */
const PAGE = 50;

/** A PlaylistTrackObject as a row (`item` since 2026, `track` before). */
export function playlistItemRow(playlistId: string, snapshotId: string, position: number, it: PlaylistItem, fetchedAt: string): PlaylistItemRow {
  const item = it.item ?? it.track ?? null;
  const artists = Array.isArray(item?.artists) ? item.artists : [];
  const type = item ? (item.type === 'episode' ? 'episode' : 'track') : null;
  return {
    playlist_id: playlistId,
    snapshot_id: snapshotId,
    position,
    added_at: it.added_at ?? null,
    added_by: it.added_by?.id ?? null,
    is_local: it.is_local === true,
    item_type: type,
    uri: item?.uri ?? null,
    name: item?.name ?? null,
    artist_name: artists[0]?.name ?? null,
    artist_uris: artists.map((a) => a.uri).filter((u): u is string => typeof u === 'string'),
    album_name: type === 'track' ? (item?.album?.name || null) : null,
    album_uri: type === 'track' ? (item?.album?.uri ?? null) : null,
    show_name: type === 'episode' ? (item?.show?.name ?? null) : null,
    duration_ms: typeof item?.duration_ms === 'number' ? item.duration_ms : null,
    fetched_at: fetchedAt,
  };
}

function playlistRow(p: PlaylistSummary, position: number, snapshotDate: string, takenAt: string, status: ItemsStatus): PlaylistRow {
  const ref = p.items ?? p.tracks ?? null;
  return {
    snapshot_date: snapshotDate,
    taken_at: takenAt,
    position,
    playlist_id: p.id,
    snapshot_id: p.snapshot_id,
    name: p.name,
    description: p.description ?? null,
    owner_id: p.owner?.id ?? null,
    owner_name: p.owner?.display_name ?? null,
    public: typeof p.public === 'boolean' ? p.public : null,
    collaborative: p.collaborative === true,
    items_total: typeof ref?.total === 'number' ? ref.total : null,
    items_status: status,
  };
}

export function createPlaylistActivities({ config, layout }: { config: Config; layout: Layout }) {
  const dbOptions: DbOptions = { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp };
  const store = tokenStore(config, layout);
  const budget = rateBudget(config, layout);

  return {
    /** Snapshot the user's playlists (today, UTC): list, fetch the changed ones, write. Idempotent per day. */
    async snapshotPlaylists(input: PlaylistSnapshotInput): Promise<PlaylistSnapshotResult> {
      const ctx = Context.current();
      const { userId } = input;
      const connection = await store.connection(userId);
      if (connection && !connection.reconnectNeeded && !hasScope(connection.scope, 'playlist-read-private')) {
        throw ApplicationFailure.create({
          type: 'MissingScope',
          nonRetryable: true,
          message: `the Spotify account of "${userId}" did not grant playlist-read-private (connected before playlist snapshots existed): run \`rewind login --user ${userId}\` again to grant it`,
        });
      }
      const client = new SpotifyClient({ app: spotifyApp(config), store, budget, layout }, userId);
      const takenAt = new Date().toISOString();
      const snapshotDate = takenAt.slice(0, 10);
      const dir = layout.staging(`playlists:${userId}:${snapshotDate}`);
      await fs.mkdir(dir, { recursive: true });
      let requests = 0;
      const call = async <T>(fn: () => Promise<T>): Promise<T> => {
        requests += 1;
        ctx.heartbeat({ step: 'fetch', requests });
        try {
          return await fn();
        } catch (e) {
          if (e instanceof SpotifyForbidden || (e instanceof SpotifyRequestError && e.status === 404)) throw e;
          throw syncFailure(e, ctx.info.attempt);
        }
      };

      // 1. Every playlist (the list is small and changes; it is fetched again on a retry).
      const listed: PlaylistSummary[] = [];
      for (let offset = 0; ; offset += PAGE) {
        const page = await call(() => client.myPlaylists({ limit: PAGE, offset })).catch((e) => {
          throw e instanceof ApplicationFailure ? e : syncFailure(e, ctx.info.attempt);
        });
        listed.push(...page.items.filter((p) => p && typeof p.id === 'string' && typeof p.snapshot_id === 'string'));
        if (!page.next || page.items.length === 0) break;
      }

      // 2. The items of each version not stored yet (kept in staging as soon as complete).
      const db = await Db.open(dbOptions);
      try {
        const known = await knownPlaylistVersions(db, layout, userId);
        const statuses = new Map<string, ItemsStatus>();
        const items: PlaylistItemRow[] = [];
        for (const p of listed) {
          const key = versionKey(p.id, p.snapshot_id);
          const before = known.get(key);
          if (before) {
            statuses.set(p.id, before === 'forbidden' ? 'forbidden' : 'unchanged');
            continue;
          }
          const file = path.join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
          const done = await readJson<{ status: ItemsStatus; rows: PlaylistItemRow[] }>(file);
          if (done) {
            statuses.set(p.id, done.status);
            items.push(...done.rows);
            continue;
          }
          const rows: PlaylistItemRow[] = [];
          let status: ItemsStatus = 'fetched';
          const fetchedAt = new Date().toISOString();
          try {
            for (let offset = 0; ; offset += PAGE) {
              const page = await call(() => client.playlistItems(p.id, { limit: PAGE, offset }));
              page.items.forEach((it, i) => rows.push(playlistItemRow(p.id, p.snapshot_id, offset + i, it, fetchedAt)));
              if (!page.next || page.items.length === 0) break;
            }
          } catch (e) {
            if (e instanceof SpotifyForbidden) status = 'forbidden';
            else if (e instanceof SpotifyRequestError && e.status === 404) status = 'gone';
            else throw e;
            rows.length = 0;
          }
          await writeJsonAtomic(file, { status, rows });
          statuses.set(p.id, status);
          items.push(...rows);
        }

        // 3. Write the day (under the user's lock: one writer per user).
        ctx.heartbeat({ step: 'write', requests });
        const playlists = listed.map((p, i) => playlistRow(p, i, snapshotDate, takenAt, statuses.get(p.id) ?? 'unchanged'));
        const written = await withUserLock(layout, userId, () => writePlaylistSnapshot(db, layout, { userId, snapshotDate, playlists, items }));
        await fs.rm(dir, { recursive: true, force: true });
        const count = (s: ItemsStatus) => playlists.filter((p) => p.items_status === s).length;
        return {
          snapshotDate,
          playlists: playlists.length,
          fetched: count('fetched'),
          unchanged: count('unchanged'),
          forbidden: count('forbidden'),
          gone: count('gone'),
          itemsAdded: written.itemsAdded,
          requests,
        };
      } finally {
        db.close();
      }
    },
  };
}
