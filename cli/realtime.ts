/**
 * The realtime mode from the outside: `rewind realtime --user <id> on|off|status`, and
 * `ensureRealtime`, which brings the workflow `realtime:<user>` in line with the user's setting
 * (`realtime` in users/<u>.json, also set by the API's PATCH /api/v1/me): started when on and not
 * running, cancelled when off and running. Idempotent through the workflow id: `rewind sync`,
 * `rewind login`/`connect` and the API's sync start call it every time (cli/sync.ts
 * ensureSyncSchedule), so turning the setting on anywhere takes effect at the next of those, and
 * turning it off stops the workflow at its next poll even when nobody calls this.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { hasScope } from '../spotify/auth.ts';
import { tokenStore } from '../spotify/connect.ts';
import { assertUserId } from '../warehouse/layout.ts';
import { getUser, setRealtime } from '../warehouse/users.ts';
import { readRealtimeState, type RealtimeState } from '../activities/realtime.ts';
import { REALTIME_WORKFLOW_TYPE, TASK_QUEUE, realtimeWorkflowId } from '../workflows/ids.ts';
import type { RealtimeInput } from '../workflows/realtime.ts';
import { connectTemporal, workerPolling, type Context, type TemporalSession } from './context.ts';

export class RealtimeError extends Error {}

export type RealtimeWorkflowState = 'running' | 'started' | 'cancelled' | 'not_running';

/** Is the user's realtime workflow running? */
async function running(client: Client, userId: string): Promise<boolean> {
  try {
    const d = await client.workflow.getHandle(realtimeWorkflowId(userId)).describe();
    return d.status.name === 'RUNNING';
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}

/** Why the user cannot run the realtime mode, or undefined when they can. */
async function cannotRun(ctx: Context, userId: string): Promise<string | undefined> {
  const c = await tokenStore(ctx.config, ctx.layout).connection(userId);
  if (!c) return `user "${userId}" has no Spotify account connected: run \`rewind login --user ${userId}\` first`;
  if (c.reconnectNeeded) return `reconnect needed for "${userId}": ${c.reconnectNeeded.reason}; run \`rewind login --user ${userId}\``;
  if (!hasScope(c.scope, 'user-read-currently-playing')) {
    return `the Spotify account of "${userId}" did not grant user-read-currently-playing (it was connected before the realtime mode existed): run \`rewind login --user ${userId}\` again to grant it`;
  }
  return undefined;
}

/**
 * Start or cancel `realtime:<user>` to match the user's setting. Never throws for a user who cannot
 * run it (not connected, missing scope): it says why in `reason` and starts nothing.
 */
export async function ensureRealtime(ctx: Context, client: Client, userId: string): Promise<{ state: RealtimeWorkflowState; reason?: string }> {
  assertUserId(userId);
  const on = (await getUser(ctx.layout, userId))?.realtime === true;
  const isRunning = await running(client, userId);
  if (!on) {
    if (!isRunning) return { state: 'not_running' };
    await client.workflow.getHandle(realtimeWorkflowId(userId)).cancel();
    return { state: 'cancelled' };
  }
  if (isRunning) return { state: 'running' };
  const reason = await cannotRun(ctx, userId);
  if (reason) return { state: 'not_running', reason };
  const input: RealtimeInput = { userId, pollSeconds: ctx.config.realtime.pollSeconds, pollsPerRun: ctx.config.realtime.pollsPerRun };
  try {
    await client.workflow.start(REALTIME_WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUE,
      workflowId: realtimeWorkflowId(userId),
      args: [input],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    return { state: 'started' };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) return { state: 'running' };
    throw e;
  }
}

/** Turn the user's realtime mode on or off (the setting, then the workflow). */
export async function setRealtimeMode(ctx: Context, client: Client, userId: string, on: boolean): Promise<{ state: RealtimeWorkflowState }> {
  assertUserId(userId);
  if (on) {
    const reason = await cannotRun(ctx, userId);
    if (reason) throw new RealtimeError(reason);
  }
  await setRealtime(ctx.layout, userId, on);
  const r = await ensureRealtime(ctx, client, userId);
  if (r.reason) throw new RealtimeError(r.reason);
  return { state: r.state };
}

export interface RealtimeStatus {
  userId: string;
  setting: boolean;
  state: Omit<RealtimeState, 'open' | 'pending' | 'userId'> & { pending: number; watching: boolean };
}

/** The user's realtime mode as recorded in the data folder (no Temporal needed; no track names). */
export async function realtimeStatus(ctx: Context, userId: string): Promise<RealtimeStatus> {
  const s = await readRealtimeState(ctx.layout, assertUserId(userId));
  const { polls, recorded, ambiguous, lastPollAt, lastRecordedAt, lastEstimates } = s;
  return {
    userId,
    setting: (await getUser(ctx.layout, userId))?.realtime === true,
    state: { polls, recorded, ambiguous, lastPollAt, lastRecordedAt, lastEstimates, pending: s.pending.length, watching: s.open !== null },
  };
}

export function formatRealtimeStatus(s: RealtimeStatus): string {
  const st = s.state;
  const lines = [`realtime: ${s.setting ? 'on' : 'off'}${st.lastPollAt ? `, last poll ${st.lastPollAt}` : ''}, ${st.polls} poll(s)`];
  if (st.polls > 0) lines.push(`  recorded: ${st.recorded.skips} skip(s), ${st.recorded.local} local file play(s); left to recently-played (undecidable): ${st.ambiguous}`);
  for (const e of st.lastEstimates.slice(0, 5)) lines.push(`  ${e.endedAt} ${e.kind} ${e.msPlayed} ms ± ${e.errorMs} ms (${e.method})`);
  return lines.join('\n');
}

/** `rewind realtime --user <id> [on|off|status]`. */
export async function realtimeCommand(ctx: Context, opts: { user: string; action?: string; session?: TemporalSession }): Promise<void> {
  const action = opts.action ?? 'status';
  if (!['on', 'off', 'status'].includes(action)) throw new RealtimeError(`unknown action "${action}": use on, off or status`);
  const userId = assertUserId(opts.user);
  if (action === 'status') {
    process.stdout.write(`${formatRealtimeStatus(await realtimeStatus(ctx, userId))}\n`);
    return;
  }
  const session = opts.session ?? (await connectTemporal(ctx));
  try {
    const r = await setRealtimeMode(ctx, session.client, userId, action === 'on');
    const what = {
      started: `Realtime mode of "${userId}" is on: workflow ${realtimeWorkflowId(userId)} polls currently-playing every ${ctx.config.realtime.pollSeconds} s.`,
      running: `Realtime mode of "${userId}" is on (workflow ${realtimeWorkflowId(userId)} was already running).`,
      cancelled: `Realtime mode of "${userId}" is off (workflow ${realtimeWorkflowId(userId)} cancelled).`,
      not_running: `Realtime mode of "${userId}" is off.`,
    }[r.state];
    process.stdout.write(`${what}\n`);
    if (action === 'on' && !(await workerPolling(session))) process.stdout.write('No worker is running: start one (rewind worker, or npm start) for the polls to happen.\n');
  } finally {
    if (!opts.session) await session.close();
  }
}
