/**
 * The live sync of one user (`sync:<user>`), started by the user's Temporal Schedule every
 * REWIND_SYNC_INTERVAL (overlap: skip) or by `rewind sync`. Deterministic orchestration only:
 *
 *   recently-played after the cursor -> written as source 'api' under the user's lock, cursor advanced
 *   once the plays are in place -> the affected days' marts rebuilt
 *
 * Waiting is durable: a 429 fails the fetch with nextRetryDelay = Retry-After, so Temporal retries it
 * after exactly that long (a timer in the server, hours if need be); 5xx back off exponentially with
 * jitter. A refused refresh token (invalid_grant) fails this run as non-retryable "reconnect needed"
 * and pauses this user's schedule with a note; nobody else's is touched. Inputs, results and failures
 * hold a user id and counts, never a token.
 */
import { ActivityFailure, ApplicationFailure, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { BOOKKEEPING_OPTIONS, spotifyCallOptions, warehouseWriteOptions } from './policies.ts';
import type { Activities } from '../activities/index.ts';
import type { SyncFetchResult, SyncUserInput } from '../activities/sync.ts';

export interface SyncSummary {
  userId: string;
  status: 'synced' | 'no_new_plays';
  fetched: number;
  added: number;
  duplicates: number;
  enriched: number;
  rejected: number;
  daysRebuilt: number;
  cursor: string | null;
  gap: SyncFetchResult['gap'];
}

export interface SyncProgress {
  phase: 'starting' | 'syncing' | 'modelling' | 'done' | 'failed';
  fetched: number;
  added: number;
}

export const syncProgressQuery = defineQuery<SyncProgress>('progress');

const NON_RETRYABLE = ['ReconnectNeeded', 'SyncConfiguration', 'SpotifyRequest', 'BadExport'];

const { syncRecentlyPlayed } = proxyActivities<Activities>(spotifyCallOptions(NON_RETRYABLE));

const { buildModels } = proxyActivities<Activities>(warehouseWriteOptions(NON_RETRYABLE));

const { pauseSync, recordSyncRun } = proxyActivities<Activities>(BOOKKEEPING_OPTIONS);

export async function syncUser(input: SyncUserInput): Promise<SyncSummary> {
  const { userId } = input;
  const { workflowId } = workflowInfo();
  const startedAt = new Date().toISOString();
  const progress: SyncProgress = { phase: 'starting', fetched: 0, added: 0 };
  setHandler(syncProgressQuery, () => progress);

  await recordSyncRun({ userId, run: { workflowId, startedAt, status: 'running' } });
  try {
    progress.phase = 'syncing';
    const r = await syncRecentlyPlayed({ userId });
    progress.fetched = r.fetched;
    progress.added = r.added;
    progress.phase = 'modelling';
    if (r.affectedDays.length > 0) await buildModels({ userId, days: r.affectedDays });
    progress.phase = 'done';
    await recordSyncRun({ userId, run: { workflowId, startedAt, finishedAt: new Date().toISOString(), status: 'ok', fetched: r.fetched, added: r.added } });
    return {
      userId,
      status: r.fetched > 0 ? 'synced' : 'no_new_plays',
      fetched: r.fetched,
      added: r.added,
      duplicates: r.duplicates,
      enriched: r.enriched,
      rejected: r.rejected,
      daysRebuilt: r.affectedDays.length,
      cursor: r.cursor,
      gap: r.gap,
    };
  } catch (err) {
    progress.phase = 'failed';
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    const finishedAt = new Date().toISOString();
    if (cause instanceof ApplicationFailure && cause.type === 'ReconnectNeeded') {
      const note = `reconnect needed: ${cause.message}`;
      await pauseSync({ userId, note });
      await recordSyncRun({ userId, run: { workflowId, startedAt, finishedAt, status: 'reconnect_needed', error: note } });
      throw ApplicationFailure.create({ type: 'ReconnectNeeded', message: note, nonRetryable: true });
    }
    const message = cause?.message ?? (err instanceof Error ? err.message : String(err));
    await recordSyncRun({ userId, run: { workflowId, startedAt, finishedAt, status: 'failed', error: message } });
    if (cause instanceof ApplicationFailure && cause.nonRetryable) {
      throw ApplicationFailure.create({ type: cause.type ?? undefined, message: cause.message, nonRetryable: true });
    }
    throw err;
  }
}
