/**
 * `rewind sync --user <id>` / `--all`: run a sync now and follow it; the per-user Temporal Schedule
 * (`sync:<user>`, every REWIND_SYNC_INTERVAL, overlap skip); what `rewind status` and the API show
 * of the sync (`syncStatus`, `createSyncControl`).
 */
import { ScheduleNotFoundError, WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { assertUserId } from '../warehouse/layout.ts';
import { tokenStore } from '../spotify/connect.ts';
import { readSyncState, updateSyncState, type SyncGap, type SyncRun } from '../spotify/sync-state.ts';
import { SYNC_WORKFLOW_TYPE, TASK_QUEUE, syncWorkflowId } from '../workflows/ids.ts';
import type { SyncProgress, SyncSummary } from '../workflows/sync.ts';
import { ensureIntervalSchedule } from './schedules.ts';
import { connectTemporal, prepareWorker, followWorkflow, type Context, type TemporalSession } from './context.ts';
import { ensureRealtime } from './realtime.ts';
import { ensurePlaylistsSchedule } from './playlists.ts';
import { ensureEnrichSchedule } from './enrich.ts';

export class SyncFailedError extends Error {}

/** The user has no working Spotify connection: the API answers 409 with this code. */
export class NotConnectedError extends SyncFailedError {
  readonly statusCode = 409;
  readonly code = 'spotify_not_connected';
}

/**
 * Create the user's schedule, or bring an existing one to `intervalSeconds`. `unpause` resumes a
 * paused one (after the user connected again). Records the schedule in the user's sync state.
 */
export async function ensureSyncSchedule(
  ctx: Context,
  client: Client,
  userId: string,
  opts: { intervalSeconds?: number; unpause?: boolean } = {},
): Promise<{ created: boolean; paused: boolean; note?: string }> {
  const intervalSeconds = opts.intervalSeconds ?? ctx.config.syncIntervalSeconds;
  const schedule = await ensureIntervalSchedule(client, {
    id: syncWorkflowId(assertUserId(userId)),
    workflowType: SYNC_WORKFLOW_TYPE,
    args: [{ userId }],
    everySeconds: intervalSeconds,
    catchupWindow: '1 minute',
    note: `sync of ${userId} every ${intervalSeconds} s`,
  });
  const created = schedule.created;
  let { paused, note } = schedule;
  if (!created && opts.unpause && paused) {
    note = 'resumed: the Spotify account was connected again';
    await schedule.handle.unpause(note);
    paused = false;
  }
  await updateSyncState(ctx.layout, userId, (s) => ({ ...s, schedule: { intervalSeconds, paused, note, updatedAt: new Date().toISOString() } }));
  // The realtime mode follows the user's setting (started when on, cancelled when off; idempotent),
  // and the daily playlist snapshot has its own schedule beside this one.
  if (!paused) {
    await ensureRealtime(ctx, client, userId);
    await ensurePlaylistsSchedule(ctx, client, userId);
    // One enrichment schedule for everyone (idempotent): the catalog's lookups (cli/enrich.ts).
    await ensureEnrichSchedule(ctx, client);
  }
  return { created, paused, note };
}

/** What a running sync shows: its phase, and the wait it is in when Spotify rate-limits it. */
export interface SyncWatch extends SyncProgress {
  userId: string;
  /** Set while the fetch waits to be retried (429 Retry-After, or 5xx backoff). */
  waiting?: { reason: string; until: string | null; attempt: number };
}

async function startSyncWorkflow(session: TemporalSession, userId: string): Promise<WorkflowHandle> {
  const workflowId = syncWorkflowId(userId);
  try {
    return await session.client.workflow.start(SYNC_WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ userId }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    return session.client.workflow.getHandle(workflowId);
  }
}

/** Fail early, and clearly, when a user cannot sync. */
async function assertConnected(ctx: Context, userId: string): Promise<void> {
  const connection = await tokenStore(ctx.config, ctx.layout).connection(assertUserId(userId));
  if (!connection) throw new NotConnectedError(`user "${userId}" has no Spotify account connected: run \`rewind login --user ${userId}\` (or \`rewind connect\`)`);
  if (connection.reconnectNeeded) {
    throw new NotConnectedError(`reconnect needed for "${userId}": ${connection.reconnectNeeded.reason}; run \`rewind login --user ${userId}\``);
  }
}

/** Run one sync of `userId` now (joining one that is running) and wait for it, with progress. */
export async function runSync(ctx: Context, opts: { userId: string; session?: TemporalSession; onProgress?: (p: SyncWatch) => void }): Promise<SyncSummary> {
  const userId = assertUserId(opts.userId);
  await assertConnected(ctx, userId);
  const session = opts.session ?? (await connectTemporal(ctx));
  const prepared = prepareWorker(ctx, session);
  prepared.catch(() => undefined);
  try {
    await ensureSyncSchedule(ctx, session.client, userId);
    const handle = await startSyncWorkflow(session, userId);
    const ask = async (): Promise<SyncWatch | undefined> => {
      const progress = await handle.query<SyncProgress>('progress').catch(() => undefined);
      if (!progress) return undefined;
      const watch: SyncWatch = { ...progress, userId };
      const d = await handle.describe().catch(() => undefined);
      const pending = d?.raw.pendingActivities?.[0];
      if (pending?.lastFailure?.message && (pending.attempt ?? 1) > 1) {
        const next = pending.nextAttemptScheduleTime?.seconds;
        watch.waiting = { reason: pending.lastFailure.message, until: next ? new Date(Number(next) * 1000).toISOString() : null, attempt: pending.attempt ?? 1 };
      }
      return watch;
    };
    return await followWorkflow<SyncSummary, SyncWatch>(ctx, session, handle, {
      prepared,
      poll: opts.onProgress ? { ask, tell: opts.onProgress } : undefined,
      failure: (message) => new SyncFailedError(message),
    });
  } finally {
    if (!opts.session) await session.close();
  }
}

/** Users with a Spotify connection. */
export async function connectedUsers(ctx: Context): Promise<string[]> {
  return (await tokenStore(ctx.config, ctx.layout).connections()).map((c) => c.userId);
}

export interface SyncStatus {
  connected: boolean;
  accountId: string | null;
  reconnectNeeded: string | null;
  schedule: { intervalSeconds: number; paused: boolean; note?: string } | null;
  lastRun: SyncRun | null;
  lastSuccessAt: string | null;
  rateLimitedUntil: string | null;
  cursor: string | null;
  gaps: SyncGap[];
}

/** A user's sync as recorded in the data folder (no Temporal needed). */
export async function syncStatus(ctx: Context, userId: string): Promise<SyncStatus> {
  const connection = await tokenStore(ctx.config, ctx.layout).connection(userId);
  const state = await readSyncState(ctx.layout, userId);
  return {
    connected: connection !== undefined,
    accountId: connection?.accountId ?? null,
    reconnectNeeded: connection?.reconnectNeeded?.reason ?? null,
    schedule: state.schedule ? { intervalSeconds: state.schedule.intervalSeconds, paused: state.schedule.paused, note: state.schedule.note } : null,
    lastRun: state.lastRun ?? null,
    lastSuccessAt: state.lastSuccessAt ?? null,
    rateLimitedUntil: state.rateLimitedUntil && Date.parse(state.rateLimitedUntil) > Date.now() ? state.rateLimitedUntil : null,
    cursor: state.cursor === null ? null : new Date(state.cursor).toISOString(),
    gaps: state.gaps,
  };
}

/** One line of `rewind status` for a user's sync. */
export function formatSyncStatus(s: SyncStatus): string {
  if (!s.connected) return 'not connected';
  const lines = [`connected (${s.accountId})`];
  if (s.reconnectNeeded) lines.push(`RECONNECT NEEDED: ${s.reconnectNeeded}`);
  if (s.schedule) lines.push(`schedule: every ${s.schedule.intervalSeconds} s${s.schedule.paused ? `, PAUSED${s.schedule.note ? ` (${s.schedule.note})` : ''}` : ''}`);
  else lines.push('schedule: none yet (rewind sync --user <id> creates it)');
  if (s.lastRun) lines.push(`last sync: ${s.lastRun.startedAt} ${s.lastRun.status}${s.lastRun.added !== undefined ? ` (+${s.lastRun.added})` : ''}${s.lastRun.error ? `: ${s.lastRun.error}` : ''}`);
  if (s.rateLimitedUntil) lines.push(`rate limited until ${s.rateLimitedUntil}`);
  for (const g of s.gaps) lines.push(`GAP ${g.from} .. ${g.to}: import an export to fill it`);
  return lines.join('\n');
}

/**
 * The sync as the API drives it (the API helper's SyncControl): start a sync now, describe a user's
 * schedule and last run. A worker (`rewind worker`) must poll the task queue for runs to happen.
 */
export function createSyncControl(ctx: Context, session: TemporalSession) {
  return {
    async start(userId: string): Promise<{ workflowId: string; runId: string }> {
      await assertConnected(ctx, userId);
      await ensureSyncSchedule(ctx, session.client, userId);
      const handle = await startSyncWorkflow(session, userId);
      const d = await handle.describe();
      return { workflowId: handle.workflowId, runId: d.runId };
    },
    async applyRealtime(userId: string): Promise<void> {
      const r = await ensureRealtime(ctx, session.client, userId);
      if (r.reason) ctx.log(`realtime mode of ${userId}: ${r.reason}`);
    },
    async describe(userId: string): Promise<{
      schedule: { intervalSeconds: number; paused: boolean; note?: string } | null;
      lastRun?: { startedAt: string; status: string; error?: string };
      nextRun?: string;
    }> {
      assertUserId(userId);
      let schedule: { intervalSeconds: number; paused: boolean; note?: string } | null = null;
      let nextRun: string | undefined;
      try {
        const d = await session.client.schedule.getHandle(syncWorkflowId(userId)).describe();
        const every = Number(d.spec.intervals?.[0]?.every ?? 0);
        schedule = { intervalSeconds: Math.round(every / 1000), paused: d.state.paused, ...(d.state.note ? { note: d.state.note } : {}) };
        nextRun = d.state.paused ? undefined : d.info.nextActionTimes[0]?.toISOString();
      } catch (e) {
        if (!(e instanceof ScheduleNotFoundError)) throw e;
      }
      const state = await readSyncState(ctx.layout, userId);
      const run = state.lastRun;
      return {
        schedule,
        ...(run ? { lastRun: { startedAt: run.startedAt, status: run.status, ...(run.error ? { error: run.error } : {}) } } : {}),
        ...(nextRun ? { nextRun } : {}),
      };
    },
  };
}

export function formatSyncSummary(s: SyncSummary): string {
  const lines = [
    s.status === 'no_new_plays' ? `Synced "${s.userId}": no new plays.` : `Synced "${s.userId}": ${s.fetched} new play(s) from Spotify, ${s.added} stored.`,
  ];
  if (s.duplicates > 0) lines.push(`  already stored: ${s.duplicates}`);
  if (s.enriched > 0) lines.push(`  exported plays enriched with IDs and context: ${s.enriched}`);
  if (s.rejected > 0) lines.push(`  rejected: ${s.rejected}`);
  if (s.daysRebuilt > 0) lines.push(`  days rebuilt: ${s.daysRebuilt}`);
  if (s.cursor) lines.push(`  newest play: ${s.cursor}`);
  if (s.gap) lines.push(`  GAP: plays between ${s.gap.from} and ${s.gap.to} may be missing (Spotify only keeps the last 50); ${s.gap.suggestion}`);
  return lines.join('\n');
}

/** Progress lines on stderr (a sync is short: a line per change, not a bar). */
export function syncProgressPrinter(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): (p: SyncWatch) => void {
  let last = '';
  return (p) => {
    const line = p.waiting
      ? `sync ${p.userId}: waiting (attempt ${p.waiting.attempt})${p.waiting.until ? ` until ${p.waiting.until}` : ''}: ${p.waiting.reason}`
      : `sync ${p.userId}: ${p.phase}${p.fetched ? `, ${p.fetched} new play(s)` : ''}`;
    if (line !== last) write(line);
    last = line;
  };
}

/** `rewind sync --user <id>` or `--all`: one sync now per user, with progress; exit code 1 if any failed. */
export async function syncCommand(ctx: Context, opts: { user?: string; all?: boolean; json?: boolean }): Promise<void> {
  if (Boolean(opts.user) === Boolean(opts.all)) throw new SyncFailedError('give --user <id> or --all');
  const users = opts.all ? await connectedUsers(ctx) : [opts.user!];
  if (users.length === 0) {
    process.stdout.write(opts.json ? '[]\n' : 'No user has a Spotify account connected (rewind login --user <id>).\n');
    return;
  }
  const session = await connectTemporal(ctx);
  const results: { userId: string; summary?: SyncSummary; error?: string }[] = [];
  try {
    // One after another: they share one app-wide Spotify budget anyway, and one user's failure
    // (a revoked token) does not stop the next.
    for (const userId of users) {
      try {
        const summary = await runSync(ctx, { userId, session, onProgress: opts.json ? undefined : syncProgressPrinter() });
        results.push({ userId, summary });
        if (!opts.json) process.stdout.write(`${formatSyncSummary(summary)}\n`);
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        results.push({ userId, error });
        if (!opts.json) process.stdout.write(`Sync of "${userId}" failed: ${error}\n`);
      }
    }
  } finally {
    await session.close();
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  if (results.some((r) => r.error)) {
    if (users.length === 1) throw new SyncFailedError(results[0]!.error!);
    process.exitCode = 1;
  }
}
