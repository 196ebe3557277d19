/**
 * `rewind login --user <id>`: Authorization Code with PKCE through a one-shot callback server on
 * http://127.0.0.1:<SPOTIFY_REDIRECT_PORT>/callback (the redirect URI registered for the app), and
 * `rewind connect --user <id> --refresh-token-file F` for headless servers. Both store the tokens
 * encrypted, the Spotify account id in the user's record, and create (or resume) the user's sync
 * schedule. Nothing prints a token.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorizeUrl, exchangeCode, pkcePair, randomState, spotifyApp, SCOPES } from '../spotify/auth.ts';
import { connectWithGrant, connectWithRefreshToken } from '../spotify/connect.ts';
import type { Connection } from '../spotify/tokens.ts';
import { assertUserId } from '../warehouse/layout.ts';
import { connectTemporal, type Context } from './context.ts';
import { ensureSyncSchedule } from './sync.ts';

export class LoginError extends Error {}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:sans-serif;max-width:40em;margin:4em auto"><h1>${title}</h1><p>${text}</p></body>`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * Log a user in: listen on 127.0.0.1, hand the authorize URL to `onUrl` (printed for the user to
 * open), wait for Spotify's redirect, exchange the code (PKCE), store the connection.
 */
export async function runLogin(
  ctx: Context,
  opts: { userId: string; port?: number; timeoutMs?: number; onUrl: (url: string) => void },
): Promise<Connection> {
  const userId = assertUserId(opts.userId);
  const app = spotifyApp(ctx.config);
  const { verifier, challenge } = await pkcePair();
  const state = randomState();
  let redirectUri = '';
  let settle!: { resolve: (c: Connection) => void; reject: (e: Error) => void };
  const done = new Promise<Connection>((resolve, reject) => (settle = { resolve, reject }));
  let handled = false;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (url.pathname !== '/callback' || handled) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    handled = true;
    exchangeCode(app, { callback: url, expectedState: state, redirectUri, codeVerifier: verifier })
      .then((grant) => connectWithGrant(ctx.config, ctx.layout, userId, grant))
      .then(
        (connection) => {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE('Connected', `Rewind user <b>${escapeHtml(userId)}</b> is now connected to Spotify. You can close this tab.`));
          settle.resolve(connection);
        },
        (e: Error) => {
          res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE('Not connected', escapeHtml(e.message)));
          settle.reject(new LoginError(e.message));
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new LoginError(e.code === 'EADDRINUSE' ? `port ${opts.port ?? ctx.config.spotify.redirectPort} is in use: set SPOTIFY_REDIRECT_PORT (and register that redirect URI)` : e.message)),
    );
    server.listen(opts.port ?? ctx.config.spotify.redirectPort, '127.0.0.1', () => resolve());
  });
  redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  const timer = setTimeout(() => settle.reject(new LoginError('no answer from Spotify within the time allowed; run rewind login again')), opts.timeoutMs ?? 5 * 60_000);
  try {
    opts.onUrl(authorizeUrl(app, { redirectUri, state, codeChallenge: challenge }));
    return await done;
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  }
}

/** `rewind connect`: a refresh token from a file (one line), as on a headless server. */
export async function runConnect(ctx: Context, opts: { userId: string; refreshTokenFile: string }): Promise<Connection> {
  const userId = assertUserId(opts.userId);
  let text: string;
  try {
    const st = await fs.stat(opts.refreshTokenFile);
    if (st.mode & 0o077) ctx.log(`warning: ${opts.refreshTokenFile} is readable by other users; delete it once connected`);
    text = await fs.readFile(opts.refreshTokenFile, 'utf8');
  } catch (e) {
    throw new LoginError(`cannot read ${opts.refreshTokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return connectWithRefreshToken(ctx.config, ctx.layout, userId, text);
}

/** After connecting: create or resume the schedule (best effort: a later `rewind sync` does it too). */
export async function scheduleAfterConnect(ctx: Context, userId: string): Promise<string> {
  let session;
  try {
    session = await connectTemporal(ctx);
    const s = await ensureSyncSchedule(ctx, session.client, userId, { unpause: true });
    return `Sync scheduled every ${ctx.config.syncIntervalSeconds} s (schedule sync:${userId}${s.created ? ', created' : ''}); a worker must run for it (rewind worker, or npm start).`;
  } catch (e) {
    return `The sync schedule could not be created now (${e instanceof Error ? e.message : String(e)}); \`rewind sync --user ${userId}\` creates it.`;
  } finally {
    await session?.close();
  }
}

export function describeConnection(c: Connection): string {
  const scopes = c.scope.split(' ').filter(Boolean);
  const missing = SCOPES.filter((s) => !scopes.includes(s));
  return `Connected "${c.userId}" to Spotify account ${c.accountId}${c.displayName ? ` (${c.displayName})` : ''}.${missing.length ? ` Missing scopes: ${missing.join(', ')}.` : ''}`;
}

/** `rewind login --user <id>`. */
export async function loginCommand(ctx: Context, opts: { user: string; port?: number }): Promise<void> {
  const connection = await runLogin(ctx, {
    userId: opts.user,
    port: opts.port,
    onUrl: (url) => process.stderr.write(`Open this address in a browser to connect "${opts.user}" to Spotify (waiting up to 5 minutes):\n\n  ${url}\n\n`),
  });
  process.stdout.write(`${describeConnection(connection)}\n${await scheduleAfterConnect(ctx, connection.userId)}\n`);
}

/** `rewind connect --user <id> --refresh-token-file F`. */
export async function connectCommand(ctx: Context, opts: { user: string; refreshTokenFile: string }): Promise<void> {
  const connection = await runConnect(ctx, { userId: opts.user, refreshTokenFile: opts.refreshTokenFile });
  process.stdout.write(`${describeConnection(connection)}\n${await scheduleAfterConnect(ctx, connection.userId)}\n`);
}
