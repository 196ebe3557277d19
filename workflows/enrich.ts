/**
 * The enrichment of the shared catalog (`enrich`): one workflow for every user, started by its own
 * Temporal Schedule (every REWIND_ENRICH_INTERVAL, default an hour, overlap skipped; created beside
 * the users' sync schedules) or by `rewind enrich`. Deterministic orchestration only:
 *
 *   batch of lookups (about a minute's worth at REWIND_ENRICH_RATE) -> persisted -> next batch ...
 *   until nothing is left (or nobody is connected), continuing as new every `batchesPerRun`
 *   batches so that the history stays small however long the backlog.
 *
 * Waiting is durable: a 429 fails the batch with nextRetryDelay = Retry-After, so Temporal retries
 * it after exactly that long (a timer in the server; the worker may restart meanwhile), and the
 * retry asks only for what is still missing. Imports, syncs and dashboards never wait for it: they
 * read whatever the catalog holds. Inputs and results are counts only.
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { BOOKKEEPING_OPTIONS, spotifyCallOptions } from './policies.ts';
import type { Activities } from '../activities/index.ts';
import type { EnrichCounts } from '../activities/enrich.ts';

export interface EnrichInput {
  /** Batches before the workflow continues as new (default 50, about 50 minutes of lookups). */
  batchesPerRun?: number;
  /** Lookups per batch (default: the activity's, a minute's worth at REWIND_ENRICH_RATE). */
  maxLookups?: number;
  /** Carried over by continue-as-new. */
  carried?: { startedAt: string; looked: EnrichCounts; notFound: number; batches: number; runs: number };
}

export interface EnrichSummary {
  status: 'done' | 'no_account';
  startedAt: string;
  looked: EnrichCounts;
  notFound: number;
  remaining: EnrichCounts;
  audioFeatures: 'on' | 'off';
  batches: number;
  /** Workflow runs of this chain (1 + continue-as-new count). */
  runs: number;
}

export interface EnrichProgress {
  phase: 'enriching' | 'done' | 'failed';
  batches: number;
  looked: EnrichCounts;
  notFound: number;
  remaining: EnrichCounts | null;
}

export const enrichProgressQuery = defineQuery<EnrichProgress>('progress');

const NON_RETRYABLE = ['SyncConfiguration', 'SpotifyRequest'];

// About a minute of lookups; may wait for the catalog lock while a sync caches its tracks.
const { enrichBatch } = proxyActivities<Activities>(spotifyCallOptions(NON_RETRYABLE));

const { recordEnrichRun } = proxyActivities<Activities>(BOOKKEEPING_OPTIONS);

const add = (a: EnrichCounts, b: EnrichCounts): EnrichCounts => ({ tracks: a.tracks + b.tracks, artists: a.artists + b.artists, features: a.features + b.features });

export async function enrichCatalog(input: EnrichInput = {}): Promise<EnrichSummary> {
  const { workflowId } = workflowInfo();
  const batchesPerRun = Math.max(1, input.batchesPerRun ?? 50);
  const carried = input.carried ?? { startedAt: new Date().toISOString(), looked: { tracks: 0, artists: 0, features: 0 }, notFound: 0, batches: 0, runs: 0 };
  const runs = carried.runs + 1;
  const progress: EnrichProgress = { phase: 'enriching', batches: carried.batches, looked: carried.looked, notFound: carried.notFound, remaining: null };
  setHandler(enrichProgressQuery, () => progress);
  const counts = () => ({ tracks: progress.looked.tracks, artists: progress.looked.artists, features: progress.looked.features, notFound: progress.notFound });

  if (!input.carried) await recordEnrichRun({ run: { workflowId, startedAt: carried.startedAt, status: 'running' } });
  try {
    for (let i = 0; i < batchesPerRun; i++) {
      const r = await enrichBatch({ maxLookups: input.maxLookups });
      progress.batches += 1;
      progress.looked = add(progress.looked, r.looked);
      progress.notFound += r.notFound;
      progress.remaining = r.remaining;
      if (r.status !== 'more') {
        progress.phase = 'done';
        const finishedAt = new Date().toISOString();
        await recordEnrichRun({ run: { workflowId, startedAt: carried.startedAt, finishedAt, status: r.status === 'done' ? 'ok' : 'no_account', ...counts() } });
        return { status: r.status, startedAt: carried.startedAt, looked: progress.looked, notFound: progress.notFound, remaining: r.remaining, audioFeatures: r.audioFeatures, batches: progress.batches, runs };
      }
    }
  } catch (err) {
    progress.phase = 'failed';
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    const message = cause?.message ?? (err instanceof Error ? err.message : String(err));
    await recordEnrichRun({ run: { workflowId, startedAt: carried.startedAt, finishedAt: new Date().toISOString(), status: 'failed', error: message, ...counts() } });
    if (cause instanceof ApplicationFailure && cause.nonRetryable) {
      throw ApplicationFailure.create({ type: cause.type ?? undefined, message: `enrichment failed: ${cause.message}`, nonRetryable: true });
    }
    throw err;
  }
  // Keep the history small: the next run of the same workflow id carries the counters.
  return continueAsNew<typeof enrichCatalog>({
    batchesPerRun: input.batchesPerRun,
    maxLookups: input.maxLookups,
    carried: { startedAt: carried.startedAt, looked: progress.looked, notFound: progress.notFound, batches: progress.batches, runs },
  });
}
