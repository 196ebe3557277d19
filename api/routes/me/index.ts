/** GET /api/v1/me and PATCH /api/v1/me (timezone: rebuilds the user's models; realtime mode). */
import { Type } from 'typebox';
import { Nullable, Obj, errorResponses } from '../../schemas/index.ts';
import { rebuildUserModels } from '../../../warehouse/models.ts';
import { assertTimezone, getUser, setRealtime, setTimezone } from '../../../warehouse/users.ts';
import { sendJson } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Me = Obj({
  id: Type.String(),
  timezone: Type.String({ description: 'IANA name; days and hours are counted in it' }),
  realtime: Type.Boolean({ description: 'sync recent plays as often as the sync allows' }),
  createdAt: Nullable(Type.String()),
  via: Type.Union([Type.Literal('token'), Type.Literal('session')]),
});

const Rebuilt = Obj({ dailyRows: Type.Integer(), snapshotRows: Type.Integer() });

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  const { layout, config } = ctx.deps;
  const me = async (userId: string, via: 'token' | 'session') => {
    const user = await getUser(layout, userId);
    return { id: userId, timezone: user?.timezone ?? config.defaultTimezone, realtime: user?.realtime ?? false, createdAt: user?.createdAt ?? null, via };
  };

  app.get(
    '/me',
    { schema: { summary: 'The authenticated user and their settings', tags: ['me'], response: { 200: Me, ...errorResponses } } },
    async (req, reply) => sendJson(reply, await me(req.auth!.userId, req.auth!.via)),
  );

  app.patch(
    '/me',
    {
      schema: {
        summary: "Change settings: timezone (rebuilds the user's daily rollups and period snapshots in it) and realtime mode",
        tags: ['me'],
        body: Obj(
          {
            timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_+/-]+$', description: 'an IANA name such as Europe/Berlin' })),
            realtime: Type.Optional(Type.Boolean()),
          },
          { minProperties: 1 },
        ),
        response: { 200: Obj({ ...Me.properties, rebuilt: Nullable(Rebuilt) }), ...errorResponses },
      },
    },
    async (req) => {
      const { userId, via } = req.auth!;
      let rebuilt: { dailyRows: number; snapshotRows: number } | null = null;
      if (req.body.timezone !== undefined) {
        const timezone = assertTimezone(req.body.timezone);
        const before = await getUser(layout, userId);
        if (before?.timezone !== timezone) {
          await setTimezone(layout, userId, timezone);
          const r = await rebuildUserModels(
            layout,
            { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp },
            userId,
            { defaultTimezone: config.defaultTimezone },
          );
          rebuilt = { dailyRows: r.dailyRows, snapshotRows: r.snapshotRows };
        }
      }
      if (req.body.realtime !== undefined) {
        await setRealtime(layout, userId, req.body.realtime);
        await ctx.deps.sync?.applyRealtime?.(userId);
      }
      return { ...(await me(userId, via)), rebuilt };
    },
  );
};
export default plugin;
