/** POST /api/v1/sync (start a sync now) and GET /api/v1/sync (schedule, last and next run). 503 without the sync. */
import { Type } from 'typebox';
import { Nullable, Obj, errorResponses } from '../../schemas/index.ts';
import { ApiError } from '../../errors.ts';
import type { SyncControl } from '../../deps.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Run = Obj({
  workflowId: Nullable(Type.String()),
  runId: Nullable(Type.String()),
  status: Nullable(Type.String()),
  startedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
  playsAdded: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
});

const SyncState = Obj({
  schedule: Nullable(Obj({ intervalSeconds: Type.Integer(), paused: Type.Boolean(), note: Nullable(Type.String()) })),
  lastRun: Nullable(Run),
  nextRun: Nullable(Type.String()),
});

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  const sync = (): SyncControl => {
    if (!ctx.deps.sync) throw new ApiError(503, 'sync_unavailable', 'the Spotify sync is not available on this server');
    return ctx.deps.sync;
  };
  app.post(
    '/sync',
    {
      schema: {
        summary: 'Start a sync of recent plays from Spotify now',
        tags: ['sync'],
        response: { 202: Obj({ workflowId: Type.String(), runId: Type.String() }), ...errorResponses },
      },
    },
    async (req, reply) => reply.code(202).send(await sync().start(req.auth!.userId)),
  );
  app.get(
    '/sync',
    { schema: { summary: 'The sync schedule, its last and next run', tags: ['sync'], response: { 200: SyncState, ...errorResponses } } },
    async (req) => {
      const d = await sync().describe(req.auth!.userId);
      const r = d.lastRun;
      return {
        schedule: d.schedule ? { intervalSeconds: d.schedule.intervalSeconds, paused: d.schedule.paused, note: d.schedule.note ?? null } : null,
        lastRun: r
          ? {
              workflowId: r.workflowId ?? null,
              runId: r.runId ?? null,
              status: r.status ?? null,
              startedAt: r.startedAt ?? null,
              finishedAt: r.finishedAt ?? null,
              playsAdded: r.playsAdded ?? null,
              error: r.error ?? null,
            }
          : null,
        nextRun: d.nextRun ?? null,
      };
    },
  );
};
export default plugin;
