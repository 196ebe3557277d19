/** GET /api/v1/discovery?period=&limit=: artists and tracks first heard (first listen) in the period. */
import { Type } from 'typebox';
import { Obj, PeriodBody, PeriodParam, errorResponses } from '../../schemas/index.ts';
import { parsePeriod } from '../../../warehouse/analytics.ts';
import { notFound } from '../../errors.ts';
import { sendJson } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/discovery',
    {
      schema: {
        summary: 'Artists and tracks whose first listen falls in the period, with their listens in it (most played first)',
        tags: ['analytics'],
        querystring: Obj({ period: PeriodParam, limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }),
        response: {
          200: Obj({
            period: PeriodBody,
            artists: Type.Array(Obj({ artist_name: Type.String(), first_heard: Type.String(), plays: Type.Integer(), ms: Type.Integer() })),
            tracks: Type.Array(
              Obj({ track_name: Type.String(), artist_name: Type.String(), first_heard: Type.String(), plays: Type.Integer(), ms: Type.Integer() }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const found = await ctx.reader.discovery(req.auth!.userId, parsePeriod(req.query.period), req.query.limit);
      if (!found) throw notFound('period_not_found', `no listening data for period "${req.query.period}"`);
      return sendJson(reply, found);
    },
  );
};
export default plugin;
