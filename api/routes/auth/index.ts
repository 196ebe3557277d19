/**
 * The Spotify web login (Authorization Code with PKCE, spotify/auth.ts):
 *
 *   GET /auth/login     -> Spotify's authorize page (PKCE verifier and state in a signed, httpOnly,
 *                          10-minute cookie scoped to /auth)
 *   GET /auth/callback  -> checks the state, exchanges the code, asks Spotify whose account it is,
 *                          and logs in the Rewind user connected to that account (its tokens
 *                          refreshed, so the sync goes on with them): a session cookie, then `/`.
 *
 * Only Spotify accounts already connected to a Rewind user (`rewind login --user <id>`) may log in: a
 * self-hosted server does not hand out accounts to whoever has a Spotify login. The redirect URI is
 * REWIND_API_PUBLIC_URL + /auth/callback (or the request's own origin), and must be registered for
 * the Spotify app.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { authorizeUrl, exchangeCode, fetchMe, pkcePair, randomState, spotifyApp } from '../../../spotify/auth.ts';
import { connectWithGrant, rateBudget, type UserWithSpotify } from '../../../spotify/connect.ts';
import { listUsers } from '../../../warehouse/users.ts';
import { createToken, listTokens } from '../../auth/tokens.ts';
import { isHttps, startSession } from '../../auth/index.ts';
import { Obj } from '../../schemas/index.ts';
import { SITE_CSP } from '../site/index.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const OAUTH_COOKIE = 'rewind_oauth';
const WEB_LOGIN_TOKEN = 'spotify-web-login';

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rewind: ${title}</title></head>` +
  `<body style="font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:10vh auto;padding:0 1rem"><h1>${title}</h1>${body}` +
  `<p><a href="/login">Back to the login page</a></p></body></html>`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Is the Spotify web login configured (SPOTIFY_CLIENT_ID set)? */
export function webLoginConfigured(config: { spotify?: { clientId?: string } }): boolean {
  return Boolean(config.spotify?.clientId);
}

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  const { config, layout } = ctx.deps;

  const origin = (req: FastifyRequest) => config.api.publicUrl ?? `${isHttps(req) ? 'https' : 'http'}://${req.headers.host}`;
  const html = (reply: FastifyReply, code: number, title: string, body: string) =>
    reply.code(code).header('content-security-policy', SITE_CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page(title, body));

  app.get(
    '/auth/login',
    { schema: { summary: 'Log in with Spotify (redirects to Spotify)', tags: ['session'], security: [], querystring: Obj({}) } },
    async (req, reply) => {
      if (!webLoginConfigured(config)) return html(reply, 503, 'Spotify login unavailable', '<p>The server has no Spotify app configured (SPOTIFY_CLIENT_ID).</p>');
      const spotify = spotifyApp(config);
      const { verifier, challenge } = await pkcePair();
      const state = randomState();
      reply.setCookie(OAUTH_COOKIE, `${state}.${verifier}`, {
        signed: true,
        httpOnly: true,
        sameSite: 'lax',
        secure: isHttps(req),
        path: '/auth',
        maxAge: 600,
      });
      return reply.redirect(authorizeUrl(spotify, { redirectUri: `${origin(req)}/auth/callback`, state, codeChallenge: challenge }), 302);
    },
  );

  app.get(
    '/auth/callback',
    {
      schema: {
        summary: 'Where Spotify sends the browser back after the login',
        tags: ['session'],
        security: [],
        querystring: Obj({
          code: Type.Optional(Type.String({ maxLength: 2048 })),
          state: Type.Optional(Type.String({ maxLength: 512 })),
          error: Type.Optional(Type.String({ maxLength: 256 })),
          error_description: Type.Optional(Type.String({ maxLength: 1024 })),
          iss: Type.Optional(Type.String({ maxLength: 512 })),
        }),
      },
    },
    async (req, reply) => {
      if (!webLoginConfigured(config)) return html(reply, 503, 'Spotify login unavailable', '<p>The server has no Spotify app configured.</p>');
      const raw = req.cookies[OAUTH_COOKIE];
      const unsigned = raw ? req.unsignCookie(raw) : undefined;
      reply.clearCookie(OAUTH_COOKIE, { path: '/auth' });
      const m = unsigned?.valid && unsigned.value ? /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(unsigned.value) : null;
      if (!m) return html(reply, 400, 'Login expired', '<p>The login took too long or did not start here. Please try again.</p>');
      if (req.query.error) return html(reply, 403, 'Login refused', `<p>Spotify says: ${escapeHtml(req.query.error)}.</p>`);
      const spotify = spotifyApp(config);
      const redirectUri = `${origin(req)}/auth/callback`;
      let accountId: string;
      let grant;
      try {
        grant = await exchangeCode(spotify, {
          callback: new URLSearchParams(req.query as Record<string, string>),
          expectedState: m[1]!,
          redirectUri,
          codeVerifier: m[2]!,
        });
        await rateBudget(config, layout).acquire('GET /v1/me');
        accountId = (await fetchMe(spotify, grant.accessToken)).id;
      } catch (e) {
        req.log.warn({ reason: e instanceof Error ? e.message : String(e) }, 'spotify web login failed');
        return html(reply, 502, 'Login failed', `<p>${escapeHtml(e instanceof Error ? e.message : 'Spotify did not complete the login')}</p>`);
      }
      const users = (await listUsers(layout)) as UserWithSpotify[];
      const user = users.find((u) => u.spotify?.accountId === accountId);
      if (!user) {
        return html(
          reply,
          403,
          'Not connected',
          `<p>The Spotify account <b>${escapeHtml(accountId)}</b> is not connected to a Rewind user on this server. ` +
            'Connect it first on the server: <code>npx rewind login --user &lt;id&gt;</code>.</p>',
        );
      }
      // Fresh tokens for the sync, then a session bound to the user's web-login token record (so
      // `rewind token revoke` ends web sessions too).
      await connectWithGrant(config, layout, user.id, grant);
      const existing = (await listTokens(layout, user.id)).find((t) => t.name === WEB_LOGIN_TOKEN);
      const tokenId = existing?.id ?? (await createToken(layout, user.id, WEB_LOGIN_TOKEN)).record.id;
      startSession(req, reply, user.id, tokenId);
      return reply.redirect('/', 303);
    },
  );
};
export default plugin;
