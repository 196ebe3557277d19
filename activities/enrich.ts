/**
 * The enrichment's activities (workflows/enrich.ts): look up, one by one, what the shared catalog
 * (warehouse/catalog.ts) still lacks, at REWIND_ENRICH_RATE lookups per minute.
 *
 * One batch (`enrichBatch`) takes the `enrich` lock (one enricher at a time, across processes),
 * asks the warehouse what is pending (deduplicated over every user's plays, most played first),
 * and looks each item up with the single-item endpoints that development-mode apps still have:
 * GET /v1/tracks/{id}, then GET /v1/artists/{id} for the artists of stored tracks, then
 * GET /v1/audio-features/{id} while the app still has access. The batch endpoints (`?ids=`) are
 * never used: they are gone since 2026.
 *
 * - Every request goes through spotify/client.ts: the app-wide budget, 401 refresh, 429 handling.
 *   The token is any connected user's (the catalog is public data; no user's plays are sent).
 * - Each answer is appended to a journal in staging as soon as it arrives, and the journal is merged
 *   into the catalog at the end of the batch, before a failure is handed back (429, 5xx), and at
 *   the start of the next attempt (after a crash). So a lookup is never made twice: a 429 mid-batch
 *   keeps what came before it, and Temporal retries the batch after exactly its Retry-After
 *   (`nextRetryDelay`, a durable timer, hours if need be); the retry asks only for what is left.
 * - 404 (no such id) and 400 (malformed id) are recorded as misses, asked again after 30 days, at
 *   most 3 times in all (MISS_RETRY_DAYS, MISS_MAX_ATTEMPTS).
 * - The first 403 from audio-features turns that step off for good (persisted in sync/_enrich.json)
 *   with one warning in the worker's log.
 * Inputs and results are counts: no token, no user id, no track name reaches the Temporal history.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import {
  artistRowFromApi,
  catalogId,
  featureRowFromApi,
  featuresNotFound,
  pendingWork,
  readEnrichState,
  trackRowFromApi,
  updateEnrichState,
  writeCatalog,
  type CatalogChanges,
  type EnrichRun,
} from '../warehouse/catalog.ts';
import { Db, type DbOptions } from '../warehouse/duckdb.ts';
import type { Layout } from '../warehouse/layout.ts';
import { withLock } from '../warehouse/lock.ts';
import { spotifyApp } from '../spotify/auth.ts';
import { SpotifyClient } from '../spotify/client.ts';
import { rateBudget, tokenStore } from '../spotify/connect.ts';
import { RateLimited, ReconnectNeeded, SpotifyForbidden, SpotifyRequestError } from '../spotify/errors.ts';
import type { ActivityDeps } from './import.ts';
import { syncFailure } from './sync.ts';

/** The most lookups one batch makes (a batch is about a minute of lookups at the configured rate). */
export const MAX_BATCH = 200;

export interface EnrichCounts {
  tracks: number;
  artists: number;
  features: number;
}

export interface EnrichBatchInput {
  /** Lookups in this batch; default: a minute's worth at REWIND_ENRICH_RATE (at most MAX_BATCH). */
  maxLookups?: number;
}

export interface EnrichBatchResult {
  /** 'more': work is left; 'done': nothing left to look up; 'no_account': nobody is connected to ask Spotify with. */
  status: 'more' | 'done' | 'no_account';
  /** Lookups answered in this batch (404s included). */
  looked: EnrichCounts;
  /** Of those, ids Spotify does not know (404/400), recorded as misses. */
  notFound: number;
  /** Still pending after this batch (audio features only while they are on). */
  remaining: EnrichCounts;
  audioFeatures: 'on' | 'off';
}

type Job = { kind: 'track' | 'artist' | 'feature'; uri: string };
type Tally = EnrichCounts & { notFound: number };
type JournalEntry =
  | { t: 'track'; row: NonNullable<CatalogChanges['tracks']>[number]; artists: NonNullable<CatalogChanges['artists']> }
  | { t: 'artist'; row: NonNullable<CatalogChanges['artists']>[number] }
  | { t: 'feature'; row: NonNullable<CatalogChanges['features']>[number] }
  | { t: 'miss'; miss: NonNullable<CatalogChanges['misses']>[number] };

const zero = (): EnrichCounts => ({ tracks: 0, artists: 0, features: 0 });

/** Where a batch keeps each answer as it arrives (JSON lines), until it is merged into the catalog. */
export function enrichJournal(layout: Layout): string {
  return path.join(layout.staging('enrich'), 'lookups.jsonl');
}

export function createEnrichActivities({ config, layout }: ActivityDeps) {
  const dbOptions: DbOptions = { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp };
  const store = tokenStore(config, layout);
  const budget = rateBudget(config, layout);
  const spacingMs = 60_000 / config.enrich.ratePerMinute;
  const defaultBatch = Math.max(1, Math.min(MAX_BATCH, config.enrich.ratePerMinute));
  const journal = enrichJournal(layout);
  /** When this process last sent a lookup (the rate is kept across batches). */
  let lastLookupAt = 0;

  /**
   * Merge the journal's answers into the catalog, then remove it. A torn last line (a crash
   * mid-write) is skipped. Returns what it held (lookups answered, of which unknown ids).
   */
  async function commitJournal(db: Db): Promise<Tally> {
    const tally: Tally = { ...zero(), notFound: 0 };
    let text: string;
    try {
      text = await fs.readFile(journal, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return tally;
      throw e;
    }
    const changes: Required<CatalogChanges> = { tracks: [], artists: [], features: [], misses: [] };
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        continue;
      }
      if (entry.t === 'track') {
        changes.tracks.push(entry.row);
        changes.artists.push(...entry.artists);
        tally.tracks += 1;
      } else if (entry.t === 'artist') {
        changes.artists.push(entry.row);
        tally.artists += 1;
      } else if (entry.t === 'feature') {
        changes.features.push(entry.row);
        tally.features += 1;
        if (entry.row.features_status === 'not_found') tally.notFound += 1;
      } else if (entry.t === 'miss') {
        changes.misses.push(entry.miss);
        tally[entry.miss.kind === 'artist' ? 'artists' : 'tracks'] += 1;
        tally.notFound += 1;
      }
    }
    await writeCatalog(db, layout, changes);
    await fs.rm(journal, { force: true });
    return tally;
  }

  /**
   * Lookups merged by an attempt that then failed (a 429 mid-batch) are reported by the next
   * attempt: kept in the state until then, so the run's counts stay exact.
   */
  async function setAside(tally: Tally): Promise<void> {
    if (tally.tracks + tally.artists + tally.features === 0) return;
    await updateEnrichState(layout, (s) => {
      const u = s.uncounted ?? { ...zero(), notFound: 0 };
      return { ...s, uncounted: { tracks: u.tracks + tally.tracks, artists: u.artists + tally.artists, features: u.features + tally.features, notFound: u.notFound + tally.notFound } };
    });
  }

  async function remember(entry: JournalEntry): Promise<void> {
    await fs.mkdir(path.dirname(journal), { recursive: true });
    await fs.appendFile(journal, `${JSON.stringify(entry)}\n`);
  }

  /** Wait until the configured rate allows the next lookup (short waits, heartbeating; cancellable). */
  async function pace(ctx: Context): Promise<void> {
    for (;;) {
      const wait = lastLookupAt + spacingMs - Date.now();
      if (wait <= 0) break;
      await ctx.sleep(Math.min(wait, 5_000));
      ctx.heartbeat({ step: 'pacing' });
    }
    lastLookupAt = Date.now();
  }

  /** One lookup, as the journal entry it becomes. */
  async function lookUp(client: SpotifyClient, job: Job): Promise<JournalEntry> {
    const at = new Date().toISOString();
    const kind = job.kind === 'artist' ? 'artist' : 'track';
    const id = catalogId(job.uri, kind);
    if (!id) return { t: 'miss', miss: { kind, uri: job.uri, status: 400, message: 'not a Spotify id', triedAt: at } };
    try {
      if (job.kind === 'track') {
        const body = await client.track(id);
        const row = trackRowFromApi(body, { source: 'lookup', fetchedAt: at, uri: job.uri });
        if (!row) return { t: 'miss', miss: { kind, uri: job.uri, status: 200, message: 'the answer is no playable catalog track', triedAt: at } };
        const artists = (Array.isArray(body.artists) ? body.artists : []).map((a) => artistRowFromApi(a, { source: 'recently_played', fetchedAt: at }));
        return { t: 'track', row, artists: artists.filter((a) => a !== undefined) };
      }
      if (job.kind === 'artist') {
        const row = artistRowFromApi(await client.artist(id), { source: 'lookup', fetchedAt: at, uri: job.uri });
        if (!row) return { t: 'miss', miss: { kind, uri: job.uri, status: 200, message: 'the answer is no artist', triedAt: at } };
        return { t: 'artist', row };
      }
      return { t: 'feature', row: featureRowFromApi(job.uri, await client.audioFeatures(id)) };
    } catch (e) {
      if (e instanceof SpotifyRequestError && (e.status === 404 || e.status === 400)) {
        if (job.kind === 'feature') return { t: 'feature', row: featuresNotFound(job.uri) };
        return { t: 'miss', miss: { kind, uri: job.uri, status: e.status, message: e.message, triedAt: at } };
      }
      throw e;
    }
  }

  return {
    /** One batch of lookups; see the module comment. Idempotent: a retry asks only for what is still missing. */
    async enrichBatch(input: EnrichBatchInput = {}): Promise<EnrichBatchResult> {
      const ctx = Context.current();
      const size = Math.max(1, Math.min(MAX_BATCH, input.maxLookups ?? defaultBatch));
      ctx.heartbeat({ step: 'waiting for the enrich lock' });
      return withLock(layout, 'enrich', async () => {
        const db = await Db.open(dbOptions);
        try {
          // What an earlier attempt left: answers journaled before a crash, counts of answers merged before a 429.
          const recovered = await commitJournal(db);
          let state = await readEnrichState(layout);
          const carried = state.uncounted;
          if (carried) state = await updateEnrichState(layout, (s) => ({ ...s, uncounted: undefined }));
          const work = await pendingWork(db, layout, { limit: { tracks: size, artists: size, features: state.audioFeatures === 'on' ? size : 0 } });
          const looked: EnrichCounts = {
            tracks: recovered.tracks + (carried?.tracks ?? 0),
            artists: recovered.artists + (carried?.artists ?? 0),
            features: recovered.features + (carried?.features ?? 0),
          };
          let notFound = recovered.notFound + (carried?.notFound ?? 0);
          const remaining = (): EnrichCounts => ({ ...work.totals, features: state.audioFeatures === 'on' ? work.totals.features : 0 });
          const jobs: Job[] = [
            ...work.tracks.map((uri) => ({ kind: 'track' as const, uri })),
            ...work.artists.map((uri) => ({ kind: 'artist' as const, uri })),
            ...(state.audioFeatures === 'on' ? work.features.map((uri) => ({ kind: 'feature' as const, uri })) : []),
          ].slice(0, size);
          if (jobs.length === 0) return { status: 'done', looked, notFound, remaining: remaining(), audioFeatures: state.audioFeatures };

          const accounts = (await store.connections()).filter((c) => !c.reconnectNeeded).map((c) => c.userId);
          if (accounts.length === 0) return { status: 'no_account', looked, notFound, remaining: remaining(), audioFeatures: state.audioFeatures };
          const app = spotifyApp(config);
          let client = new SpotifyClient({ app, store, budget, layout }, accounts.shift()!);

          for (let k = 0; k < jobs.length; k++) {
            const job = jobs[k]!;
            if (job.kind === 'feature' && state.audioFeatures === 'off') continue;
            let entry: JournalEntry;
            try {
              await pace(ctx);
              entry = await lookUp(client, job);
            } catch (e) {
              if (e instanceof ReconnectNeeded) {
                // That user's token no longer works (their own sync says so): ask with the next one.
                const next = accounts.shift();
                if (next === undefined) {
                  await commitJournal(db); // its answers were counted as they arrived
                  return { status: 'no_account', looked, notFound, remaining: remaining(), audioFeatures: state.audioFeatures };
                }
                client = new SpotifyClient({ app, store, budget, layout }, next);
                k -= 1;
                continue;
              }
              if (job.kind === 'feature' && e instanceof SpotifyForbidden) {
                const reason = `${e.message}: Spotify withdrew audio features from new and development-mode apps in November 2024`;
                state = await updateEnrichState(layout, (s) => ({ ...s, audioFeatures: 'off', audioFeaturesOffAt: new Date().toISOString(), audioFeaturesReason: reason }));
                ctx.log.warn(`Enrichment: audio features are now OFF (${reason}); they will not be asked for again. Tracks keep NULL audio feature columns.`);
                continue;
              }
              // A 429 (Retry-After), 5xx, a timeout: keep what arrived, then let Temporal retry the rest.
              await setAside(await commitJournal(db));
              if (e instanceof RateLimited) {
                const until = new Date(Date.now() + e.retryAfterSeconds * 1000).toISOString();
                await updateEnrichState(layout, (s) => ({ ...s, rateLimitedUntil: until }));
              }
              if (e instanceof CancelledFailure) throw e;
              throw syncFailure(e, ctx.info.attempt);
            }
            await remember(entry);
            looked[job.kind === 'feature' ? 'features' : job.kind === 'track' ? 'tracks' : 'artists'] += 1;
            if (entry.t === 'miss' || (entry.t === 'feature' && entry.row.features_status === 'not_found')) notFound += 1;
            ctx.heartbeat({ step: 'lookups', done: k + 1, of: jobs.length });
          }
          await commitJournal(db);
          if (state.rateLimitedUntil) state = await updateEnrichState(layout, (s) => ({ ...s, rateLimitedUntil: null }));
          const after = await pendingWork(db, layout, { limit: { tracks: 0, artists: 0, features: 0 } });
          work.totals = after.totals;
          const left = remaining();
          return { status: left.tracks + left.artists + left.features > 0 ? 'more' : 'done', looked, notFound, remaining: left, audioFeatures: state.audioFeatures };
        } catch (e) {
          if (e instanceof ApplicationFailure || e instanceof CancelledFailure) throw e;
          throw syncFailure(e, ctx.info.attempt);
        } finally {
          db.close();
        }
      });
    },

    /** Record the start or the end of an enrichment run (for `rewind status`, the API and the dashboards). */
    async recordEnrichRun(input: { run: EnrichRun }): Promise<void> {
      await updateEnrichState(layout, (s) => ({
        ...s,
        lastRun: input.run,
        ...(input.run.finishedAt ? { lastRunAt: input.run.finishedAt } : {}),
      }));
    },
  };
}
