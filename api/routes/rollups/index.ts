/** GET /api/v1/rollups/daily?from=&to=: per local day totals (default: the last 30 days). */
import { Type } from 'typebox';
import { DATE, Obj, Totals, errorResponses, tableResponse } from '../../schemas/index.ts';
import { localToday } from '../../../warehouse/analytics.ts';
import { getUser } from '../../../warehouse/users.ts';
import { badRequest } from '../../errors.ts';
import { sendTable } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Day = Obj({ date: Type.String(), ...Totals });

export function dayRange(from: string | undefined, to: string | undefined, today: string, defaultDays: number): { from: string; to: string } {
  const end = to ?? today;
  const start = from ?? new Date(Date.parse(`${end}T00:00:00Z`) - (defaultDays - 1) * 86_400_000).toISOString().slice(0, 10);
  for (const [name, d] of [['from', start], ['to', end]] as const) {
    if (Number.isNaN(Date.parse(`${d}T00:00:00Z`)) || new Date(`${d}T00:00:00Z`).toISOString().slice(0, 10) !== d) {
      throw badRequest('invalid_date', `${name}: "${d}" is not a calendar date`);
    }
  }
  if (start > end) throw badRequest('invalid_range', `from (${start}) is after to (${end})`);
  return { from: start, to: end };
}

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/rollups/daily',
    {
      schema: {
        summary: 'Totals per local day (days without streams are left out). Default: the last 30 days.',
        tags: ['analytics'],
        querystring: Obj({ from: Type.Optional(DATE), to: Type.Optional(DATE) }),
        response: { 200: tableResponse(Obj({ from: Type.String(), to: Type.String(), days: Type.Array(Day) })), ...errorResponses },
      },
    },
    async (req, reply) => {
      const userId = req.auth!.userId;
      const tz = (await getUser(ctx.deps.layout, userId))?.timezone ?? ctx.deps.config.defaultTimezone;
      const range = dayRange(req.query.from, req.query.to, localToday(tz), 30);
      const days = await ctx.reader.daily(userId, range.from, range.to);
      return sendTable(req, reply, { ...range, days }, days);
    },
  );
};
export default plugin;
