/** GET /api/v1/status: plays per source, last import, last sync and its error, gaps, enrichment backlog. */
import { Type } from 'typebox';
import { Nullable, Obj, errorResponses } from '../../schemas/index.ts';
import { listManifests } from '../../../warehouse/manifest.ts';
import { readModelState } from '../../../warehouse/models.ts';
import { enrichmentBacklog } from '../../../warehouse/catalog.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Status = Obj({
  plays: Type.Array(Obj({ source: Type.String(), plays: Type.Integer(), first: Nullable(Type.String()), last: Nullable(Type.String()) })),
  totalPlays: Type.Integer(),
  imports: Type.Integer(),
  lastImport: Nullable(Obj({ importId: Type.String(), committedAt: Type.String(), playsAdded: Type.Integer() })),
  modelsBuiltAt: Nullable(Type.String()),
  sync: Nullable(
    Obj({
      scheduled: Type.Boolean(),
      paused: Type.Boolean(),
      lastRunAt: Nullable(Type.String()),
      lastStatus: Nullable(Type.String()),
      lastError: Nullable(Type.String()),
      nextRun: Nullable(Type.String()),
    }),
  ),
  syncAvailable: Type.Boolean(),
  gaps: Type.Array(Obj({ from: Type.String(), to: Type.String(), days: Type.Integer() }), {
    description: 'stretches of 7 or more local days without any stream, between the first and the last day with data',
  }),
  enrichmentBacklog: Nullable(
    Obj(
      {
        tracksPending: Type.Integer({ description: 'tracks in your plays with no catalog metadata (duration, album art) yet' }),
        artistsPending: Type.Integer({ description: 'artists of your tracks not looked up yet (no genres, no image)' }),
        lastRunAt: Nullable(Type.String({ description: 'when the shared enrichment last ran' })),
        audioFeatures: Type.Union([Type.Literal('on'), Type.Literal('off')], { description: "'off' once Spotify answered 403 (development-mode apps)" }),
      },
      { description: 'the shared catalog enrichment (GET /v1/tracks/{id}, /v1/artists/{id}, at a low rate); null when it cannot be read' },
    ),
  ),
});

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/status',
    { schema: { summary: 'The state of your data: sources, imports, sync, gaps', tags: ['me'], response: { 200: Status, ...errorResponses } } },
    async (req) => {
      const userId = req.auth!.userId;
      const { layout } = ctx.deps;
      const backlog = enrichmentBacklog(layout, { userId, db: { memoryLimit: '256MB', threads: 1, tempDirectory: layout.tmp } }).catch(() => null);
      const [summary, manifests, models, sync] = await Promise.all([
        ctx.reader.playsSummary(userId),
        listManifests(ctx.deps.layout, userId),
        readModelState(ctx.deps.layout),
        ctx.deps.sync ? ctx.deps.sync.describe(userId).catch(() => undefined) : Promise.resolve(undefined),
      ]);
      const last = manifests.at(-1);
      return {
        plays: summary.sources,
        totalPlays: summary.sources.reduce((n, s) => n + s.plays, 0),
        imports: manifests.length,
        lastImport: last ? { importId: last.importId, committedAt: last.committedAt, playsAdded: last.playsAdded } : null,
        modelsBuiltAt: models[userId]?.period_snapshots ?? null,
        sync: sync
          ? {
              scheduled: sync.schedule !== null,
              paused: sync.schedule?.paused ?? false,
              lastRunAt: sync.lastRun?.finishedAt ?? sync.lastRun?.startedAt ?? null,
              lastStatus: sync.lastRun?.status ?? null,
              lastError: sync.lastRun?.error ?? null,
              nextRun: sync.nextRun ?? null,
            }
          : null,
        syncAvailable: ctx.deps.sync !== undefined,
        gaps: summary.gaps,
        enrichmentBacklog: await backlog,
      };
    },
  );
};
export default plugin;
