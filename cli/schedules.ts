/**
 * Rewind's Temporal Schedules (sync:<user>, playlists:<user>, enrich) are all "start this workflow
 * every N seconds, skipping a run while the last one still runs". Created once; a later call brings
 * the interval to the configured one and leaves the rest (pause state, note) as it is.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleHandle } from '@temporalio/client';
import { TASK_QUEUE } from '../workflows/ids.ts';

export interface IntervalSchedule {
  /** The schedule id, also the id of the workflow it starts. */
  id: string;
  workflowType: string;
  args: unknown[];
  everySeconds: number;
  /** How late a missed run may still start (after the server was down). */
  catchupWindow: string;
  note: string;
}

export async function ensureIntervalSchedule(
  client: Client,
  s: IntervalSchedule,
): Promise<{ created: boolean; handle: ScheduleHandle; paused: boolean; note: string | undefined }> {
  const every = s.everySeconds * 1000;
  try {
    const handle = await client.schedule.create({
      scheduleId: s.id,
      spec: { intervals: [{ every }] },
      action: { type: 'startWorkflow', workflowType: s.workflowType, workflowId: s.id, taskQueue: TASK_QUEUE, args: s.args },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: s.catchupWindow },
      state: { note: s.note },
    });
    return { created: true, handle, paused: false, note: s.note };
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    const handle = client.schedule.getHandle(s.id);
    const d = await handle.describe();
    if (Number(d.spec.intervals?.[0]?.every) !== every) await handle.update((prev) => ({ ...prev, spec: { intervals: [{ every }] } }));
    return { created: false, handle, paused: d.state.paused, note: d.state.note };
  }
}
