/**
 * The Spotify Web API client of one user. Every request:
 * - takes its turn from the app-wide budget (spotify/budget.ts), shared by all users and processes;
 * - carries an access token from the encrypted store, refreshed ahead of expiry (5 minutes before
 *   its 3600 s are up), under a per-user lock so two processes never refresh at once;
 * - on 401 refreshes the token once and tries again;
 * - turns failures into types the sync acts on: `ReconnectNeeded` (invalid_grant, or no tokens),
 *   `RateLimited` (429, carrying Retry-After; the budget is blocked for everyone until then),
 *   `SpotifyUnavailable` (5xx, timeouts, network: retry with backoff), `SpotifyForbidden` (403),
 *   `SpotifyRequestError` (other 4xx).
 * Tokens are never logged nor put in an error message.
 */
import { withLock } from '../warehouse/lock.ts';
import type { Layout } from '../warehouse/layout.ts';
import { InvalidGrant, refreshAccessToken, type SpotifyApp } from './auth.ts';
import type { RateBudget } from './budget.ts';
import {
  RateLimited,
  ReconnectNeeded,
  SpotifyForbidden,
  SpotifyRequestError,
  SpotifyUnavailable,
  retryAfterSeconds,
  spotifyReason,
} from './errors.ts';
import type { TokenStore } from './tokens.ts';
import type { CurrentlyPlaying, PublicUser, RecentlyPlayedPage, SimplifiedArtist, SpotifyImage, Track } from './types.ts';

/** Spotify's offset paging (PagingObject). */
export interface Paging<T> {
  href: string;
  items: T[];
  limit: number;
  next: string | null;
  offset: number;
  previous: string | null;
  total: number;
}

/** The parts of a SimplifiedPlaylistObject the playlist snapshot keeps. */
export interface PlaylistSummary {
  id: string;
  name: string;
  description: string | null;
  snapshot_id: string;
  collaborative: boolean;
  public: boolean | null;
  uri: string;
  owner: { id: string; display_name?: string | null } | null;
  /** `{ href, total }`: `items` since 2026, `tracks` before (deprecated). */
  items?: { href: string; total: number } | null;
  tracks?: { href: string; total: number } | null;
}

/** A PlaylistTrackObject: `item` since 2026, `track` before (deprecated); either may be null (unavailable). */
export interface PlaylistItem {
  added_at: string | null;
  added_by: { id: string } | null;
  is_local: boolean;
  item?: (Partial<Omit<Track, 'type'>> & { type?: string; show?: { name?: string } }) | null;
  track?: PlaylistItem['item'];
}

/** Refresh the access token when less than this is left of it. */
export const REFRESH_AHEAD_MS = 5 * 60_000;

export interface SpotifyClientDeps {
  app: SpotifyApp;
  store: TokenStore;
  budget: RateBudget;
  layout: Layout;
  now?: () => number;
}

export interface ApiResponse<T> {
  status: number;
  body: T | undefined;
}

export class SpotifyClient {
  private readonly now: () => number;
  /** When the last request was sent and its answer received (epoch ms): the realtime mode times its polls with it. */
  lastRequest: { sentAt: number; receivedAt: number } | undefined;

  constructor(
    private readonly deps: SpotifyClientDeps,
    readonly userId: string,
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** A valid access token: the stored one while it has more than REFRESH_AHEAD_MS left, else a fresh one. */
  async accessToken(opts: { force?: boolean } = {}): Promise<string> {
    const { store } = this.deps;
    const connection = await store.connection(this.userId);
    if (!connection) throw new ReconnectNeeded(this.userId, 'no Spotify account is connected');
    if (connection.reconnectNeeded) throw new ReconnectNeeded(this.userId, connection.reconnectNeeded.reason);
    const before = await store.secrets(this.userId);
    if (!before) throw new ReconnectNeeded(this.userId, 'no Spotify account is connected');
    if (!opts.force && before.accessToken && (before.accessTokenExpiresAt ?? 0) - REFRESH_AHEAD_MS > this.now()) return before.accessToken;
    return withLock(this.deps.layout, `spotify-token-${this.userId}`, async () => {
      // Another process may have refreshed while we waited for the lock.
      const current = (await store.secrets(this.userId)) ?? before;
      const fresh = current.accessToken && (current.accessTokenExpiresAt ?? 0) - REFRESH_AHEAD_MS > this.now();
      if (fresh && (!opts.force || current.accessToken !== before.accessToken)) return current.accessToken!;
      let grant;
      try {
        grant = await refreshAccessToken(this.deps.app, current.refreshToken);
      } catch (e) {
        if (e instanceof InvalidGrant) {
          const reason = `Spotify refused the stored refresh token (invalid_grant: ${e.description})`;
          await store.markReconnectNeeded(this.userId, reason);
          throw new ReconnectNeeded(this.userId, reason);
        }
        throw e;
      }
      await store.updateTokens(this.userId, {
        refreshToken: grant.refreshToken ?? current.refreshToken,
        accessToken: grant.accessToken,
        accessTokenExpiresAt: this.now() + grant.expiresInSeconds * 1000,
      });
      return grant.accessToken;
    });
  }

  /** GET a Web API path (`/v1/...`) with query parameters. */
  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<ApiResponse<T>> {
    const url = new URL(`${this.deps.app.apiUrl}${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const endpoint = `GET ${path}`;
    let refreshed = false;
    for (;;) {
      await this.deps.budget.acquire(endpoint);
      const token = await this.accessToken();
      let response: Response;
      const sentAt = this.now();
      try {
        response = await fetch(url, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
          signal: AbortSignal.timeout(this.deps.app.timeoutMs),
        });
      } catch (e) {
        const what = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError') ? `timed out after ${this.deps.app.timeoutMs} ms` : 'network error';
        throw new SpotifyUnavailable(`${endpoint}: ${what}`);
      }
      const text = await response.text().catch(() => '');
      this.lastRequest = { sentAt, receivedAt: this.now() };
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      if (response.status === 401) {
        if (!refreshed) {
          refreshed = true;
          await this.accessToken({ force: true });
          continue;
        }
        throw new SpotifyUnavailable(`${endpoint} answered 401 even with a fresh access token${spotifyReason(body) ? ` (${spotifyReason(body)})` : ''}`, 401);
      }
      if (response.status === 429) {
        const seconds = retryAfterSeconds(response.headers.get('retry-after'));
        const reason = spotifyReason(body);
        await this.deps.budget.block(seconds, reason, endpoint);
        throw new RateLimited(seconds, reason, endpoint);
      }
      if (response.status >= 500) throw new SpotifyUnavailable(`${endpoint} answered ${response.status}${spotifyReason(body) ? ` (${spotifyReason(body)})` : ''}`, response.status);
      if (response.status === 403) throw new SpotifyForbidden(`${endpoint} answered 403${spotifyReason(body) ? ` (${spotifyReason(body)})` : ''}`, 403);
      if (response.status >= 400) throw new SpotifyRequestError(`${endpoint} answered ${response.status}${spotifyReason(body) ? ` (${spotifyReason(body)})` : ''}`, response.status);
      return { status: response.status, body: body as T | undefined };
    }
  }

  /** GET /v1/me/player/recently-played (limit 1-50; `after` or `before` in Unix ms, not both). */
  async recentlyPlayed(opts: { after?: number; before?: number; limit?: number } = {}): Promise<RecentlyPlayedPage> {
    if (opts.after !== undefined && opts.before !== undefined) throw new RangeError('recently-played takes `after` or `before`, not both');
    const r = await this.get<RecentlyPlayedPage>('/v1/me/player/recently-played', { limit: opts.limit ?? 50, after: opts.after, before: opts.before });
    const page = r.body;
    if (!page || !Array.isArray(page.items)) throw new SpotifyUnavailable('GET /v1/me/player/recently-played: the answer has no items');
    return page;
  }

  /** GET /v1/me/player/currently-playing: null when nothing plays (204). */
  async currentlyPlaying(): Promise<CurrentlyPlaying | null> {
    const r = await this.get<CurrentlyPlaying>('/v1/me/player/currently-playing', { additional_types: 'track' });
    return r.status === 204 || !r.body ? null : r.body;
  }

  /** GET /v1/me/playlists (limit 1-50, offset): the playlists the user owns, follows or collaborates on. */
  async myPlaylists(opts: { limit?: number; offset?: number } = {}): Promise<Paging<PlaylistSummary>> {
    const r = await this.get<Paging<PlaylistSummary>>('/v1/me/playlists', { limit: opts.limit ?? 50, offset: opts.offset ?? 0 });
    if (!r.body || !Array.isArray(r.body.items)) throw new SpotifyUnavailable('GET /v1/me/playlists: the answer has no items');
    return r.body;
  }

  /**
   * GET /v1/playlists/{id}/items (the 2026 name of /tracks; limit 1-50, offset). Since 2026 only the
   * playlists the user owns or collaborates on: others answer 403 (SpotifyForbidden).
   */
  async playlistItems(playlistId: string, opts: { limit?: number; offset?: number } = {}): Promise<Paging<PlaylistItem>> {
    if (!/^[A-Za-z0-9]{1,64}$/.test(playlistId)) throw new RangeError(`not a Spotify playlist id: "${playlistId}"`);
    const r = await this.get<Paging<PlaylistItem>>(`/v1/playlists/${playlistId}/items`, { limit: opts.limit ?? 50, offset: opts.offset ?? 0, additional_types: 'track,episode' });
    if (!r.body || !Array.isArray(r.body.items)) throw new SpotifyUnavailable(`GET /v1/playlists/${playlistId}/items: the answer has no items`);
    return r.body;
  }

  /**
   * The single-item catalog lookups (development-mode apps lost the batch `?ids=` forms in 2026):
   * GET /v1/tracks/{id}, /v1/artists/{id}, /v1/audio-features/{id}. An unknown id is a
   * SpotifyRequestError with status 404; audio features answer 403 (SpotifyForbidden) to new and
   * development-mode apps since November 2024.
   */
  async track(id: string): Promise<Track> {
    return this.lookup<Track>('tracks', id);
  }

  async artist(id: string): Promise<SimplifiedArtist & { genres?: string[]; images?: SpotifyImage[] }> {
    return this.lookup('artists', id);
  }

  async audioFeatures(id: string): Promise<Record<string, unknown>> {
    return this.lookup('audio-features', id);
  }

  private async lookup<T>(what: 'tracks' | 'artists' | 'audio-features', id: string): Promise<T> {
    if (!/^[A-Za-z0-9]{22}$/.test(id)) throw new RangeError(`not a Spotify id: "${id}"`);
    const r = await this.get<T>(`/v1/${what}/${id}`);
    if (!r.body || typeof r.body !== 'object') throw new SpotifyUnavailable(`GET /v1/${what}/{id}: empty answer`);
    return r.body;
  }

  /** GET /v1/me. */
  async me(): Promise<PublicUser> {
    const r = await this.get<PublicUser>('/v1/me');
    if (!r.body) throw new SpotifyUnavailable('GET /v1/me: empty answer');
    return r.body;
  }
}
