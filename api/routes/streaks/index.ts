/** GET /api/v1/streaks: runs of consecutive local days with a listen (current, longest, top 10). */
import { Type } from 'typebox';
import { Nullable, Obj, errorResponses, tableResponse } from '../../schemas/index.ts';
import { localToday } from '../../../warehouse/analytics.ts';
import { getUser } from '../../../warehouse/users.ts';
import { sendTable } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Streak = Obj({ start: Type.String(), end: Type.String(), days: Type.Integer() });

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/streaks',
    {
      schema: {
        summary: 'Listening streaks: the current one (ending today or yesterday, local time), the longest, and the top 10',
        tags: ['analytics'],
        querystring: Obj({}),
        response: { 200: tableResponse(Obj({ current: Nullable(Streak), longest: Nullable(Streak), top: Type.Array(Streak) })), ...errorResponses },
      },
    },
    async (req, reply) => {
      const userId = req.auth!.userId;
      const tz = (await getUser(ctx.deps.layout, userId))?.timezone ?? ctx.deps.config.defaultTimezone;
      const streaks = await ctx.reader.streaks(userId, localToday(tz));
      return sendTable(req, reply, streaks, streaks.top);
    },
  );
};
export default plugin;
