/**
 * POST /api/v1/session turns a valid API token into a session cookie (JSON body `{ token }`, or the
 * login page's form); DELETE /api/v1/session ends it. Public, with a strict per-IP rate limit.
 */
import { Type } from 'typebox';
import { Obj, errorResponses } from '../../schemas/index.ts';
import { endSession, startSession } from '../../auth/index.ts';
import { unauthorized } from '../../errors.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Session = Obj({ userId: Type.String(), expiresAt: Type.String() });

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.post(
    '/session',
    {
      config: { rateLimit: { max: 20, timeWindow: 60_000, keyGenerator: (req: { ip: string }) => `login:${req.ip}` } },
      schema: {
        summary: 'Log in: exchange an API token for a session cookie',
        tags: ['session'],
        security: [],
        body: Obj({ token: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: { 200: Session, 303: Type.Null(), ...errorResponses },
      },
    },
    async (req, reply) => {
      const record = ctx.tokens.verify(req.body.token);
      const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ?? false;
      if (!record) {
        if (form) return reply.code(303).header('location', '/login?failed=1').send(null);
        throw unauthorized('invalid or revoked API token');
      }
      const expiresAt = startSession(req, reply, record.userId, record.id);
      if (form) return reply.code(303).header('location', '/').send(null);
      return { userId: record.userId, expiresAt };
    },
  );
  app.delete(
    '/session',
    {
      schema: { summary: 'Log out: clear the session cookie', tags: ['session'], security: [], response: { 204: Type.Null(), ...errorResponses } },
    },
    async (req, reply) => {
      endSession(req, reply);
      return reply.code(204).send(null);
    },
  );
};
export default plugin;
