/** GET /api/v1/analytics/overview?period=: the period snapshot (totals, uniques, streak, top lists, distributions). */
import { Type } from 'typebox';
import { Obj, Overview, PeriodParam, errorResponses } from '../../schemas/index.ts';
import { parsePeriod } from '../../../warehouse/analytics.ts';
import { notFound } from '../../errors.ts';
import { sendJson } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/analytics/overview',
    {
      schema: {
        summary: 'The snapshot of a period: totals, unique counts, longest streak, top lists (`top` entries each), hourly and weekday distributions',
        tags: ['analytics'],
        querystring: Obj({
          period: PeriodParam,
          top: Type.Integer({ minimum: 0, maximum: 50, default: 10, description: 'entries of each top list (the marts keep 50)' }),
        }),
        response: { 200: Overview, ...errorResponses },
      },
    },
    async (req, reply) => {
      const snap = await ctx.reader.overviewTop(req.auth!.userId, parsePeriod(req.query.period), req.query.top);
      if (!snap) throw notFound('period_not_found', `no listening data for period "${req.query.period}"`);
      return sendJson(reply, snap);
    },
  );
};
export default plugin;
