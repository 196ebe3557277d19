/**
 * What can go wrong talking to Spotify, as types the sync can act on. No message here ever holds a
 * token: messages name the endpoint, the HTTP status and Spotify's own short reason only.
 */

export class SpotifyError extends Error {
  constructor(
    message: string,
    /** HTTP status, when there was a response. */
    readonly status?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The stored refresh token no longer works (`invalid_grant`: revoked, expired, or the app's access
 * was removed), or no token was ever stored. Permanent for this user until they log in again.
 */
export class ReconnectNeeded extends SpotifyError {
  constructor(
    readonly userId: string,
    readonly reason: string,
  ) {
    super(`reconnect needed for user "${userId}": ${reason}; run \`rewind login --user ${userId}\` (or \`rewind connect\`)`);
  }
}

/** Spotify said 429, or the app-wide budget is blocked after an earlier 429: wait `retryAfterSeconds`. */
export class RateLimited extends SpotifyError {
  constructor(
    readonly retryAfterSeconds: number,
    /** `QUOTA_EXCEEDED` (the developer account's quota) when Spotify says so, `local` for our own budget. */
    readonly reason: string | undefined,
    readonly endpoint: string,
  ) {
    super(`Spotify rate limit on ${endpoint}: retry after ${retryAfterSeconds} s${reason ? ` (${reason})` : ''}`, 429);
  }
}

/** 5xx, a timeout or a network failure: try again later, with backoff. */
export class SpotifyUnavailable extends SpotifyError {}

/** 403: the app may not use this endpoint (for example audio-features for development-mode apps). */
export class SpotifyForbidden extends SpotifyError {}

/** A request Spotify refused for another reason (4xx): permanent, a bug or a bad argument. */
export class SpotifyRequestError extends SpotifyError {}

/** Spotify's error bodies: Web API `{ error: { status, message, reason? } }`, accounts `{ error, error_description }`. */
export function spotifyReason(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as { error?: unknown; error_description?: unknown; reason?: unknown };
  if (typeof b.error === 'string') return typeof b.error_description === 'string' ? `${b.error}: ${b.error_description}` : b.error;
  if (b.error && typeof b.error === 'object') {
    const e = b.error as { message?: unknown; reason?: unknown };
    const parts = [typeof e.message === 'string' ? e.message : undefined, typeof e.reason === 'string' ? e.reason : undefined];
    return parts.filter(Boolean).join(' ') || undefined;
  }
  return typeof b.reason === 'string' ? b.reason : undefined;
}

/** Retry-After header to whole seconds (Spotify sends seconds; an HTTP date is tolerated). */
export function retryAfterSeconds(header: string | null, now = Date.now()): number {
  if (!header) return 1;
  const n = Number(header);
  if (Number.isFinite(n) && n >= 0) return Math.max(1, Math.ceil(n));
  const t = Date.parse(header);
  return Number.isFinite(t) ? Math.max(1, Math.ceil((t - now) / 1000)) : 1;
}

/** Remove anything that looks like a bearer or refresh token from a text (defence in depth for logs). */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 8) out = out.split(s).join('[redacted]');
  return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1[redacted]').replace(/((?:access|refresh)_token["'=:\s]+)[A-Za-z0-9._~+/=-]+/g, '$1[redacted]');
}
