/**
 * Activities of the live sync (workflows/sync.ts). They read tokens from the encrypted store
 * themselves: no token is ever an input, a result, a heartbeat or a failure message, so none reaches
 * the Temporal history.
 *
 * Failures become what the workflow and Temporal act on:
 * - `ReconnectNeeded` (invalid_grant, no tokens): non-retryable; the workflow pauses the schedule.
 * - `RateLimited` (429, or the app-wide budget blocked by an earlier 429): retried after exactly the
 *   Retry-After (`nextRetryDelay`), a durable timer in Temporal, however long, never a sleeping thread.
 * - `SpotifyUnavailable` (5xx, timeouts): retried with exponential backoff and jitter.
 * - configuration and request errors: non-retryable, with the reason.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { Config } from '../config.ts';
import { apiPlayFromItem, stageApiPlays, type ApiPlay } from '../warehouse/api-plays.ts';
import { cacheTrackMetadata } from '../warehouse/catalog.ts';
import { Db, type DbOptions } from '../warehouse/duckdb.ts';
import type { Layout } from '../warehouse/layout.ts';
import { ensureUser } from '../warehouse/users.ts';
import { SpotifyNotConfigured, spotifyApp } from '../spotify/auth.ts';
import { SpotifyClient } from '../spotify/client.ts';
import { rateBudget, tokenStore } from '../spotify/connect.ts';
import { RateLimited, ReconnectNeeded, SpotifyForbidden, SpotifyRequestError, SpotifyUnavailable, redact } from '../spotify/errors.ts';
import { GAP_SUGGESTION, readSyncState, updateSyncState, type SyncGap, type SyncRun } from '../spotify/sync-state.ts';
import { TokenStoreError } from '../spotify/tokens.ts';
import { syncWorkflowId } from '../workflows/ids.ts';
import { commitStagedPlays } from './import.ts';

/** recently-played never returns more than this: a full page of new plays may hide older ones. */
export const RECENTLY_PLAYED_HORIZON = 50;

/** Failure types of the sync's activities (see the workflow's retry policy). */
export const SYNC_FAILURES = {
  reconnect: 'ReconnectNeeded',
  rateLimited: 'RateLimited',
  unavailable: 'SpotifyUnavailable',
  configuration: 'SyncConfiguration',
  request: 'SpotifyRequest',
} as const;

export interface SyncUserInput {
  userId: string;
}

export interface SyncFetchResult {
  /** New items recently-played returned (after the cursor). */
  fetched: number;
  added: number;
  duplicates: number;
  /** Stored exported plays that gained this batch's IDs and context. */
  enriched: number;
  rejected: number;
  affectedDays: string[];
  /** ISO time of the newest play now stored by a sync (the cursor), or null when none ever was. */
  cursor: string | null;
  gap: SyncGap | null;
}

/** Exponential backoff with jitter for attempt n (1-based): 2 s, 4 s, 8 s ... capped at 10 min, times 0.5-1. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(10 * 60_000, 2_000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}

/** The sync's view of an error, as a Temporal failure. Never carries a token (messages are redacted). */
export function syncFailure(e: unknown, attempt: number): ApplicationFailure {
  const message = redact(e instanceof Error ? e.message : String(e));
  if (e instanceof ReconnectNeeded) return ApplicationFailure.create({ type: SYNC_FAILURES.reconnect, message, nonRetryable: true });
  if (e instanceof RateLimited) {
    return ApplicationFailure.create({
      type: SYNC_FAILURES.rateLimited,
      message,
      nextRetryDelay: e.retryAfterSeconds * 1000,
      details: [{ retryAfterSeconds: e.retryAfterSeconds, reason: e.reason ?? null, endpoint: e.endpoint }],
    });
  }
  if (e instanceof SpotifyUnavailable) return ApplicationFailure.create({ type: SYNC_FAILURES.unavailable, message, nextRetryDelay: backoffMs(attempt) });
  if (e instanceof SpotifyNotConfigured || e instanceof TokenStoreError) return ApplicationFailure.create({ type: SYNC_FAILURES.configuration, message, nonRetryable: true });
  if (e instanceof SpotifyRequestError || e instanceof SpotifyForbidden) return ApplicationFailure.create({ type: SYNC_FAILURES.request, message, nonRetryable: true });
  if (e instanceof ApplicationFailure) return e;
  return ApplicationFailure.create({ type: 'SyncError', message, nextRetryDelay: backoffMs(attempt) });
}

export function createSyncActivities({ config, layout }: { config: Config; layout: Layout }) {
  const dbOptions: DbOptions = { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp };
  const store = tokenStore(config, layout);
  const budget = rateBudget(config, layout);
  const clientFor = (userId: string) => new SpotifyClient({ app: spotifyApp(config), store, budget, layout }, userId);

  return {
    /**
     * Fetch the plays after the user's cursor, write them (source 'api') through the shared commit
     * path under the user's lock, and advance the cursor in the same locked step, after the plays
     * are in place. Idempotent: a retry re-fetches from the same cursor and the merge stores each
     * play once.
     */
    async syncRecentlyPlayed(input: SyncUserInput): Promise<SyncFetchResult> {
      const ctx = Context.current();
      const { userId } = input;
      ctx.heartbeat({ step: 'fetch' });
      const state = await readSyncState(layout, userId);
      const cursor = state.cursor;
      let items;
      try {
        items = (await clientFor(userId).recentlyPlayed({ after: cursor ?? undefined, limit: RECENTLY_PLAYED_HORIZON })).items;
      } catch (e) {
        if (e instanceof RateLimited) {
          await updateSyncState(layout, userId, (s) => ({ ...s, rateLimitedUntil: new Date(Date.now() + e.retryAfterSeconds * 1000).toISOString() }));
        }
        throw syncFailure(e, ctx.info.attempt);
      }
      const fresh = items.filter((i) => cursor === null || Date.parse(i.played_at) > cursor);
      const plays: ApiPlay[] = [];
      let unreadable = 0;
      for (const item of fresh) {
        try {
          plays.push(apiPlayFromItem(item));
        } catch {
          unreadable += 1;
        }
      }
      const cursorIso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
      if (plays.length === 0) {
        if (state.rateLimitedUntil) await updateSyncState(layout, userId, (s) => ({ ...s, rateLimitedUntil: null }));
        return { fetched: fresh.length, added: 0, duplicates: 0, enriched: 0, rejected: unreadable, affectedDays: [], cursor: cursorIso(cursor), gap: null };
      }
      const times = plays.map((p) => Date.parse(p.playedAt));
      const newest = Math.max(...times);
      const oldest = Math.min(...times);
      // A full page of new plays whose oldest is newer than the cursor: what lay between may be lost.
      const gap: SyncGap | null =
        cursor !== null && fresh.length >= RECENTLY_PLAYED_HORIZON && oldest > cursor
          ? { userId, from: new Date(cursor).toISOString(), to: new Date(oldest).toISOString(), detectedAt: new Date().toISOString(), suggestion: GAP_SUGGESTION }
          : null;

      const user = await ensureUser(layout, userId, config.defaultTimezone);
      const batchId = `api:${userId}:${oldest}-${newest}`;
      const dir = layout.staging(batchId);
      const outFile = path.join(dir, 'recently-played.parquet');
      ctx.heartbeat({ step: 'stage', plays: plays.length });
      await fs.mkdir(layout.tmp, { recursive: true });
      const db = await Db.open(dbOptions);
      let staged;
      try {
        staged = await stageApiPlays(db, { plays, importId: batchId, entry: 'recently-played', outFile });
        // The tracks' metadata came with the plays: keep it in the shared catalog (no extra request).
        // Best effort: the plays matter more, and the enrichment looks up whatever is missing.
        await cacheTrackMetadata(db, layout, fresh).catch((e) => ctx.log.warn(`catalog: the tracks of this sync were not cached (${redact(String(e))})`));
      } finally {
        db.close();
      }
      ctx.heartbeat({ step: 'merge', plays: plays.length });
      const timer = setInterval(() => ctx.heartbeat({ step: 'merge', plays: plays.length }), 3_000);
      let merge;
      try {
        merge = await commitStagedPlays(layout, dbOptions, {
          userId,
          timezone: user.timezone,
          stagedFiles: staged.rowsStaged > 0 ? [outFile] : [],
          record: async (m) => {
            // The plays are in place: only now does the cursor move (never backwards).
            await updateSyncState(layout, userId, (s) => ({
              ...s,
              cursor: Math.max(s.cursor ?? 0, newest),
              rateLimitedUntil: null,
              gaps: gap && !s.gaps.some((g) => g.from === gap.from && g.to === gap.to) ? [...s.gaps, gap] : s.gaps,
            }));
            return m;
          },
        });
      } finally {
        clearInterval(timer);
      }
      await fs.rm(dir, { recursive: true, force: true });
      return {
        fetched: fresh.length,
        added: merge.added,
        duplicates: merge.duplicates,
        enriched: merge.enriched ?? 0,
        rejected: unreadable + staged.rejected.reduce((n, r) => n + r.rows, 0),
        affectedDays: merge.affectedDays,
        cursor: new Date(Math.max(cursor ?? 0, newest)).toISOString(),
        gap,
      };
    },

    /** Pause the user's schedule with a note (after invalid_grant); other users' schedules carry on. */
    async pauseSync(input: { userId: string; note: string }): Promise<{ paused: boolean }> {
      let paused = false;
      try {
        await Context.current().client.schedule.getHandle(syncWorkflowId(input.userId)).pause(input.note);
        paused = true;
      } catch (e) {
        if (!(e instanceof ScheduleNotFoundError)) throw e;
      }
      await updateSyncState(layout, input.userId, (s) => ({
        ...s,
        schedule: { intervalSeconds: s.schedule?.intervalSeconds ?? config.syncIntervalSeconds, paused: true, note: input.note, updatedAt: new Date().toISOString() },
      }));
      return { paused };
    },

    /** Record the start or the outcome of a sync run (for `rewind status` and the API). */
    async recordSyncRun(input: { userId: string; run: SyncRun }): Promise<void> {
      await updateSyncState(layout, input.userId, (s) => ({
        ...s,
        lastRun: input.run,
        ...(input.run.status === 'ok' ? { lastSuccessAt: input.run.finishedAt ?? new Date().toISOString(), rateLimitedUntil: null } : {}),
      }));
    },
  };
}
