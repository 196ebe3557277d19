/**
 * The realtime mode of one user (`realtime:<user>`): a long-running workflow that polls
 * currently-playing every `pollSeconds` (durable timers between polls, one short activity per poll)
 * and records what recently-played never shows: skips under 30 s and local files (see
 * activities/realtime.ts for the ms_played estimate). It continues as new every `pollsPerRun` polls
 * so that its history stays small.
 *
 * Started by `rewind realtime --user <u> on`, and by `rewind sync` / `rewind login` when the user's
 * realtime setting is on (cli/realtime.ts); one per user (the workflow id), so starting it again is a
 * no-op. It ends by itself when the setting is turned off (the next poll sees it), or when cancelled
 * (`rewind realtime --user <u> off`). Every Spotify call goes through the app-wide budget; a 429 is
 * waited out for exactly its Retry-After by the activity's retry (a durable timer), however long.
 * A refused refresh token or a missing scope ends it (non-retryable), with the reason.
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, defineQuery, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { spotifyCallOptions, warehouseWriteOptions } from './policies.ts';
import type { Activities } from '../activities/index.ts';

export interface RealtimeInput {
  userId: string;
  /** Seconds between two polls (REWIND_REALTIME_POLL, default 15). */
  pollSeconds: number;
  /** Polls per run before continuing as new (REWIND_REALTIME_POLLS_PER_RUN). */
  pollsPerRun: number;
  /** Carried across continue-as-new. */
  totals?: RealtimeTotals;
}

export interface RealtimeTotals {
  runs: number;
  polls: number;
  added: number;
}

export interface RealtimeSummary {
  userId: string;
  stopped: 'turned_off';
  totals: RealtimeTotals;
}

export interface RealtimeProgress extends RealtimeTotals {
  playing: boolean;
}

export const realtimeProgressQuery = defineQuery<RealtimeProgress>('realtime');

const NON_RETRYABLE = ['ReconnectNeeded', 'SyncConfiguration', 'SpotifyRequest', 'MissingScope', 'BadExport'];

// A poll is one request; writing a skip may wait for the user's lock while an import merges.
const { pollCurrentlyPlaying } = proxyActivities<Activities>(spotifyCallOptions(NON_RETRYABLE));

const { buildModels } = proxyActivities<Activities>(warehouseWriteOptions(NON_RETRYABLE));

export async function realtimeUser(input: RealtimeInput): Promise<RealtimeSummary> {
  const { userId } = input;
  const totals: RealtimeTotals = { ...(input.totals ?? { runs: 0, polls: 0, added: 0 }) };
  totals.runs += 1;
  const progress: RealtimeProgress = { ...totals, playing: false };
  setHandler(realtimeProgressQuery, () => ({ ...progress, ...totals }));

  for (let i = 0; i < input.pollsPerRun; i++) {
    let r;
    try {
      r = await pollCurrentlyPlaying({ userId });
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.nonRetryable) {
        throw ApplicationFailure.create({ type: cause.type ?? undefined, message: `realtime mode of "${userId}" stopped: ${cause.message}`, nonRetryable: true });
      }
      throw err;
    }
    totals.polls += 1;
    totals.added += r.added;
    progress.playing = r.playing;
    if (r.affectedDays.length > 0) await buildModels({ userId, days: r.affectedDays });
    if (!r.enabled) return { userId, stopped: 'turned_off', totals };
    if (workflowInfo().continueAsNewSuggested) break;
    await sleep(input.pollSeconds * 1000);
  }
  return continueAsNew<typeof realtimeUser>({ ...input, totals });
}
