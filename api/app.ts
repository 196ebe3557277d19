/**
 * The Rewind API as a Fastify application (a plugin tree; `server.ts` only listens).
 *
 *   /health, /ready                 liveness, readiness (public)
 *   /api/docs                       OpenAPI 3 description and its UI, served locally (public)
 *   /api/v1/session                 API token -> session cookie, and logout (public)
 *   /api/v1/...                     everything else: authenticated, scoped to the caller's user
 *   /, /login and the site          the caller's built dashboards (login page when not logged in)
 *
 * `await buildApp(deps)` returns the instance; `app.inject()` works on it without listening.
 */
import { promises as fs } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import { securityHeaders } from './security-headers.ts';
import rateLimit from '@fastify/rate-limit';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { AnalyticsReader, InvalidCursorError, InvalidPeriodError, NotFoundError } from '../warehouse/analytics.ts';
import { InvalidUserIdError } from '../warehouse/layout.ts';
import { InvalidTimezoneError } from '../warehouse/users.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { requireAuth, resolveAuth } from './auth/index.ts';
import { TokenStore, cookieSecret } from './auth/tokens.ts';
import { ErrorBody } from './schemas/index.ts';
import healthRoutes from './routes/health/index.ts';
import sessionRoutes from './routes/session/index.ts';
import analyticsRoutes from './routes/analytics/index.ts';
import topRoutes from './routes/top/index.ts';
import historyRoutes from './routes/history/index.ts';
import rollupRoutes from './routes/rollups/index.ts';
import heatmapRoutes from './routes/heatmap/index.ts';
import streakRoutes from './routes/streaks/index.ts';
import sessionsRoutes from './routes/sessions/index.ts';
import discoveryRoutes from './routes/discovery/index.ts';
import meRoutes from './routes/me/index.ts';
import statusRoutes from './routes/status/index.ts';
import importRoutes from './routes/imports/index.ts';
import syncRoutes from './routes/sync/index.ts';
import exportRoutes from './routes/export/index.ts';
import siteRoutes from './routes/site/index.ts';
import authRoutes from './routes/auth/index.ts';

export type App = FastifyInstance;

/** What every route plugin receives. */
export interface RouteContext {
  deps: AppDeps;
  reader: AnalyticsReader;
  tokens: TokenStore;
}

const API_CSP = {
  defaultSrc: ["'none'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
};

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, layout } = deps;
  await fs.mkdir(layout.home, { recursive: true });
  const secret = await cookieSecret(layout);
  const reader =
    deps.reader ??
    (await AnalyticsReader.open(layout, {
      memoryLimit: config.api.readMemoryLimit,
      threads: config.duckdb.threads,
      tempDirectory: layout.tmp,
      connections: config.api.readConnections,
      cacheEntries: config.api.cacheEntries,
      sessionGapMinutes: config.api.sessionGapMinutes,
    }));
  const tokens = new TokenStore(layout);

  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: config.api.bodyLimitBytes,
    // Values never reach SQL except as bound parameters; unknown properties are refused, not dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  if (!deps.reader) app.addHook('onClose', async () => reader.close());

  app.addSchema(ErrorBody);
  app.setErrorHandler((err, req, reply) => {
    const { status, code, message } = describeError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify({ code, message }));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  // helmet's headers, computed once for every response (a route may replace the CSP).
  const headers = securityHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    // The API is also reached over plain http on localhost: no forced upgrade.
    strictTransportSecurity: false,
  });
  app.addHook('onRequest', (_req, reply, done) => {
    reply.headers(headers);
    done();
  });
  await app.register(cookie, { secret, hook: 'onRequest' });
  app.decorateRequest('auth', null);
  app.decorateRequest('authError', null);
  app.addHook('onRequest', async (req) => resolveAuth(req, tokens));

  await app.register(rateLimit, {
    global: true,
    // After authentication: the key is the caller's token (per token) or, for public routes and
    // anonymous callers, the client's address (per IP).
    hook: 'preHandler',
    keyGenerator: (req) => (req.auth ? `t:${req.auth.tokenId}` : `ip:${req.ip}`),
    max: (_req, key) => (key.startsWith('t:') ? config.api.rateLimitPerToken : config.api.rateLimitPerIp),
    timeWindow: 60_000,
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      code: 'rate_limited',
      message: `too many requests: at most ${ctx.max} a minute; retry in ${Math.ceil(ctx.ttl / 1000)} s`,
    }),
  });
  await app.register(multipart, {
    limits: { fileSize: config.api.uploadLimitBytes, files: 1, fields: 5, fieldSize: 1024, parts: 10, headerPairs: 100 },
  });
  await app.register(fastifyStatic, { root: layout.home, serve: false });
  // Login form posts.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Rewind API',
        version: '1',
        description:
          'Your Spotify listening history, per user. Authenticate with a personal API token ' +
          '(`rewind token create --user <id>`) sent as `Authorization: Bearer <token>`, or with the session ' +
          'cookie POST /api/v1/session gives for a token. Errors are `{ code, message }`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'a personal API token (rwd_...)' },
          session: { type: 'apiKey', in: 'cookie', name: 'rewind_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: false },
  });

  const ctx: RouteContext = { deps, reader, tokens };
  await app.register(healthRoutes, { ctx });
  await app.register(sessionRoutes, { ctx, prefix: '/api/v1' });
  await app.register(
    async (api) => {
      api.addHook('onRequest', async (req) => {
        requireAuth(req);
      });
      // Ajv coerces a query value such as "1e309" to Infinity and then skips the bounds: refuse
      // non-finite numbers before validation.
      api.addHook('preValidation', async (req) => {
        for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
          if (typeof v === 'string' && /^\s*[-+]?(\d|\.\d|Infinity)/i.test(v) && !Number.isFinite(Number(v)) && !Number.isNaN(Number(v))) {
            throw new ApiError(400, 'invalid_request', `querystring/${k} must be a finite number`);
          }
        }
      });
      for (const routes of [
        analyticsRoutes,
        topRoutes,
        historyRoutes,
        rollupRoutes,
        heatmapRoutes,
        streakRoutes,
        sessionsRoutes,
        discoveryRoutes,
        meRoutes,
        statusRoutes,
        importRoutes,
        syncRoutes,
        exportRoutes,
      ]) {
        await api.register(routes, { ctx });
      }
    },
    { prefix: '/api/v1' },
  );
  await app.register(authRoutes, { ctx });
  await app.register(siteRoutes, { ctx });
  return app;
}

interface Described {
  status: number;
  code: string;
  message: string;
}

/** Map any error to a status, a stable code and a message that never includes a stack trace. */
export function describeError(err: unknown): Described {
  if (err instanceof ApiError) return { status: err.statusCode, code: err.code, message: err.message };
  if (err instanceof NotFoundError) return { status: 404, code: 'not_found', message: err.message };
  if (err instanceof InvalidPeriodError) return { status: 400, code: 'invalid_period', message: err.message };
  if (err instanceof InvalidCursorError) return { status: 400, code: 'invalid_cursor', message: err.message };
  if (err instanceof InvalidTimezoneError) return { status: 400, code: 'invalid_timezone', message: err.message };
  if (err instanceof InvalidUserIdError) return { status: 400, code: 'invalid_user', message: err.message };
  const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown; validationContext?: string };
  if (e.validation) return { status: 400, code: 'invalid_request', message: e.message ?? 'invalid request' };
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 429) return { status, code: 'rate_limited', message: e.message ?? 'too many requests' };
  if (status === 413) {
    const upload = e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_PARTS_LIMIT' || e.code === 'FST_FILES_LIMIT';
    return { status, code: upload ? 'upload_too_large' : 'payload_too_large', message: e.message ?? 'request too large' };
  }
  if (status >= 400 && status < 500) {
    // Our own errors may carry a stable snake_case code (e.g. spotify_not_connected); Fastify's are mapped.
    const code =
      e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type'
      : e.code?.startsWith('FST_ERR_CTP') ? 'invalid_body'
      : e.code && /^[a-z][a-z_]*$/.test(e.code) ? e.code
      : 'invalid_request';
    return { status, code, message: e.message ?? 'invalid request' };
  }
  return { status: 500, code: 'internal_error', message: 'internal error (details are in the server log)' };
}
