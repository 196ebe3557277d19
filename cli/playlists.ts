/**
 * Playlist snapshots from the outside: the per-user Temporal Schedule `playlists:<user>` (every
 * REWIND_PLAYLISTS_INTERVAL, default a day, overlap skipped; created beside the sync's schedule by
 * `rewind sync`/`login`/`connect`, and run once at creation), and `rewind playlists --user <id>`,
 * which takes a snapshot now and waits for it.
 */
import { ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { assertUserId } from '../warehouse/layout.ts';
import { PLAYLISTS_WORKFLOW_TYPE, TASK_QUEUE, playlistsWorkflowId } from '../workflows/ids.ts';
import type { PlaylistSnapshotResult } from '../activities/playlists.ts';
import { ensureIntervalSchedule } from './schedules.ts';
import { connectTemporal, prepareWorker, resultWithWorker, type Context, type TemporalSession } from './context.ts';

export class PlaylistsFailedError extends Error {}

/** Create the user's playlist schedule (and run it once), or bring an existing one to the configured interval. */
export async function ensurePlaylistsSchedule(ctx: Context, client: Client, userId: string): Promise<{ created: boolean }> {
  const { created, handle } = await ensureIntervalSchedule(client, {
    id: playlistsWorkflowId(assertUserId(userId)),
    workflowType: PLAYLISTS_WORKFLOW_TYPE,
    args: [{ userId }],
    everySeconds: ctx.config.playlistsIntervalSeconds,
    catchupWindow: '1 hour',
    note: `playlist snapshot of ${userId} every ${ctx.config.playlistsIntervalSeconds} s`,
  });
  // The first snapshot now, not a day later.
  if (created) await handle.trigger(ScheduleOverlapPolicy.SKIP);
  return { created };
}

/** Take a snapshot of the user's playlists now and wait for it (joining one that runs). */
export async function runPlaylists(ctx: Context, opts: { userId: string; session?: TemporalSession }): Promise<PlaylistSnapshotResult & { userId: string }> {
  const userId = assertUserId(opts.userId);
  const session = opts.session ?? (await connectTemporal(ctx));
  const prepared = prepareWorker(ctx, session);
  prepared.catch(() => undefined);
  try {
    await ensurePlaylistsSchedule(ctx, session.client, userId);
    let handle;
    try {
      handle = await session.client.workflow.start(PLAYLISTS_WORKFLOW_TYPE, {
        taskQueue: TASK_QUEUE,
        workflowId: playlistsWorkflowId(userId),
        args: [{ userId }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
      handle = session.client.workflow.getHandle(playlistsWorkflowId(userId));
    }
    try {
      return await resultWithWorker(ctx, session, handle, prepared);
    } catch (e) {
      if (e instanceof WorkflowFailedError) throw new PlaylistsFailedError((e.cause as { message?: string } | undefined)?.message ?? e.message);
      throw e;
    }
  } finally {
    if (!opts.session) await session.close();
  }
}

export function formatPlaylistsSummary(s: PlaylistSnapshotResult & { userId: string }): string {
  return (
    `Playlists of "${s.userId}" on ${s.snapshotDate}: ${s.playlists} playlist(s); ${s.fetched} new version(s) fetched (${s.itemsAdded} item(s)), ` +
    `${s.unchanged} unchanged, ${s.forbidden} not readable (not yours nor collaborative)${s.gone ? `, ${s.gone} deleted meanwhile` : ''}; ${s.requests} request(s).`
  );
}

/** `rewind playlists --user <id>`. */
export async function playlistsCommand(ctx: Context, opts: { user: string; json?: boolean }): Promise<void> {
  const summary = await runPlaylists(ctx, { userId: opts.user });
  process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${formatPlaylistsSummary(summary)}\n`);
}
