/** GET /health (the process answers) and GET /ready (Temporal reachable, warehouse readable). Public. */
import { Type } from 'typebox';
import { Obj } from '../../schemas/index.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Ready = Obj({ ready: Type.Boolean(), temporal: Type.Boolean(), warehouse: Type.Boolean() });

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/health',
    { schema: { summary: 'The process is alive', tags: ['health'], security: [], response: { 200: Obj({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/ready',
    {
      schema: {
        summary: 'Ready to serve: Temporal reachable and the warehouse readable (503 otherwise)',
        tags: ['health'],
        security: [],
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_req, reply) => {
      const [temporal, warehouse] = await Promise.all([
        ctx.deps.temporalReady().catch(() => false),
        ctx.reader.ready(),
      ]);
      const ready = temporal && warehouse;
      return reply.code(ready ? 200 : 503).send({ ready, temporal, warehouse });
    },
  );
};
export default plugin;
