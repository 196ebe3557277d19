/**
 * Spotify's Authorization Code flow with PKCE, as small functions that do not depend on the CLI
 * (the API's web login reuses them): the PKCE pair, the authorize URL, the code exchange, the refresh,
 * and the account behind a token (/v1/me). The OAuth mechanics (PKCE, state check, token requests and
 * their error parsing) are oauth4webapi's.
 *
 * Nothing here logs or puts a token in an error message.
 */
import * as oauth from 'oauth4webapi';
import type { Config } from '../config.ts';
import { RateLimited, SpotifyError, SpotifyRequestError, SpotifyUnavailable, retryAfterSeconds, spotifyReason } from './errors.ts';

/**
 * The scopes Rewind asks for: only those of features that exist, so that a user grants no more than
 * Rewind uses.
 * - `user-read-recently-played`: the sync (GET /me/player/recently-played).
 * - `user-read-currently-playing`: the realtime mode (GET /me/player/currently-playing, which sees
 *   skips and plays under 30 s, and local files).
 * - `playlist-read-private`, `playlist-read-collaborative`: the daily playlist snapshot
 *   (GET /me/playlists lists private and collaborative playlists only with them; /playlists/{id}/items).
 * /v1/me needs no scope for the account id and display name, which is all Rewind keeps (no e-mail,
 * country or subscription: no `user-read-private` / `user-read-email`).
 * Users connected before a scope was added must log in again to grant it (the features that need it
 * say so, naming the scope, instead of failing obscurely).
 */
export const SCOPES = ['user-read-recently-played', 'user-read-currently-playing', 'playlist-read-private', 'playlist-read-collaborative'] as const;

/** Does a connection's granted `scope` (space-separated, as the token endpoint returns it) include `wanted`? */
export function hasScope(granted: string, wanted: (typeof SCOPES)[number]): boolean {
  return granted.split(/\s+/).includes(wanted);
}

export interface SpotifyApp {
  clientId: string;
  clientSecret?: string;
  accountsUrl: string;
  apiUrl: string;
  timeoutMs: number;
}

export class SpotifyNotConfigured extends Error {}

/** The Spotify app from the configuration; throws a clear error when SPOTIFY_CLIENT_ID is missing. */
export function spotifyApp(config: Pick<Config, 'spotify'>): SpotifyApp {
  const s = config.spotify;
  if (!s.clientId) {
    throw new SpotifyNotConfigured(
      'SPOTIFY_CLIENT_ID is not set: create an app at https://developer.spotify.com/dashboard, add the redirect URI ' +
        `http://127.0.0.1:${s.redirectPort}/callback, and set SPOTIFY_CLIENT_ID (SPOTIFY_CLIENT_SECRET is optional with PKCE)`,
    );
  }
  return { clientId: s.clientId, clientSecret: s.clientSecret, accountsUrl: s.accountsUrl, apiUrl: s.apiUrl, timeoutMs: s.timeoutMs };
}

/** Spotify refused a code or refresh token (`invalid_grant`): revoked, expired, used, or issued to another app. */
export class InvalidGrant extends SpotifyError {
  constructor(readonly description: string) {
    super(`Spotify refused the grant (invalid_grant: ${description})`, 400);
  }
}

export interface TokenGrant {
  accessToken: string;
  /** Spotify may rotate the refresh token (PKCE refreshes do): store the new one when present. */
  refreshToken?: string;
  expiresInSeconds: number;
  scope: string;
}

function authorizationServer(app: SpotifyApp): oauth.AuthorizationServer {
  return {
    issuer: app.accountsUrl,
    authorization_endpoint: `${app.accountsUrl}/authorize`,
    token_endpoint: `${app.accountsUrl}/api/token`,
  };
}

function oauthClient(app: SpotifyApp): oauth.Client {
  return { client_id: app.clientId };
}

function clientAuth(app: SpotifyApp): oauth.ClientAuth {
  return app.clientSecret ? oauth.ClientSecretBasic(app.clientSecret) : oauth.None();
}

function requestOptions(app: SpotifyApp): oauth.TokenEndpointRequestOptions {
  return {
    signal: () => AbortSignal.timeout(app.timeoutMs),
    // Only for a local accounts service (the fake Spotify in tests and the demo).
    [oauth.allowInsecureRequests]: new URL(app.accountsUrl).protocol === 'http:',
  };
}

export interface PkcePair {
  verifier: string;
  challenge: string;
}

/** A fresh PKCE code verifier and its S256 challenge. */
export async function pkcePair(): Promise<PkcePair> {
  const verifier = oauth.generateRandomCodeVerifier();
  return { verifier, challenge: await oauth.calculatePKCECodeChallenge(verifier) };
}

/** The S256 challenge of a verifier (RFC 7636). */
export function pkceChallenge(verifier: string): Promise<string> {
  return oauth.calculatePKCECodeChallenge(verifier);
}

/** A random `state` for the authorize request. */
export function randomState(): string {
  return oauth.generateRandomState();
}

/** The URL to send the user to. */
export function authorizeUrl(app: SpotifyApp, opts: { redirectUri: string; state: string; codeChallenge: string; scopes?: readonly string[]; showDialog?: boolean }): string {
  const url = new URL(`${app.accountsUrl}/authorize`);
  url.searchParams.set('client_id', app.clientId);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('redirect_uri', opts.redirectUri);
  url.searchParams.set('state', opts.state);
  url.searchParams.set('scope', (opts.scopes ?? SCOPES).join(' '));
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('code_challenge', opts.codeChallenge);
  if (opts.showDialog) url.searchParams.set('show_dialog', 'true');
  return url.toString();
}

/** Turn a token endpoint response into a grant, or a typed error (never echoing the request). */
async function tokenResponse(
  app: SpotifyApp,
  response: Response,
  process: (r: Response) => Promise<oauth.TokenEndpointResponse>,
): Promise<TokenGrant> {
  if (response.status === 429) {
    throw new RateLimited(retryAfterSeconds(response.headers.get('retry-after')), undefined, 'POST /api/token');
  }
  if (response.status >= 500) throw new SpotifyUnavailable(`Spotify accounts service answered ${response.status}`, response.status);
  try {
    const r = await process(response);
    return {
      accessToken: r.access_token,
      refreshToken: r.refresh_token,
      expiresInSeconds: typeof r.expires_in === 'number' ? r.expires_in : 3600,
      scope: typeof r.scope === 'string' ? r.scope : '',
    };
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError) {
      if (e.error === 'invalid_grant') throw new InvalidGrant(e.error_description ?? 'no description');
      if (e.error === 'invalid_client') {
        throw new SpotifyRequestError(`Spotify refused the app (invalid_client: ${e.error_description ?? ''}): check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET`, e.status);
      }
      throw new SpotifyRequestError(`Spotify token request failed (${e.error}${e.error_description ? `: ${e.error_description}` : ''})`, e.status);
    }
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw new SpotifyUnavailable('Spotify accounts service timed out');
    throw new SpotifyRequestError(`unexpected answer from the Spotify accounts service (${response.status}): ${e instanceof Error ? e.message : String(e)}`, response.status);
  }
}

async function send(app: SpotifyApp, request: () => Promise<Response>): Promise<Response> {
  try {
    return await request();
  } catch (e) {
    const name = e instanceof Error ? e.name : '';
    throw new SpotifyUnavailable(`cannot reach the Spotify accounts service at ${app.accountsUrl} (${name || 'network error'})`);
  }
}

/**
 * Exchange the authorization code of a callback for tokens. `callback` is the full callback URL (or
 * its query); its `state` must equal `expectedState`, and an `error` in it (the user refused) is
 * reported as such.
 */
export async function exchangeCode(
  app: SpotifyApp,
  opts: { callback: URL | URLSearchParams; expectedState: string; redirectUri: string; codeVerifier: string },
): Promise<TokenGrant> {
  const as = authorizationServer(app);
  const client = oauthClient(app);
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, opts.callback, opts.expectedState);
  } catch (e) {
    if (e instanceof oauth.AuthorizationResponseError) throw new SpotifyRequestError(`Spotify authorization failed: ${e.error}${e.error_description ? ` (${e.error_description})` : ''}`);
    throw new SpotifyRequestError(`invalid authorization callback: ${e instanceof Error ? e.message : String(e)}`);
  }
  const response = await send(app, () =>
    oauth.authorizationCodeGrantRequest(as, client, clientAuth(app), params, opts.redirectUri, opts.codeVerifier, requestOptions(app)),
  );
  return tokenResponse(app, response, (r) => oauth.processAuthorizationCodeResponse(as, client, r));
}

/** A new access token from a refresh token. `InvalidGrant` when Spotify refuses the refresh token. */
export async function refreshAccessToken(app: SpotifyApp, refreshToken: string): Promise<TokenGrant> {
  const as = authorizationServer(app);
  const client = oauthClient(app);
  const response = await send(app, () => oauth.refreshTokenGrantRequest(as, client, clientAuth(app), refreshToken, requestOptions(app)));
  return tokenResponse(app, response, (r) => oauth.processRefreshTokenResponse(as, client, r));
}

export interface SpotifyAccount {
  id: string;
  displayName: string | null;
}

/** The Spotify account a token belongs to (GET /v1/me). One plain request: used at login only. */
export async function fetchMe(app: SpotifyApp, accessToken: string): Promise<SpotifyAccount> {
  let response: Response;
  try {
    response = await fetch(`${app.apiUrl}/v1/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
      signal: AbortSignal.timeout(app.timeoutMs),
    });
  } catch {
    throw new SpotifyUnavailable(`cannot reach the Spotify Web API at ${app.apiUrl}`);
  }
  const body = (await response.json().catch(() => undefined)) as { id?: unknown; display_name?: unknown } | undefined;
  if (response.status === 429) throw new RateLimited(retryAfterSeconds(response.headers.get('retry-after')), spotifyReason(body), 'GET /v1/me');
  if (response.status >= 500) throw new SpotifyUnavailable(`GET /v1/me answered ${response.status}`, response.status);
  if (!response.ok || typeof body?.id !== 'string') {
    throw new SpotifyRequestError(`GET /v1/me answered ${response.status}${spotifyReason(body) ? `: ${spotifyReason(body)}` : ''}`, response.status);
  }
  return { id: body.id, displayName: typeof body.display_name === 'string' ? body.display_name : null };
}
