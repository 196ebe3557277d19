/** GET /api/v1/top/{artists|tracks|albums}?period=&limit=&offset=: a page of a period's top list. */
import { Type } from 'typebox';
import { Obj, PeriodBody, PeriodParam, TopAlbum, TopArtist, TopTrack, errorResponses, tableResponse } from '../../schemas/index.ts';
import { parsePeriod, type TopKind } from '../../../warehouse/analytics.ts';
import { notFound } from '../../errors.ts';
import { sendTable } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

/** How deep the top lists of period_snapshots go. */
export const TOP_DEPTH = 50;

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  const items = { artists: TopArtist, tracks: TopTrack, albums: TopAlbum };
  for (const kind of ['artists', 'tracks', 'albums'] as const satisfies TopKind[]) {
    app.get(
      `/top/${kind}`,
      {
        schema: {
          summary: `Top ${kind} of a period, by listens (then listening time). Lists hold the top ${TOP_DEPTH}; total counts them all.`,
          tags: ['analytics'],
          querystring: Obj({
            period: PeriodParam,
            limit: Type.Integer({ minimum: 1, maximum: TOP_DEPTH, default: 10 }),
            offset: Type.Integer({ minimum: 0, maximum: TOP_DEPTH - 1, default: 0 }),
          }),
          response: {
            200: tableResponse(
              Obj({
                period: PeriodBody,
                kind: Type.Literal(kind),
                total: Type.Integer({ description: `unique ${kind} with at least one listen in the period` }),
                offset: Type.Integer(),
                limit: Type.Integer(),
                items: Type.Array(items[kind]),
              }),
            ),
            ...errorResponses,
          },
        },
      },
      async (req, reply) => {
        const page = await ctx.reader.top(req.auth!.userId, parsePeriod(req.query.period), kind, req.query.limit, req.query.offset);
        if (!page) throw notFound('period_not_found', `no listening data for period "${req.query.period}"`);
        return sendTable(req, reply, page, page.items);
      },
    );
  }
};
export default plugin;
