/**
 * Activity options shared by several workflows' `proxyActivities` groups. Each group still names
 * its own: the options below are the ones whose reasons are the same wherever they are used.
 */
import type { ActivityOptions } from '@temporalio/workflow';

/**
 * An activity that calls Spotify. A 429's Retry-After can be many hours (74,000 s are reported), so
 * attempts are unlimited and bounded by time; the activity sets `nextRetryDelay` itself (exactly the
 * Retry-After, or backoff with jitter after a 5xx), and the policy here is only the fallback.
 * A write may wait for the user's lock while an import merges, hence the long start-to-close.
 */
export function spotifyCallOptions(nonRetryableErrorTypes: string[]): ActivityOptions {
  return {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '1 minute',
    scheduleToCloseTimeout: '7 days',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', nonRetryableErrorTypes },
  };
}

/** Merging into the warehouse and rebuilding marts: minutes for a heavy user, heartbeating. */
export function warehouseWriteOptions(nonRetryableErrorTypes: string[]): ActivityOptions {
  return {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 20, nonRetryableErrorTypes },
  };
}

/** Small bookkeeping (a state file, a schedule's pause): quick, retried a few times. */
export const BOOKKEEPING_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
};
