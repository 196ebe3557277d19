/**
 * A fake Spotify for tests and the demo: one local HTTP server that plays both the accounts service
 * and the Web API, with the real endpoints' paths, parameters, response shapes, cursors, status codes
 * and error bodies (checked against Spotify's OpenAPI description and recorded real responses by
 * test/spotify/fake.test.ts).
 *
 *   GET  /authorize                          auto-approves as the "logged-in" account, redirects with code+state
 *   POST /api/token                          authorization_code (PKCE or client secret), refresh_token
 *   GET  /v1/me                              the account (public fields)
 *   GET  /v1/me/player/recently-played       limit 1-50, after/before (Unix ms), only the last 50 plays reachable
 *   GET  /v1/me/player/currently-playing     200 with the playing track (or local file), or 204
 *   GET  /v1/me/playlists                    limit 1-50, offset: the account's playlists (owned, followed, collaborative)
 *   GET  /v1/playlists/{id}/items            limit 1-50, offset; 403 unless the account owns the playlist or collaborates
 *   GET  /v1/tracks/{id}, /v1/artists/{id}   single-item lookups (2026 development-mode shapes); 404 for an unknown
 *                                            id, 400 for a malformed one. The batch lookups (`/v1/tracks?ids=`) are
 *                                            not served: Spotify removed them for development-mode apps in 2026.
 *   GET  /v1/audio-features/{id}             403 (new and development-mode apps, since Nov 2024) unless
 *                                            `audioFeatures: 'allowed'`
 *
 * Rate limit: a rolling 30 s window per app (client id) over Web API requests; beyond it, 429 with
 * Retry-After. Faults can be injected (429 with any Retry-After and an optional QUOTA_EXCEEDED reason,
 * 500/502/503, 401, 403, invalid_grant, invalid_client), refresh tokens revoked, access tokens expired.
 * A listener can "keep playing": a new play every `everyMs`, tracks from a seeded sequence, so the
 * same options give the same plays at the same times. With `skipRate` / `localRate`, some of those
 * slots open with a skip (a different track heard for 4-25 s) or a local file before the slot's main
 * track: currently-playing shows them (with a progress that advances in real time), recently-played
 * never does, as on the real service. `playStreams` scripts an exact sequence of streams instead
 * (tracks, skips, local files, back to back), and `streams()` returns the ground truth: every stream
 * that ended, with how long it was really played.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CurrentlyPlaying, PlayContext, PlayHistory, PublicUser, RecentlyPlayedPage } from '../types.ts';
import { Catalogue, hash2 } from './catalogue.ts';

export const FAKE_CLIENT_ID = 'rewind-fake-client';
const WINDOW_MS = 30_000;
/** Only this many plays are ever reachable through recently-played. */
export const REACHABLE_PLAYS = 50;

export type FakeEndpoint =
  | 'token'
  | 'authorize'
  | 'me'
  | 'recently-played'
  | 'currently-playing'
  | 'playlists'
  | 'playlist-items'
  | 'track'
  | 'artist'
  | 'audio-features'
  | 'api';

/** Spotify recently-played lists a track only after about this much listening. */
export const RECENTLY_PLAYED_MIN_MS = 30_000;

/** One stream of the fake listener: what really played, for how long (ground truth for tests). */
export interface FakeStream {
  /** Unix ms. */
  startedAt: number;
  endedAt: number;
  msPlayed: number;
  /** A catalogue track, or a local file (catalogue.localFiles). */
  trackIndex?: number;
  localIndex?: number;
  uri: string;
  /** Does recently-played list it (a non-local track heard for 30 s or more; a listener's slot track)? */
  inRecentlyPlayed: boolean;
}

/** A playlist of the fake: items are catalogue tracks or local files. */
export interface FakePlaylistItem {
  trackIndex?: number;
  localIndex?: number;
  /** ISO time; default: the playlist's creation. */
  addedAt?: string;
  addedBy?: string;
}

export interface FakePlaylist {
  id: string;
  name: string;
  description: string;
  ownerId: string;
  public: boolean;
  collaborative: boolean;
  snapshotId: string;
  items: FakePlaylistItem[];
}

export interface FakeFault {
  /** Which endpoint fails ('api' = any Web API endpoint). */
  endpoint: FakeEndpoint;
  /** HTTP status to answer (429, 500, 502, 503, 401, 403), or an OAuth error of the token endpoint. */
  status?: number;
  oauthError?: 'invalid_grant' | 'invalid_client';
  retryAfterSeconds?: number;
  /** Put `"reason": "QUOTA_EXCEEDED"` in a 429's error body. */
  quotaExceeded?: boolean;
  /** Only for this account's requests (API endpoints). */
  accountId?: string;
  /** How many requests fail (default 1). */
  times?: number;
}

export interface FakeSpotifyOptions {
  /** 0 (default) = a free port. */
  port?: number;
  host?: string;
  /** Registered apps; default one public (PKCE) client FAKE_CLIENT_ID. */
  clients?: { clientId: string; clientSecret?: string }[];
  /** Web API requests per rolling 30 s window per app before 429 (default 600). */
  requestsPerWindow?: number;
  /** Retry-After of a 429 from the rolling window; default: until the window has room. */
  windowRetryAfterSeconds?: number;
  accessTokenSeconds?: number;
  /** Refresh with a public (PKCE) client returns a new refresh token; 'revoke-old' also invalidates the old one. */
  refreshTokenRotation?: 'keep-old' | 'revoke-old';
  /** Catalogue seed. */
  seed?: number;
  /** GET /v1/audio-features/{id}: 'forbidden' (default: 403, as for development-mode apps since Nov 2024) or 'allowed'. */
  audioFeatures?: 'forbidden' | 'allowed';
  now?: () => number;
}

export interface FakePlay {
  /** Unix ms. */
  playedAt: number;
  trackIndex: number;
  context: { type: string; uri: string } | null;
}

export interface FakeRequest {
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  accountId?: string;
  grantType?: string;
}

interface Account {
  id: string;
  displayName: string;
  plays: FakePlay[];
  listener?: { seed: number; startAt: number; everyMs: number; materialized: number; skipRate: number; localRate: number };
  script?: { streams: FakeStream[]; materialized: number };
  /** Playlist ids in the order /me/playlists lists them (owned, followed or collaborative). */
  playlists: string[];
  nowPlaying?: { trackIndex: number; startedAt: number; isPlaying: boolean; context: PlayContext | null } | null;
}

interface Grant {
  accountId: string;
  clientId: string;
  scope: string;
  revoked?: boolean;
}

interface AccessToken extends Grant {
  expiresAt: number;
}

interface AuthCode extends Grant {
  redirectUri: string;
  challenge?: string;
  expiresAt: number;
  used?: boolean;
}

export interface FakeSpotify {
  /** Base URL of both the accounts service and the Web API (SPOTIFY_ACCOUNTS_URL = SPOTIFY_API_URL = url). */
  url: string;
  clientId: string;
  catalogue: Catalogue;
  stop(): Promise<void>;
  addAccount(opts: { id: string; displayName?: string }): void;
  /** Who approves at /authorize (default: the first account added). */
  setAuthorizingAccount(accountId: string | null): void;
  /** Add plays (`playedAt` Unix ms or ISO); tracks by catalogue index (default: a seeded pick). */
  addPlays(accountId: string, plays: { playedAt: number | string; trackIndex?: number; context?: { type: string; uri: string } | null }[]): FakePlay[];
  /** `count` plays ending at `endAt`, `everyMs` apart (deterministic from `seed`). */
  generatePlays(accountId: string, opts: { count: number; endAt: number; everyMs?: number; seed?: number }): FakePlay[];
  /**
   * From `startAt` on, a new play every `everyMs` (deterministic from `seed`), materialized as time
   * passes. `skipRate` / `localRate` (0-1, default 0): the share of slots that open with a skip or a
   * local file before their main track (which recently-played still lists at the slot's end).
   */
  keepPlaying(accountId: string, opts: { seed?: number; startAt?: number; everyMs?: number; skipRate?: number; localRate?: number }): void;
  /**
   * Script the listener: these streams, back to back from `startAt` (default now), each heard for
   * `msPlayed` from its start; then nothing plays. Non-local streams of 30 s or more reach
   * recently-played when they end. Returns the streams with their times.
   */
  playStreams(accountId: string, streams: { trackIndex?: number; localIndex?: number; msPlayed: number }[], opts?: { startAt?: number }): FakeStream[];
  /** Every stream that has ended (scripted and the listener's, skips and local files included), oldest first. */
  streams(accountId: string): FakeStream[];
  /** Add a playlist to the account's list (owned by `ownerId`, default the account). Returns its id. */
  addPlaylist(accountId: string, p: { name: string; description?: string; ownerId?: string; public?: boolean; collaborative?: boolean; items: FakePlaylistItem[] }): FakePlaylist;
  /** Replace a playlist's items (its snapshot_id changes, as on the real service). */
  setPlaylistItems(playlistId: string, items: FakePlaylistItem[]): FakePlaylist;
  /** Rename a playlist (its snapshot_id changes). */
  renamePlaylist(playlistId: string, name: string): FakePlaylist;
  playlist(playlistId: string): FakePlaylist;
  stopPlaying(accountId: string): void;
  /** What currently-playing answers (null = 204). */
  setNowPlaying(accountId: string, np: { trackIndex: number; progressMs?: number; isPlaying?: boolean; context?: { type: string; uri: string } | null } | null): void;
  /** Every play of the account so far (oldest first), including unreachable ones. */
  plays(accountId: string): FakePlay[];
  /** Does GET /v1/audio-features/{id} answer (as for an app with extended access) or 403 (default)? */
  setAudioFeatures(mode: 'forbidden' | 'allowed'): void;
  /** Make the next matching request(s) fail. */
  fail(fault: FakeFault): void;
  clearFaults(): void;
  /** Revoke the account's refresh tokens: refreshing answers invalid_grant. */
  revoke(accountId: string): void;
  /** Expire the account's access tokens: the next API request answers 401. */
  expireAccessTokens(accountId: string): void;
  /** A refresh token as if the account had logged in (for `rewind connect` without a browser). */
  issueRefreshToken(accountId: string, opts?: { clientId?: string; scope?: string }): string;
  /** Every request served, in order. */
  requests: FakeRequest[];
  /** Every access and refresh token the fake ever issued (for tests that look for leaks). */
  issuedTokens(): string[];
}

const DEFAULT_SCOPE = 'user-read-recently-played user-read-currently-playing playlist-read-private playlist-read-collaborative';

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` random base62 characters (Spotify ids are 22 of them). */
function base62(n: number): string {
  return [...randomBytes(n)].map((b) => B62[b % 62]).join('');
}

/** Spotify's snapshot ids are opaque base64-ish strings that change with every edit. */
function snapshotId(): string {
  return `AAAA${randomBytes(24).toString('base64url')}`;
}

function token(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('base64url')}`;
}

function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

export async function startFakeSpotify(opts: FakeSpotifyOptions = {}): Promise<FakeSpotify> {
  const now = opts.now ?? Date.now;
  const clients = new Map((opts.clients ?? [{ clientId: FAKE_CLIENT_ID }]).map((c) => [c.clientId, c]));
  const catalogue = new Catalogue(opts.seed ?? 7);
  const accounts = new Map<string, Account>();
  const refreshTokens = new Map<string, Grant>();
  const accessTokens = new Map<string, AccessToken>();
  const codes = new Map<string, AuthCode>();
  const windows = new Map<string, number[]>();
  const playlists = new Map<string, FakePlaylist>();
  let playlistSerial = 0;
  let faults: (FakeFault & { left: number })[] = [];
  let authorizing: string | null | undefined;
  let audioFeatures = opts.audioFeatures ?? 'forbidden';
  const requests: FakeRequest[] = [];
  const requestsPerWindow = opts.requestsPerWindow ?? 600;
  const accessSeconds = opts.accessTokenSeconds ?? 3600;
  let url = '';

  const account = (id: string): Account => {
    const a = accounts.get(id);
    if (!a) throw new Error(`fake Spotify: no account "${id}"`);
    return a;
  };

  const trackUri = (st: { trackIndex?: number; localIndex?: number }): string =>
    st.localIndex !== undefined ? catalogue.localTrackObject(st.localIndex).uri : `spotify:track:${catalogue.tracks[st.trackIndex!]!.id}`;

  /** The streams of a listener's slot k (1-based): an optional skip or local file, then the slot's main track. */
  const slotStreams = (l: NonNullable<Account['listener']>, k: number): FakeStream[] => {
    const start = l.startAt + (k - 1) * l.everyMs;
    const end = start + l.everyMs;
    const main = Math.floor(hash2(l.seed, k) * catalogue.tracks.length);
    const r = hash2(l.seed ^ 0x5eed, k);
    const size = hash2(l.seed ^ 0xbeef, k);
    let prefix: { trackIndex?: number; localIndex?: number; msPlayed: number } | undefined;
    if (r < l.skipRate) {
      prefix = { trackIndex: (main + 1 + Math.floor(size * 97)) % catalogue.tracks.length, msPlayed: Math.round(Math.min(4_000 + size * 21_000, l.everyMs / 3)) };
    } else if (r < l.skipRate + l.localRate) {
      prefix = { localIndex: Math.floor(size * catalogue.localFiles.length), msPlayed: Math.round(l.everyMs * (0.2 + 0.3 * size)) };
    }
    const out: FakeStream[] = [];
    let t = start;
    if (prefix) {
      out.push({ ...prefix, startedAt: t, endedAt: t + prefix.msPlayed, uri: trackUri(prefix), inRecentlyPlayed: false });
      t += prefix.msPlayed;
    }
    out.push({ trackIndex: main, startedAt: t, endedAt: end, msPlayed: end - t, uri: trackUri({ trackIndex: main }), inRecentlyPlayed: true });
    return out;
  };

  /** Bring a "keeps playing" listener's plays (and a script's) up to now. */
  const materialize = (a: Account): void => {
    const sc = a.script;
    if (sc) {
      while (sc.materialized < sc.streams.length && sc.streams[sc.materialized]!.endedAt <= now()) {
        const st = sc.streams[sc.materialized]!;
        sc.materialized += 1;
        if (st.inRecentlyPlayed) a.plays.push({ playedAt: st.endedAt, trackIndex: st.trackIndex!, context: null });
      }
    }
    const l = a.listener;
    if (!l) return;
    const t = now();
    while (l.startAt + (l.materialized + 1) * l.everyMs <= t) {
      l.materialized += 1;
      a.plays.push({
        playedAt: l.startAt + l.materialized * l.everyMs,
        trackIndex: Math.floor(hash2(l.seed, l.materialized) * catalogue.tracks.length),
        context: null,
      });
    }
  };

  const sortedPlays = (a: Account): FakePlay[] => {
    materialize(a);
    a.plays.sort((x, y) => x.playedAt - y.playedAt);
    return a.plays;
  };

  const contextObject = (c: { type: string; uri: string }): PlayContext => {
    const id = c.uri.split(':').pop();
    return { external_urls: { spotify: `https://open.spotify.com/${c.type}/${id}` }, href: `${url}/v1/${c.type}s/${id}`, type: c.type, uri: c.uri };
  };

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number => {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
    } else {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    }
    return status;
  };
  const apiError = (res: http.ServerResponse, status: number, message: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    send(res, status, { error: { status, message, ...extra } }, headers);
  const oauthError = (res: http.ServerResponse, status: number, error: string, description: string) =>
    send(res, status, { error, error_description: description });

  const takeFault = (endpoint: FakeEndpoint, accountId?: string): (FakeFault & { left: number }) | undefined => {
    const f = faults.find(
      (x) => x.left > 0 && (x.endpoint === endpoint || (x.endpoint === 'api' && endpoint !== 'token' && endpoint !== 'authorize')) && (!x.accountId || x.accountId === accountId),
    );
    if (f) f.left -= 1;
    faults = faults.filter((x) => x.left > 0);
    return f;
  };

  const faultResponse = (res: http.ServerResponse, f: FakeFault, endpoint: FakeEndpoint): number => {
    if (f.oauthError === 'invalid_grant') return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
    if (f.oauthError === 'invalid_client') return oauthError(res, 400, 'invalid_client', 'Invalid client');
    const status = f.status ?? 500;
    if (status === 429) {
      const extra: Record<string, string> = f.quotaExceeded ? { reason: 'QUOTA_EXCEEDED' } : {};
      return apiError(res, 429, 'API rate limit exceeded', extra, { 'retry-after': String(f.retryAfterSeconds ?? 1) });
    }
    if (endpoint === 'token') return oauthError(res, status, 'server_error', 'Server error');
    const message = { 401: 'The access token expired', 403: 'Forbidden', 500: 'Server error.', 502: 'Bad gateway.', 503: 'Service unavailable' }[status as 500] ?? 'Error';
    return apiError(res, status, message);
  };

  // ---- accounts service ----

  const readForm = async (req: http.IncomingMessage): Promise<URLSearchParams> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  };

  const authorize = (req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): number => {
    const client = clients.get(q.get('client_id') ?? '');
    if (!client) return send(res, 400, { error: 'invalid_client', error_description: 'Invalid client' });
    const redirectUri = q.get('redirect_uri');
    if (!redirectUri) return send(res, 400, { error: 'invalid_request', error_description: 'Missing required parameter: redirect_uri' });
    const target = new URL(redirectUri);
    const state = q.get('state');
    const redirect = (params: Record<string, string>) => {
      for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
      if (state !== null) target.searchParams.set('state', state);
      return send(res, 302, undefined, { location: target.toString() });
    };
    if (q.get('response_type') !== 'code') return redirect({ error: 'unsupported_response_type' });
    const challenge = q.get('code_challenge') ?? undefined;
    if (challenge && q.get('code_challenge_method') !== 'S256') return redirect({ error: 'invalid_request' });
    if (!client.clientSecret && !challenge) return redirect({ error: 'invalid_request' });
    const f = takeFault('authorize');
    if (f) return redirect({ error: 'access_denied' });
    const who = authorizing === undefined ? [...accounts.keys()][0] : authorizing;
    if (!who) return redirect({ error: 'access_denied' });
    const code = token('AQ');
    codes.set(code, { accountId: who, clientId: client.clientId, scope: q.get('scope') ?? '', redirectUri, challenge, expiresAt: now() + 10 * 60_000 });
    return redirect({ code });
  };

  const issue = (grant: Grant, withRefresh: string | undefined) => {
    const access = token('BQ');
    accessTokens.set(access, { ...grant, expiresAt: now() + accessSeconds * 1000 });
    const body: Record<string, string | number> = { access_token: access, token_type: 'Bearer', expires_in: accessSeconds, scope: grant.scope };
    if (withRefresh) body.refresh_token = withRefresh;
    return body;
  };

  const tokenEndpoint = async (req: http.IncomingMessage, res: http.ServerResponse, log: FakeRequest): Promise<number> => {
    if (!/application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      return oauthError(res, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = await readForm(req);
    log.grantType = form.get('grant_type') ?? undefined;
    let clientId = form.get('client_id');
    let secret: string | undefined;
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic) {
      const [id, s] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(id ?? '');
      secret = decodeURIComponent(s ?? '');
    }
    const client = clients.get(clientId ?? '');
    if (!client || (client.clientSecret && client.clientSecret !== secret) || (!client.clientSecret && secret)) {
      return oauthError(res, 400, 'invalid_client', client ? 'Invalid client secret' : 'Invalid client');
    }
    const f = takeFault('token');
    if (f) return faultResponse(res, f, 'token');
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      if (!code || code.used || code.expiresAt < now() || code.clientId !== client.clientId) return oauthError(res, 400, 'invalid_grant', 'Invalid authorization code');
      if (code.redirectUri !== form.get('redirect_uri')) return oauthError(res, 400, 'invalid_grant', 'Invalid redirect URI');
      if (code.challenge) {
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) return oauthError(res, 400, 'invalid_grant', 'code_verifier was incorrect');
      }
      code.used = true;
      const refresh = token('AQ');
      const grant: Grant = { accountId: code.accountId, clientId: client.clientId, scope: code.scope };
      refreshTokens.set(refresh, grant);
      return send(res, 200, issue(grant, refresh));
    }
    if (grantType === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const grant = refreshTokens.get(presented);
      if (!grant || grant.clientId !== client.clientId) return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
      if (grant.revoked) return oauthError(res, 400, 'invalid_grant', 'Refresh token revoked');
      log.accountId = grant.accountId;
      // A public (PKCE) client gets a new refresh token with each refresh; a confidential one does not.
      const live: Grant = { accountId: grant.accountId, clientId: grant.clientId, scope: grant.scope };
      let next: string | undefined;
      if (!client.clientSecret) {
        next = token('AQ');
        refreshTokens.set(next, { ...live });
        if (opts.refreshTokenRotation === 'revoke-old') grant.revoked = true;
      }
      return send(res, 200, issue(live, next));
    }
    return oauthError(res, 400, 'unsupported_grant_type', `grant_type must be client_credentials, authorization_code or refresh_token`);
  };

  // ---- Web API ----

  const recentlyPlayed = (res: http.ServerResponse, a: Account, q: URLSearchParams, href: string): number => {
    const limit = q.has('limit') ? Number(q.get('limit')) : 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 50) return apiError(res, 400, 'Invalid limit');
    const after = q.get('after');
    const before = q.get('before');
    if (after !== null && before !== null) return apiError(res, 400, 'Only one of after or before may be specified');
    for (const c of [after, before]) if (c !== null && !/^\d+$/.test(c)) return apiError(res, 400, 'Invalid cursor');
    const reachable = sortedPlays(a).slice(-REACHABLE_PLAYS); // oldest first
    let page: FakePlay[];
    let more: boolean;
    if (after !== null) {
      // The `limit` plays right after the cursor (paging forward in time); shown newest first.
      const newer = reachable.filter((p) => p.playedAt > Number(after));
      page = newer.slice(0, limit);
      more = newer.length > limit;
    } else {
      const older = before !== null ? reachable.filter((p) => p.playedAt < Number(before)) : reachable;
      page = older.slice(-limit);
      more = older.length > limit;
    }
    const items: PlayHistory[] = [...page].reverse().map((p) => ({
      track: catalogue.trackObject(p.trackIndex, url),
      played_at: isoMs(p.playedAt),
      context: p.context ? contextObject(p.context) : null,
    }));
    const newest = page.at(-1);
    const oldest = page[0];
    const base = `${url}/v1/me/player/recently-played`;
    const body: RecentlyPlayedPage = {
      items,
      next: !more || !newest || !oldest ? null : after !== null ? `${base}?after=${newest.playedAt}&limit=${limit}` : `${base}?before=${oldest.playedAt}&limit=${limit}`,
      cursors: newest && oldest ? { after: String(newest.playedAt), before: String(oldest.playedAt) } : null,
      limit,
      href,
    };
    return send(res, 200, body);
  };

  /** The stream in progress now, if any: explicit setNowPlaying first, then a script, then the listener. */
  const playingNow = (a: Account): { track: ReturnType<Catalogue['trackObject']>; startedAt: number; isPlaying: boolean; context: PlayContext | null } | null => {
    const np = a.nowPlaying;
    if (np !== undefined) return np ? { track: catalogue.trackObject(np.trackIndex, url), startedAt: np.startedAt, isPlaying: np.isPlaying, context: np.context } : null;
    const t = now();
    materialize(a);
    const candidates: FakeStream[] = [];
    if (a.script) candidates.push(...a.script.streams.slice(a.script.materialized, a.script.materialized + 1));
    if (a.listener) candidates.push(...slotStreams(a.listener, a.listener.materialized + 1));
    const st = candidates.find((x) => x.startedAt <= t && t < x.endedAt);
    if (!st) return null;
    const track = st.localIndex !== undefined ? catalogue.localTrackObject(st.localIndex) : catalogue.trackObject(st.trackIndex!, url);
    return { track, startedAt: st.startedAt, isPlaying: true, context: null };
  };

  const currentlyPlaying = (res: http.ServerResponse, a: Account): number => {
    const np = playingNow(a);
    if (!np) return send(res, 204, undefined);
    const track = np.track;
    const body: CurrentlyPlaying = {
      is_playing: np.isPlaying,
      timestamp: now(),
      context: np.context,
      progress_ms: Math.min(track.duration_ms, Math.max(0, now() - np.startedAt)),
      item: track,
      currently_playing_type: 'track',
      actions: { disallows: np.isPlaying ? { resuming: true } : { pausing: true } },
    };
    return send(res, 200, body);
  };

  // ---- playlists ----

  const pagingParams = (q: URLSearchParams, res: http.ServerResponse): { limit: number; offset: number } | number => {
    const limit = q.has('limit') ? Number(q.get('limit')) : 20;
    const offset = q.has('offset') ? Number(q.get('offset')) : 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 50) return apiError(res, 400, 'Invalid limit');
    if (!Number.isInteger(offset) || offset < 0 || offset > 100_000) return apiError(res, 400, 'Invalid offset');
    return { limit, offset };
  };

  const page = <T>(base: string, all: T[], limit: number, offset: number, extra = '') => ({
    href: `${base}?offset=${offset}&limit=${limit}${extra}`,
    items: all.slice(offset, offset + limit),
    limit,
    next: offset + limit < all.length ? `${base}?offset=${offset + limit}&limit=${limit}${extra}` : null,
    offset,
    previous: offset > 0 ? `${base}?offset=${Math.max(0, offset - limit)}&limit=${limit}${extra}` : null,
    total: all.length,
  });

  const ownerObject = (ownerId: string) => {
    const owner = accounts.get(ownerId);
    return {
      display_name: owner?.displayName ?? ownerId,
      external_urls: { spotify: `https://open.spotify.com/user/${ownerId}` },
      href: `${url}/v1/users/${ownerId}`,
      id: ownerId,
      type: 'user' as const,
      uri: `spotify:user:${ownerId}`,
    };
  };

  /** A SimplifiedPlaylistObject: `items` (the 2026 name) and the deprecated `tracks`, both {href, total}. */
  const playlistObject = (p: FakePlaylist) => {
    const ref = { href: `${url}/v1/playlists/${p.id}/items`, total: p.items.length };
    return {
      collaborative: p.collaborative,
      description: p.description,
      external_urls: { spotify: `https://open.spotify.com/playlist/${p.id}` },
      href: `${url}/v1/playlists/${p.id}`,
      id: p.id,
      images: p.items.length ? [{ height: 640, url: `https://mosaic.scdn.co/640/${p.id.toLowerCase()}`, width: 640 }] : [],
      items: ref,
      name: p.name,
      owner: ownerObject(p.ownerId),
      public: p.public,
      snapshot_id: p.snapshotId,
      tracks: ref,
      type: 'playlist',
      uri: `spotify:playlist:${p.id}`,
    };
  };

  const playlistItemObject = (p: FakePlaylist, it: FakePlaylistItem, createdAt: string) => {
    const track = it.localIndex !== undefined ? catalogue.localTrackObject(it.localIndex) : catalogue.trackObject(it.trackIndex!, url);
    const addedBy = it.addedBy ?? p.ownerId;
    return {
      added_at: it.addedAt ?? createdAt,
      added_by: { external_urls: { spotify: `https://open.spotify.com/user/${addedBy}` }, href: `${url}/v1/users/${addedBy}`, id: addedBy, type: 'user', uri: `spotify:user:${addedBy}` },
      is_local: it.localIndex !== undefined,
      item: track,
      track,
    };
  };

  const myPlaylists = (res: http.ServerResponse, a: Account, q: URLSearchParams): number => {
    const p = pagingParams(q, res);
    if (typeof p === 'number') return p;
    const all = a.playlists.map((id) => playlists.get(id)!).map(playlistObject);
    return send(res, 200, page(`${url}/v1/me/playlists`, all, p.limit, p.offset));
  };

  const playlistItems = (res: http.ServerResponse, a: Account, id: string, q: URLSearchParams): number => {
    const pl = playlists.get(id);
    if (!pl) return apiError(res, 404, 'Resource not found');
    // Since 2026: only the owner's and collaborators' playlists' items (the description's note on this endpoint).
    if (pl.ownerId !== a.id && !(pl.collaborative && a.playlists.includes(pl.id))) return apiError(res, 403, 'Forbidden');
    const p = pagingParams(q, res);
    if (typeof p === 'number') return p;
    const createdAt = new Date(Date.UTC(2024, 0, 1) + (Number.parseInt(pl.id.slice(-4), 36) % 700) * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const all = pl.items.map((it) => playlistItemObject(pl, it, createdAt));
    return send(res, 200, page(`${url}/v1/playlists/${pl.id}/items`, all, p.limit, p.offset));
  };

  // ---- catalog lookups (single items) ----

  /** Spotify's ids are 22 base62 characters: anything else is 400 "invalid id", an unknown one 404. */
  const lookup = (res: http.ServerResponse, endpoint: 'track' | 'artist' | 'audio-features', id: string): number => {
    if (endpoint === 'audio-features' && audioFeatures === 'forbidden') return apiError(res, 403, 'Forbidden');
    if (!/^[A-Za-z0-9]{22}$/.test(id)) return apiError(res, 400, 'invalid id');
    if (endpoint === 'artist') {
      const i = catalogue.artistIndex(id);
      return i === undefined ? apiError(res, 404, 'non existing id') : send(res, 200, catalogue.artistFullObject(i, url));
    }
    const i = catalogue.trackIndex(id);
    if (i === undefined) return apiError(res, 404, 'non existing id');
    return send(res, 200, endpoint === 'track' ? catalogue.trackObject(i, url) : catalogue.audioFeaturesObject(i, url));
  };

  const api = (req: http.IncomingMessage, res: http.ServerResponse, u: URL, log: FakeRequest): number => {
    const itemsOf = /^\/v1\/playlists\/([A-Za-z0-9]+)\/items$/.exec(u.pathname)?.[1];
    const single = /^\/v1\/(tracks|artists|audio-features)\/([^/]+)$/.exec(u.pathname);
    const endpoint: FakeEndpoint | undefined = single
      ? ({ tracks: 'track', artists: 'artist', 'audio-features': 'audio-features' } as const)[single[1] as 'tracks' | 'artists' | 'audio-features']
      : u.pathname === '/v1/me'
        ? 'me'
        : u.pathname === '/v1/me/player/recently-played'
          ? 'recently-played'
          : u.pathname === '/v1/me/player/currently-playing'
            ? 'currently-playing'
            : u.pathname === '/v1/me/playlists'
              ? 'playlists'
              : itemsOf !== undefined
                ? 'playlist-items'
                : undefined;
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!auth) return apiError(res, 401, 'No token provided');
    const at = accessTokens.get(auth[1]!);
    if (!at) return apiError(res, 401, 'Invalid access token');
    log.accountId = at.accountId;
    if (at.expiresAt <= now() || at.revoked) return apiError(res, 401, 'The access token expired');
    // The app-wide rolling window (all users of the app count together).
    const win = (windows.get(at.clientId) ?? []).filter((t) => t > now() - WINDOW_MS);
    if (win.length >= requestsPerWindow) {
      windows.set(at.clientId, win);
      const retry = opts.windowRetryAfterSeconds ?? Math.max(1, Math.ceil((win[0]! + WINDOW_MS - now()) / 1000));
      return apiError(res, 429, 'API rate limit exceeded', {}, { 'retry-after': String(retry) });
    }
    win.push(now());
    windows.set(at.clientId, win);
    const f = endpoint ? takeFault(endpoint, at.accountId) : undefined;
    if (f) return faultResponse(res, f, endpoint!);
    if (!endpoint) return apiError(res, 404, 'Service not found');
    if (req.method !== 'GET') return apiError(res, 405, 'Method not allowed');
    if (endpoint === 'track' || endpoint === 'artist' || endpoint === 'audio-features') return lookup(res, endpoint, decodeURIComponent(single![2]!));
    const a = account(at.accountId);
    const scopes = at.scope.split(' ');
    if (endpoint === 'me') {
      const body: PublicUser = {
        display_name: a.displayName,
        external_urls: { spotify: `https://open.spotify.com/user/${a.id}` },
        href: `${url}/v1/users/${a.id}`,
        id: a.id,
        images: [],
        type: 'user',
        uri: `spotify:user:${a.id}`,
      };
      return send(res, 200, body);
    }
    if (endpoint === 'recently-played') {
      if (!scopes.includes('user-read-recently-played')) return apiError(res, 403, 'Insufficient client scope');
      return recentlyPlayed(res, a, u.searchParams, u.toString().replace(/^http:\/\/[^/]+/, url));
    }
    if (endpoint === 'playlists' || endpoint === 'playlist-items') {
      if (!scopes.includes('playlist-read-private')) return apiError(res, 403, 'Insufficient client scope');
      return endpoint === 'playlists' ? myPlaylists(res, a, u.searchParams) : playlistItems(res, a, itemsOf!, u.searchParams);
    }
    if (!scopes.includes('user-read-currently-playing') && !scopes.includes('user-read-playback-state')) return apiError(res, 403, 'Insufficient client scope');
    return currentlyPlaying(res, a);
  };

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://fake.invalid');
    const log: FakeRequest = { at: now(), method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), status: 0 };
    requests.push(log);
    const handle = async (): Promise<number> => {
      if (u.pathname === '/authorize' && req.method === 'GET') return authorize(req, res, u.searchParams);
      if (u.pathname === '/api/token' && req.method === 'POST') return tokenEndpoint(req, res, log);
      if (u.pathname.startsWith('/v1/')) return api(req, res, u, log);
      return apiError(res, 404, 'Service not found');
    };
    handle().then(
      (status) => (log.status = status),
      (e) => {
        log.status = 500;
        if (!res.headersSent) apiError(res, 500, `fake Spotify: ${e instanceof Error ? e.message : String(e)}`);
        else res.end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  url = `http://${opts.host ?? '127.0.0.1'}:${port}`;

  const pickTrack = (seed: number, k: number) => Math.floor(hash2(seed, k) * catalogue.tracks.length);

  return {
    url,
    clientId: [...clients.keys()][0]!,
    catalogue,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    addAccount({ id, displayName }) {
      if (!accounts.has(id)) accounts.set(id, { id, displayName: displayName ?? id, plays: [], playlists: [] });
    },
    setAuthorizingAccount(accountId) {
      authorizing = accountId;
    },
    addPlays(accountId, plays) {
      const a = account(accountId);
      const added = plays.map((p, i) => ({
        playedAt: typeof p.playedAt === 'number' ? p.playedAt : Date.parse(p.playedAt),
        trackIndex: p.trackIndex ?? pickTrack(a.plays.length + i, 1),
        context: p.context ?? null,
      }));
      a.plays.push(...added);
      return added;
    },
    generatePlays(accountId, { count, endAt, everyMs = 200_000, seed = 1 }) {
      const a = account(accountId);
      const added: FakePlay[] = [];
      for (let k = 0; k < count; k++) added.push({ playedAt: endAt - (count - 1 - k) * everyMs, trackIndex: pickTrack(seed, k), context: null });
      a.plays.push(...added);
      return added;
    },
    keepPlaying(accountId, { seed = 1, startAt = now(), everyMs = 60_000, skipRate = 0, localRate = 0 }) {
      account(accountId).listener = { seed, startAt, everyMs, materialized: 0, skipRate, localRate };
    },
    playStreams(accountId, list, o = {}) {
      const a = account(accountId);
      materialize(a);
      let t = o.startAt ?? now();
      const streams = list.map((x) => {
        if ((x.trackIndex === undefined) === (x.localIndex === undefined)) throw new Error('fake Spotify: a stream is a trackIndex or a localIndex');
        const st: FakeStream = {
          ...x,
          startedAt: t,
          endedAt: t + x.msPlayed,
          uri: trackUri(x),
          inRecentlyPlayed: x.localIndex === undefined && x.msPlayed >= RECENTLY_PLAYED_MIN_MS,
        };
        t = st.endedAt;
        return st;
      });
      a.script = { streams, materialized: 0 };
      return streams.map((x) => ({ ...x }));
    },
    streams(accountId) {
      const a = account(accountId);
      materialize(a);
      const t = now();
      const out: FakeStream[] = [];
      if (a.script) out.push(...a.script.streams.filter((x) => x.endedAt <= t));
      const l = a.listener;
      if (l) for (let k = 1; k <= l.materialized + 1; k++) out.push(...slotStreams(l, k).filter((x) => x.endedAt <= t));
      return out.sort((x, y) => x.endedAt - y.endedAt).map((x) => ({ ...x }));
    },
    addPlaylist(accountId, p) {
      const a = account(accountId);
      playlistSerial += 1;
      const id = `${String(playlistSerial).padStart(4, '0')}${base62(18)}`;
      const pl: FakePlaylist = {
        id,
        name: p.name,
        description: p.description ?? '',
        ownerId: p.ownerId ?? a.id,
        public: p.public ?? false,
        collaborative: p.collaborative ?? false,
        snapshotId: snapshotId(),
        items: [...p.items],
      };
      playlists.set(id, pl);
      a.playlists.push(id);
      return { ...pl, items: [...pl.items] };
    },
    setPlaylistItems(playlistId, items) {
      const pl = playlists.get(playlistId);
      if (!pl) throw new Error(`fake Spotify: no playlist "${playlistId}"`);
      pl.items = [...items];
      pl.snapshotId = snapshotId();
      return { ...pl, items: [...pl.items] };
    },
    renamePlaylist(playlistId, name) {
      const pl = playlists.get(playlistId);
      if (!pl) throw new Error(`fake Spotify: no playlist "${playlistId}"`);
      pl.name = name;
      pl.snapshotId = snapshotId();
      return { ...pl, items: [...pl.items] };
    },
    playlist(playlistId) {
      const pl = playlists.get(playlistId);
      if (!pl) throw new Error(`fake Spotify: no playlist "${playlistId}"`);
      return { ...pl, items: [...pl.items] };
    },
    stopPlaying(accountId) {
      const a = account(accountId);
      materialize(a);
      a.listener = undefined;
    },
    setNowPlaying(accountId, np) {
      account(accountId).nowPlaying = np
        ? {
            trackIndex: np.trackIndex,
            startedAt: now() - (np.progressMs ?? 0),
            isPlaying: np.isPlaying ?? true,
            context: np.context ? contextObject(np.context) : null,
          }
        : null;
    },
    plays(accountId) {
      return [...sortedPlays(account(accountId))];
    },
    setAudioFeatures(mode) {
      audioFeatures = mode;
    },
    fail(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    revoke(accountId) {
      for (const g of refreshTokens.values()) if (g.accountId === accountId) g.revoked = true;
    },
    expireAccessTokens(accountId) {
      for (const t of accessTokens.values()) if (t.accountId === accountId) t.expiresAt = 0;
    },
    issuedTokens() {
      return [...accessTokens.keys(), ...refreshTokens.keys(), ...codes.keys()];
    },
    issueRefreshToken(accountId, o = {}) {
      account(accountId);
      const refresh = token('AQ');
      refreshTokens.set(refresh, { accountId, clientId: o.clientId ?? [...clients.keys()][0]!, scope: o.scope ?? DEFAULT_SCOPE });
      return refresh;
    },
  };
}
