/** GET /api/v1/heatmap?period=: listens per local weekday x hour (7 x 24 cells, the user's timezone). */
import { Type } from 'typebox';
import { Obj, PeriodBody, PeriodParam, errorResponses, tableResponse } from '../../schemas/index.ts';
import { parsePeriod } from '../../../warehouse/analytics.ts';
import { notFound } from '../../errors.ts';
import { sendTable } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Cell = Obj({ iso_weekday: Type.Integer({ description: '1 = Monday .. 7 = Sunday' }), hour: Type.Integer(), listens: Type.Integer(), ms: Type.Integer() });

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/heatmap',
    {
      schema: {
        summary: 'Listens and track time per local weekday and hour over a period (always 168 cells)',
        tags: ['analytics'],
        querystring: Obj({ period: PeriodParam }),
        response: { 200: tableResponse(Obj({ period: PeriodBody, cells: Type.Array(Cell) })), ...errorResponses },
      },
    },
    async (req, reply) => {
      const map = await ctx.reader.heatmap(req.auth!.userId, parsePeriod(req.query.period));
      if (!map) throw notFound('period_not_found', `no listening data for period "${req.query.period}"`);
      return sendTable(req, reply, map, map.cells);
    },
  );
};
export default plugin;
