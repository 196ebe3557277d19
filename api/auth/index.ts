/**
 * Who is calling: a personal API token (`Authorization: Bearer rwd_...`) or a session cookie (signed,
 * httpOnly, SameSite=Lax, Secure behind https) that POST /api/v1/session hands out for a valid token.
 * A session remembers the token it came from: revoking the token ends its sessions too.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, unauthorized } from '../errors.ts';
import type { TokenStore } from './tokens.ts';

export interface Auth {
  userId: string;
  via: 'token' | 'session';
  /** The API token the caller holds (directly or behind its session). */
  tokenId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | null;
    authError: ApiError | null;
  }
}

export const SESSION_COOKIE = 'rewind_session';
export const SESSION_DAYS = 30;

/** Resolve the caller from the request (sets `req.auth`, or `req.authError` for a bad credential). */
export function resolveAuth(req: FastifyRequest, tokens: TokenStore): void {
  req.auth = null;
  req.authError = null;
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const record = m ? tokens.verify(m[1]!) : undefined;
    if (!record) {
      req.authError = unauthorized('invalid or revoked API token');
      return;
    }
    req.auth = { userId: record.userId, via: 'token', tokenId: record.id };
    return;
  }
  const raw = req.cookies?.[SESSION_COOKIE];
  if (raw === undefined) return;
  const unsigned = req.unsignCookie(raw);
  const m = unsigned.valid && unsigned.value ? /^v1\.([A-Za-z0-9_.-]+)\.([0-9a-f]+)\.(\d+)$/.exec(unsigned.value) : null;
  const record = m ? tokens.byTokenId(m[2]!) : undefined;
  if (!m || !record || record.userId !== m[1] || Number(m[3]) * 1000 < Date.now()) {
    req.authError = unauthorized('session expired or invalid: log in again');
    return;
  }
  req.auth = { userId: record.userId, via: 'session', tokenId: record.id };
}

/** Is the request on https (directly, or behind a proxy that says so)? */
export function isHttps(req: FastifyRequest): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = Array.isArray(forwarded) ? forwarded[0] : forwarded;
  return req.protocol === 'https' || proto?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** Set the session cookie for a token's owner. */
export function startSession(req: FastifyRequest, reply: FastifyReply, userId: string, tokenId: string): string {
  const expires = new Date(Date.now() + SESSION_DAYS * 86_400_000);
  reply.setCookie(SESSION_COOKIE, `v1.${userId}.${tokenId}.${Math.floor(expires.getTime() / 1000)}`, {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: isHttps(req),
    path: '/',
    expires,
  });
  return expires.toISOString();
}

export function endSession(req: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: isHttps(req) });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The guard of every private route: a caller must be authenticated; a cookie-authenticated request
 * that changes something must come from this site (SameSite=Lax already keeps cross-site POSTs
 * without the cookie; this also refuses a foreign Origin).
 */
export function requireAuth(req: FastifyRequest): Auth {
  if (req.authError) throw req.authError;
  if (!req.auth) throw unauthorized();
  if (req.auth.via === 'session' && !SAFE_METHODS.has(req.method)) {
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || (origin !== undefined && originHost(origin) !== req.headers.host)) {
      throw new ApiError(403, 'cross_site_request', 'a cross-site request may not change anything with a session cookie');
    }
  }
  return req.auth;
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
