/**
 * The daily playlist snapshot of one user (`playlists:<user>`), started by the user's second
 * Temporal Schedule (every REWIND_PLAYLISTS_INTERVAL, default a day, overlap skipped) or by
 * `rewind playlists --user <id>`. One activity does the work (activities/playlists.ts): playlists
 * whose snapshot_id is already stored are skipped, the rest fetched page by page and written as
 * Parquet generations. A 429 is waited out for exactly its Retry-After by the activity's retry (a
 * durable timer); a refused refresh token or a missing scope fails the run (non-retryable) with the
 * reason. Inputs and results hold the user id and counts only.
 *
 * Why a schedule of its own rather than a step of the sync: the sync runs every 15 minutes and must
 * stay short; a snapshot can take many requests (pages of items) and, under a long Retry-After,
 * hours; with its own schedule neither delays the other, each shows as itself in the Temporal UI,
 * and its cadence is set on its own.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { PlaylistSnapshotInput, PlaylistSnapshotResult } from '../activities/playlists.ts';

const NON_RETRYABLE = ['ReconnectNeeded', 'SyncConfiguration', 'SpotifyRequest', 'MissingScope'];

const { snapshotPlaylists: snapshot } = proxyActivities<Activities>({
  // Pages of items, each through the app-wide budget; the write may wait for the user's lock.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  // Retry-After can be hours: attempts are unlimited within a day (the next day's run takes over).
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes: NON_RETRYABLE },
});

export async function snapshotPlaylists(input: PlaylistSnapshotInput): Promise<PlaylistSnapshotResult & { userId: string }> {
  try {
    return { userId: input.userId, ...(await snapshot({ userId: input.userId })) };
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) {
      throw ApplicationFailure.create({ type: cause.type ?? undefined, message: `playlist snapshot of "${input.userId}" failed: ${cause.message}`, nonRetryable: true });
    }
    throw err;
  }
}
