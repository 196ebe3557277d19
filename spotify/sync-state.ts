/**
 * The live sync's state per user, in `<home>/sync/<user>.json`: the cursor (newest `played_at`
 * stored, Unix ms), the last run and its error, rate-limit waits, the schedule as last set, and the
 * gaps: spans where more plays happened than recently-played could return (it only ever shows the
 * last 50), to be filled by importing a privacy export. `listGaps` is what the API and dashboards read.
 */
import { promises as fs } from 'node:fs';
import { readJson, writeJsonAtomic } from '../warehouse/files.ts';
import { withLock } from '../warehouse/lock.ts';
import { type Layout, assertUserId } from '../warehouse/layout.ts';

export interface SyncGap {
  userId: string;
  /** The newest play stored before the sync (the cursor). */
  from: string;
  /** The oldest play the sync got: plays between `from` and `to` may be missing. */
  to: string;
  detectedAt: string;
  suggestion: string;
}

export interface SyncRun {
  workflowId?: string;
  startedAt: string;
  finishedAt?: string;
  status: 'running' | 'ok' | 'failed' | 'reconnect_needed';
  fetched?: number;
  added?: number;
  error?: string;
}

export interface SyncState {
  userId: string;
  /** Unix ms of the newest play stored by a sync; the next sync asks for plays after it. */
  cursor: number | null;
  lastRun?: SyncRun;
  lastSuccessAt?: string;
  /** When a sync is waiting out a 429 (or the app-wide budget), until when. */
  rateLimitedUntil?: string | null;
  schedule?: { intervalSeconds: number; paused: boolean; note?: string; updatedAt: string };
  gaps: SyncGap[];
}

export const GAP_SUGGESTION = 'more than 50 plays happened between two syncs; import a Spotify privacy export covering this span to fill it (rewind import <zip> --user <id>)';

export async function readSyncState(layout: Layout, userId: string): Promise<SyncState> {
  return (await readJson<SyncState>(layout.syncState(assertUserId(userId)))) ?? { userId, cursor: null, gaps: [] };
}

/** Read-modify-write the user's sync state under its own lock. */
export async function updateSyncState(layout: Layout, userId: string, fn: (s: SyncState) => SyncState): Promise<SyncState> {
  return withLock(layout, `sync-state-${assertUserId(userId)}`, async () => {
    const next = fn(await readSyncState(layout, userId));
    await writeJsonAtomic(layout.syncState(userId), next);
    return next;
  });
}

/** Every recorded gap, of one user or of all, oldest first. */
export async function listGaps(layout: Layout, userId?: string): Promise<SyncGap[]> {
  let users: string[];
  if (userId !== undefined) users = [assertUserId(userId)];
  else {
    try {
      users = (await fs.readdir(layout.syncDir)).filter((n) => n.endsWith('.json') && !n.startsWith('_') && !n.startsWith('.')).map((n) => n.slice(0, -5));
    } catch {
      users = [];
    }
  }
  const states = await Promise.all(users.map((u) => readSyncState(layout, u).catch(() => undefined)));
  return states.flatMap((s) => s?.gaps ?? []).sort((a, b) => a.from.localeCompare(b.from) || a.userId.localeCompare(b.userId));
}
