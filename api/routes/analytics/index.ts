/** GET /api/v1/analytics/overview?period=: the period snapshot (totals, uniques, streak, top lists, distributions). */
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
        summary: 'The snapshot of a period: totals, unique counts, longest streak, top 50 lists, hourly and weekday distributions',
        tags: ['analytics'],
        querystring: Obj({ period: PeriodParam }),
        response: { 200: Overview, ...errorResponses },
      },
    },
    async (req, reply) => {
      const snap = await ctx.reader.overview(req.auth!.userId, parsePeriod(req.query.period));
      if (!snap) throw notFound('period_not_found', `no listening data for period "${req.query.period}"`);
      return sendJson(reply, snap);
    },
  );
};
export default plugin;
