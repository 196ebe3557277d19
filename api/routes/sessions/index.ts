/**
 * GET /api/v1/sessions?from=&to=&limit=: listening sessions, newest first. A session is a run of
 * streams each starting less than REWIND_API_SESSION_GAP_MINUTES (default 30) after the previous ones ended.
 */
import { Type } from 'typebox';
import { DATE, Nullable, Obj, errorResponses, tableResponse } from '../../schemas/index.ts';
import { localToday } from '../../../warehouse/analytics.ts';
import { getUser } from '../../../warehouse/users.ts';
import { sendTable } from '../../render.ts';
import { dayRange } from '../rollups/index.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Session = Obj({
  start: Type.String(),
  end: Type.String(),
  streams: Type.Integer(),
  listens: Type.Integer(),
  ms: Type.Integer(),
  top_artist: Nullable(Type.String()),
});

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/sessions',
    {
      schema: {
        summary: `Listening sessions that started on local dates from..to (default: the last 30 days), newest first. A session ends after ${ctx.deps.config.api.sessionGapMinutes} minutes of silence.`,
        tags: ['analytics'],
        querystring: Obj({
          from: Type.Optional(DATE),
          to: Type.Optional(DATE),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
        }),
        response: {
          200: tableResponse(Obj({ from: Type.String(), to: Type.String(), gap_minutes: Type.Integer(), sessions: Type.Array(Session) })),
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const userId = req.auth!.userId;
      const tz = (await getUser(ctx.deps.layout, userId))?.timezone ?? ctx.deps.config.defaultTimezone;
      const range = dayRange(req.query.from, req.query.to, localToday(tz), 30);
      const sessions = await ctx.reader.sessions(userId, tz, range.from, range.to, req.query.limit);
      return sendTable(req, reply, { ...range, gap_minutes: ctx.reader.sessionGapMinutes, sessions }, sessions);
    },
  );
};
export default plugin;
