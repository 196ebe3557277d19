/**
 * Authorization Code with PKCE against the fake accounts service: the challenge (RFC 7636 vector),
 * the authorize URL, the code exchange, refreshes (rotated tokens), and each error as its type.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../config.ts';
import {
  InvalidGrant,
  SCOPES,
  authorizeUrl,
  exchangeCode,
  fetchMe,
  pkceChallenge,
  pkcePair,
  randomState,
  refreshAccessToken,
  spotifyApp,
  SpotifyNotConfigured,
  type SpotifyApp,
} from '../../spotify/auth.ts';
import { RateLimited, SpotifyRequestError, SpotifyUnavailable } from '../../spotify/errors.ts';
import { startFakeSpotify, type FakeSpotify } from '../../spotify/fake/index.ts';

let fake: FakeSpotify;
let app: SpotifyApp;
const redirectUri = 'http://127.0.0.1:8888/callback';

before(async () => {
  fake = await startFakeSpotify({ refreshTokenRotation: 'revoke-old' });
  fake.addAccount({ id: 'spotify-ana', displayName: 'Ana' });
  app = { clientId: fake.clientId, accountsUrl: fake.url, apiUrl: fake.url, timeoutMs: 5000 };
});
after(async () => fake.stop());

async function authorize(state: string, challenge: string, scopes?: string[]): Promise<URL> {
  const r = await fetch(authorizeUrl(app, { redirectUri, state, codeChallenge: challenge, scopes }), { redirect: 'manual' });
  assert.equal(r.status, 302);
  return new URL(r.headers.get('location')!);
}

test('PKCE: the S256 challenge of RFC 7636 appendix B; fresh pairs differ', async () => {
  assert.equal(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  const [a, b] = await Promise.all([pkcePair(), pkcePair()]);
  assert.notEqual(a.verifier, b.verifier);
  assert.ok(a.verifier.length >= 43);
  assert.equal(a.challenge, await pkceChallenge(a.verifier));
});

test('the authorize URL asks for exactly the scopes the features use, with S256', () => {
  const u = new URL(authorizeUrl(app, { redirectUri, state: 's1', codeChallenge: 'c1' }));
  assert.equal(u.pathname, '/authorize');
  assert.equal(u.searchParams.get('response_type'), 'code');
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(u.searchParams.get('redirect_uri'), redirectUri);
  assert.deepEqual(
    u.searchParams.get('scope')!.split(' '),
    ['user-read-recently-played', 'user-read-currently-playing', 'playlist-read-private', 'playlist-read-collaborative'],
    'the sync, the realtime mode and playlist snapshots: no other scope is asked for',
  );
  assert.deepEqual([...SCOPES], u.searchParams.get('scope')!.split(' '));
});

test('code exchange, /v1/me and a rotating refresh', async () => {
  const { verifier, challenge } = await pkcePair();
  const state = randomState();
  const callback = await authorize(state, challenge);
  assert.equal(callback.searchParams.get('state'), state);
  const grant = await exchangeCode(app, { callback, expectedState: state, redirectUri, codeVerifier: verifier });
  assert.equal(grant.expiresInSeconds, 3600);
  assert.ok(grant.refreshToken);
  assert.equal(grant.scope, SCOPES.join(' '));
  assert.deepEqual(await fetchMe(app, grant.accessToken), { id: 'spotify-ana', displayName: 'Ana' });

  // The code is single-use.
  await assert.rejects(exchangeCode(app, { callback, expectedState: state, redirectUri, codeVerifier: verifier }), InvalidGrant);

  const refreshed = await refreshAccessToken(app, grant.refreshToken!);
  assert.ok(refreshed.refreshToken && refreshed.refreshToken !== grant.refreshToken, 'a PKCE refresh rotates the refresh token');
  // With rotation that revokes the old one, only the new one works.
  await assert.rejects(refreshAccessToken(app, grant.refreshToken!), InvalidGrant);
  assert.ok((await refreshAccessToken(app, refreshed.refreshToken!)).accessToken);
});

test('errors: wrong verifier, wrong state, refusal, revoked token, bad client, 429, 5xx, unreachable', async () => {
  const { challenge } = await pkcePair();
  const other = await pkcePair();
  const cb = await authorize('st', challenge);
  await assert.rejects(exchangeCode(app, { callback: cb, expectedState: 'st', redirectUri, codeVerifier: other.verifier }), (e: Error) => e instanceof InvalidGrant && /code_verifier/.test(e.message));
  const cb2 = await authorize('st2', challenge);
  await assert.rejects(exchangeCode(app, { callback: cb2, expectedState: 'not-st2', redirectUri, codeVerifier: other.verifier }), SpotifyRequestError);

  fake.fail({ endpoint: 'authorize' });
  const refused = await authorize('st3', challenge);
  assert.equal(refused.searchParams.get('error'), 'access_denied');
  await assert.rejects(exchangeCode(app, { callback: refused, expectedState: 'st3', redirectUri, codeVerifier: 'x' }), /access_denied/);

  const refresh = fake.issueRefreshToken('spotify-ana');
  fake.revoke('spotify-ana');
  await assert.rejects(refreshAccessToken(app, refresh), (e: Error) => e instanceof InvalidGrant && !e.message.includes(refresh));
  const good = fake.issueRefreshToken('spotify-ana');
  await assert.rejects(refreshAccessToken({ ...app, clientId: 'unknown-app' }, good), (e: Error) => e instanceof SpotifyRequestError && /invalid_client/.test(e.message));
  fake.fail({ endpoint: 'token', status: 429, retryAfterSeconds: 17 });
  await assert.rejects(refreshAccessToken(app, good), (e: Error) => e instanceof RateLimited && e.retryAfterSeconds === 17);
  fake.fail({ endpoint: 'token', status: 503 });
  await assert.rejects(refreshAccessToken(app, good), SpotifyUnavailable);
  fake.fail({ endpoint: 'token', oauthError: 'invalid_grant' });
  await assert.rejects(refreshAccessToken(app, good), InvalidGrant);
  assert.ok((await refreshAccessToken(app, good)).accessToken, 'faults fire once');
  await assert.rejects(refreshAccessToken({ ...app, accountsUrl: 'http://127.0.0.1:9' }, good), (e: Error) => e instanceof SpotifyUnavailable && !e.message.includes(good));
});

test('a confidential client authenticates with its secret (HTTP Basic); none configured is a clear error', async () => {
  const f = await startFakeSpotify({ clients: [{ clientId: 'conf', clientSecret: 's3cret' }] });
  try {
    f.addAccount({ id: 'x' });
    const conf: SpotifyApp = { clientId: 'conf', clientSecret: 's3cret', accountsUrl: f.url, apiUrl: f.url, timeoutMs: 5000 };
    const refresh = f.issueRefreshToken('x');
    const grant = await refreshAccessToken(conf, refresh);
    assert.equal(grant.refreshToken, undefined, 'a confidential refresh keeps the refresh token');
    await assert.rejects(refreshAccessToken({ ...conf, clientSecret: 'wrong' }, refresh), /invalid_client/);
  } finally {
    await f.stop();
  }
  assert.throws(() => spotifyApp(loadConfig({})), (e: Error) => e instanceof SpotifyNotConfigured && /SPOTIFY_CLIENT_ID/.test(e.message) && /127\.0\.0\.1:8888\/callback/.test(e.message));
  assert.equal(spotifyApp(loadConfig({ SPOTIFY_CLIENT_ID: 'abc' })).accountsUrl, 'https://accounts.spotify.com');
  assert.equal(spotifyApp(loadConfig({ SPOTIFY_CLIENT_ID: 'abc' })).apiUrl, 'https://api.spotify.com');
});
