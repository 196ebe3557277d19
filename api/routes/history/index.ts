/** GET /api/v1/history?before=&limit=: plays newest first, cursor-paginated (stable while imports write). */
import { Type } from 'typebox';
import { Nullable, Obj, Play, errorResponses, tableResponse } from '../../schemas/index.ts';
import { sendTable } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/history',
    {
      schema: {
        summary: 'Plays, newest first. Pass the `next` of a page as `before` for the next page, or an ISO date-time to start before it.',
        tags: ['plays'],
        querystring: Obj({
          before: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_:.+-]+$' })),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
        }),
        response: {
          200: tableResponse(Obj({ plays: Type.Array(Play), next: Nullable(Type.String()) })),
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const page = await ctx.reader.history(req.auth!.userId, req.query.before, req.query.limit);
      if (page.next) reply.header('link', `</api/v1/history?before=${page.next}&limit=${req.query.limit}>; rel="next"`);
      return sendTable(req, reply, page, page.plays);
    },
  );
};
export default plugin;
