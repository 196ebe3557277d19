/**
 * The Spotify web login against the local fake Spotify (real endpoints' shapes): /auth/login sends
 * the browser to /authorize with PKCE, the callback logs in the Rewind user connected to that
 * Spotify account with a session cookie; an account connected to nobody, a forged state and a missing
 * login cookie are refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { configForFake, connectFakeAccount, startFakeSpotify, type FakeSpotify } from '../../spotify/fake/index.ts';
import { bearer, makeFixture, type Fixture } from './helpers.ts';
import type { FastifyInstance } from 'fastify';

let fake: FakeSpotify;
let f: Fixture;
let app: FastifyInstance;

before(async () => {
  fake = await startFakeSpotify();
  f = await makeFixture({ env: { SPOTIFY_CLIENT_ID: fake.clientId, SPOTIFY_ACCOUNTS_URL: fake.url, SPOTIFY_API_URL: fake.url } });
  app = f.app;
  const config = configForFake(f.config, fake);
  await connectFakeAccount(config, f.layout, fake, { userId: 'alice', accountId: 'alice-on-spotify', displayName: 'Alice' });
  fake.addAccount({ id: 'stranger' });
});

after(async () => {
  await f?.close();
  await fake?.stop();
});

/** The browser's round trip: /auth/login -> fake /authorize (auto-approves) -> /auth/callback. */
async function webLogin(opts: { tamperState?: boolean; dropCookie?: boolean } = {}) {
  const login = await app.inject({ url: '/auth/login', headers: { host: 'rewind.test' } });
  assert.equal(login.statusCode, 302);
  const authorize = new URL(String(login.headers.location));
  assert.equal(authorize.origin, new URL(fake.url).origin);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authorize.searchParams.get('redirect_uri'), 'http://rewind.test/auth/callback');
  const oauthCookie = String(login.headers['set-cookie']).split(';')[0]!;
  assert.match(String(login.headers['set-cookie']), /HttpOnly/);
  const approved = await fetch(authorize, { redirect: 'manual' });
  assert.equal(approved.status, 302);
  const callback = new URL(approved.headers.get('location')!);
  assert.equal(callback.pathname, '/auth/callback');
  if (opts.tamperState) callback.searchParams.set('state', 'forged-state');
  return app.inject({
    url: `${callback.pathname}${callback.search}`,
    headers: { host: 'rewind.test', ...(opts.dropCookie ? {} : { cookie: oauthCookie }) },
  });
}

test('a connected Spotify account logs in its Rewind user with a session cookie', async () => {
  fake.setAuthorizingAccount('alice-on-spotify');
  const done = await webLogin();
  assert.equal(done.statusCode, 303, done.body);
  assert.equal(done.headers.location, '/');
  const session = [done.headers['set-cookie']].flat().map(String).find((c) => c.startsWith('rewind_session='));
  assert.ok(session, 'a session cookie');
  assert.match(session!, /HttpOnly/);
  assert.match(session!, /SameSite=Lax/);
  const me = await app.inject({ url: '/api/v1/me', headers: { cookie: session!.split(';')[0]! } });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().id, 'alice');
  assert.equal(me.json().via, 'session');
  // The login page offers it.
  assert.match((await app.inject({ url: '/login' })).body, /href="\/auth\/login"/);
});

test('an account connected to no Rewind user is refused', async () => {
  fake.setAuthorizingAccount('stranger');
  const r = await webLogin();
  assert.equal(r.statusCode, 403);
  assert.match(r.body, /not connected to a Rewind user/);
  assert.doesNotMatch(String(r.headers['set-cookie'] ?? ''), /rewind_session=[^;]/);
});

test('a forged state or a login that did not start here is refused', async () => {
  fake.setAuthorizingAccount('alice-on-spotify');
  const forged = await webLogin({ tamperState: true });
  assert.equal(forged.statusCode, 502);
  assert.doesNotMatch(String(forged.headers['set-cookie'] ?? ''), /rewind_session=[^;]/);
  const noCookie = await webLogin({ dropCookie: true });
  assert.equal(noCookie.statusCode, 400);
  // API tokens still work beside it.
  assert.equal((await app.inject({ url: '/api/v1/me', headers: bearer(f.tokens.alice) })).statusCode, 200);
});
