/**
 * The caller's built dashboards (`<home>/site/<user>/`, Observable Framework output) at `/`, for the
 * authenticated caller only (session cookie or Bearer token). Browsers that are not logged in get a
 * small login page (a form that posts an API token to /api/v1/session).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Obj } from '../../schemas/index.ts';
import { unauthorized } from '../../errors.ts';
import { type RoutePlugin, typed } from '../plugin.ts';
import { webLoginConfigured } from '../auth/index.ts';

/**
 * Observable pages run inline module scripts and styles; everything else comes from this origin,
 * but album art and artists' pictures, which are Spotify's image server's (https://i.scdn.co).
 */
export const SITE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https://i.scdn.co",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function loginPage(opts: { failed?: boolean; spotifyLogin?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rewind: log in</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:10vh auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}
button,a.button{margin-top:.75rem;padding:.5rem 1rem;font:inherit;cursor:pointer}
.error{color:#b00020}.muted{color:#666;font-size:.9rem}
</style></head><body>
<h1>Rewind</h1>
${opts.failed ? '<p class="error" role="alert">That token is not valid (or was revoked).</p>' : ''}
<form method="post" action="/api/v1/session">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required maxlength="200" placeholder="rwd_...">
<button type="submit">Log in</button>
</form>
${opts.spotifyLogin ? '<p><a class="button" href="/auth/login">Log in with Spotify</a></p>' : ''}
<p class="muted">Create a token on the server with <code>${escapeHtml('npx rewind token create --user <id>')}</code>.</p>
</body></html>
`;
}

function wantsHtml(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}

function notBuilt(userId: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rewind</title></head><body style="font:16px system-ui;max-width:36rem;margin:10vh auto">
<h1>No dashboards yet</h1><p>The dashboards of <b>${escapeHtml(userId)}</b> are not built yet. Import your export, then run <code>npx rewind build</code>.</p>
<p>The JSON API is at <a href="/api/docs">/api/docs</a>.</p></body></html>`;
}

async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  const { layout } = ctx.deps;
  const spotifyLogin = () => webLoginConfigured(ctx.deps.config);

  const html = (reply: FastifyReply, code: number, body: string) =>
    reply.code(code).header('content-security-policy', SITE_CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);

  app.get(
    '/login',
    { schema: { hide: true, querystring: Obj({ failed: Type.Optional(Type.String({ maxLength: 8 })) }) } },
    async (req, reply) => {
      if (req.auth) return reply.redirect('/', 303);
      return html(reply, 200, loginPage({ failed: req.query.failed !== undefined, spotifyLogin: spotifyLogin() }));
    },
  );

  app.get(
    '/*',
    { schema: { hide: true, params: Obj({ '*': Type.String({ maxLength: 1024 }) }) } },
    async (req, reply) => {
      const rel = req.params['*'];
      if (rel === 'api' || rel.startsWith('api/')) {
        return reply.code(404).send({ code: 'not_found', message: `no route GET /${rel}` });
      }
      if (!req.auth) {
        if (wantsHtml(req)) return html(reply, 401, loginPage({ spotifyLogin: spotifyLogin() }));
        throw req.authError ?? unauthorized();
      }
      const root = layout.site(req.auth.userId);
      if (!(await isFile(path.join(root, 'index.html')))) return html(reply, 404, notBuilt(req.auth.userId));
      // Clean URLs as Observable Framework makes them: /x -> x.html, /dir/ -> dir/index.html.
      const clean = path.posix.normalize(`/${rel}`);
      if (clean.includes('\0') || clean.split('/').includes('..')) return reply.code(404).send({ code: 'not_found', message: 'no such page' });
      const candidates = clean.endsWith('/') ? [`${clean}index.html`] : path.posix.extname(clean) ? [clean] : [`${clean}.html`, `${clean}/index.html`];
      for (const c of candidates) {
        if (await isFile(path.join(root, c))) {
          reply.header('content-security-policy', SITE_CSP).header('cache-control', 'private, no-cache');
          return reply.sendFile(c.slice(1), root, { cacheControl: false, dotfiles: 'deny' });
        }
      }
      if (wantsHtml(req) && (await isFile(path.join(root, '404.html')))) {
        reply.code(404).header('content-security-policy', SITE_CSP);
        return reply.sendFile('404.html', root, { cacheControl: false });
      }
      return reply.code(404).send({ code: 'not_found', message: `no such page: ${clean}` });
    },
  );
};
export default plugin;
