/** The shape of a route plugin: a Fastify plugin with the TypeBox type provider and the shared context. */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { RouteContext } from '../app.ts';

export type RoutePlugin = FastifyPluginAsync<{ ctx: RouteContext }>;

export function typed(app: FastifyInstance) {
  return app.withTypeProvider<TypeBoxTypeProvider>();
}
