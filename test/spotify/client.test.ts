/**
 * The Web API client against the fake Spotify: tokens refreshed ahead of expiry and once on 401,
 * invalid_grant as ReconnectNeeded (and remembered), 429 as RateLimited with its Retry-After
 * blocking the whole app's budget (other users and other client instances too), 5xx and timeouts
 * as SpotifyUnavailable, the local request rate, and no token in any error message.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../config.ts';
import { Layout } from '../../warehouse/layout.ts';
import { spotifyApp } from '../../spotify/auth.ts';
import { RateBudget } from '../../spotify/budget.ts';
import { SpotifyClient, REFRESH_AHEAD_MS } from '../../spotify/client.ts';
import { rateBudget, tokenStore } from '../../spotify/connect.ts';
import { RateLimited, ReconnectNeeded, SpotifyUnavailable } from '../../spotify/errors.ts';
import { configForFake, connectFakeAccount, startFakeSpotify, type FakeSpotify } from '../../spotify/fake/index.ts';

let fake: FakeSpotify;
const homes: string[] = [];

before(async () => {
  fake = await startFakeSpotify();
});
after(async () => {
  await fake.stop();
  for (const h of homes) await fs.rm(h, { recursive: true, force: true });
});

async function setup(users: string[], env: Record<string, string> = {}): Promise<{ config: Config; layout: Layout; client: (u: string, now?: () => number) => SpotifyClient }> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'rewind-client-'));
  homes.push(home);
  const config = configForFake(loadConfig({ REWIND_HOME: home, ...env }), fake);
  const layout = new Layout(home);
  for (const u of users) await connectFakeAccount(config, layout, fake, { userId: u, accountId: `sp-${u}` });
  const client = (u: string, now?: () => number) =>
    new SpotifyClient({ app: spotifyApp(config), store: tokenStore(config, layout), budget: rateBudget(config, layout), layout, now }, u);
  return { config, layout, client };
}

const tokenRequests = (accountId: string) => fake.requests.filter((r) => r.path === '/api/token' && r.accountId === accountId).length;
const apiRequests = (accountId: string) => fake.requests.filter((r) => r.path.startsWith('/v1/') && r.accountId === accountId).length;

test('the access token is reused while fresh and refreshed ahead of its expiry', async () => {
  const { config, layout, client } = await setup(['ana']);
  const store = tokenStore(config, layout);
  fake.generatePlays('sp-ana', { count: 3, endAt: Date.now() - 60_000 });
  const afterConnect = tokenRequests('sp-ana');
  assert.equal((await client('ana').recentlyPlayed()).items.length, 3);
  assert.equal((await client('ana').recentlyPlayed({ limit: 1 })).items.length, 1);
  assert.equal(tokenRequests('sp-ana'), afterConnect, 'no refresh while the token has more than 5 minutes left');

  const expiresAt = (await store.secrets('ana'))!.accessTokenExpiresAt!;
  await client('ana', () => expiresAt - REFRESH_AHEAD_MS - 60_000).me();
  assert.equal(tokenRequests('sp-ana'), afterConnect, '6 minutes before expiry: still the same token');
  const before = (await store.secrets('ana'))!;
  await client('ana', () => expiresAt - REFRESH_AHEAD_MS + 60_000).me();
  assert.equal(tokenRequests('sp-ana'), afterConnect + 1, '4 minutes before expiry: refreshed');
  const afterRefresh = (await store.secrets('ana'))!;
  assert.notEqual(afterRefresh.accessToken, before.accessToken);
  assert.notEqual(afterRefresh.refreshToken, before.refreshToken, 'the rotated refresh token is stored');
});

test('a 401 refreshes once and retries; a second 401 is not retried in a loop', async () => {
  const { client } = await setup(['bo']);
  const t0 = tokenRequests('sp-bo');
  fake.expireAccessTokens('sp-bo');
  assert.equal((await client('bo').me()).id, 'sp-bo');
  assert.equal(tokenRequests('sp-bo'), t0 + 1);

  fake.fail({ endpoint: 'me', status: 401, accountId: 'sp-bo', times: 2 });
  const a0 = apiRequests('sp-bo');
  await assert.rejects(client('bo').me(), (e: Error) => e instanceof SpotifyUnavailable && e.status === 401);
  assert.equal(tokenRequests('sp-bo'), t0 + 2, 'exactly one refresh for the 401');
  assert.equal(apiRequests('sp-bo'), a0 + 2, 'the request was tried twice, not more');
});

test('invalid_grant: ReconnectNeeded, remembered, and no further call to Spotify for that user', async () => {
  const { config, layout, client } = await setup(['cy', 'di']);
  const secret = (await tokenStore(config, layout).secrets('cy'))!;
  fake.revoke('sp-cy');
  fake.expireAccessTokens('sp-cy');
  await assert.rejects(client('cy').me(), (e: Error) => {
    assert.ok(e instanceof ReconnectNeeded, String(e));
    assert.match(e.message, /reconnect needed.*invalid_grant.*rewind login --user cy/);
    assert.ok(!e.message.includes(secret.refreshToken) && !e.message.includes(secret.accessToken!));
    return true;
  });
  assert.match((await tokenStore(config, layout).connection('cy'))!.reconnectNeeded!.reason, /invalid_grant/);
  const before = fake.requests.length;
  await assert.rejects(client('cy').recentlyPlayed(), ReconnectNeeded);
  assert.equal(fake.requests.length, before, 'fails fast without asking Spotify');
  assert.equal((await client('di').me()).id, 'sp-di', 'another user carries on');
  await assert.rejects(client('nobody').me(), (e: Error) => e instanceof ReconnectNeeded && /no Spotify account is connected/.test(e.message));
});

test('429: RateLimited with Retry-After, and the whole app waits (other users, other instances)', async () => {
  const { layout, client } = await setup(['ed', 'fa']);
  fake.fail({ endpoint: 'recently-played', status: 429, retryAfterSeconds: 7200, quotaExceeded: true, accountId: 'sp-ed' });
  await assert.rejects(client('ed').recentlyPlayed(), (e: Error) => e instanceof RateLimited && e.retryAfterSeconds === 7200 && /QUOTA_EXCEEDED/.test(e.reason ?? ''));
  const served = fake.requests.length;
  // Another user, through another budget instance on the same data folder: refused locally.
  const other = new RateBudget(layout, { requestsPerWindow: 60 });
  await assert.rejects(other.acquire('GET /v1/me'), (e: Error) => e instanceof RateLimited && e.retryAfterSeconds > 7190 && e.retryAfterSeconds <= 7200);
  await assert.rejects(client('fa').me(), RateLimited);
  assert.equal(fake.requests.length, served, 'nobody called Spotify while blocked');
  const state = await other.state();
  assert.ok(state.blockedUntil && Date.parse(state.blockedUntil) > Date.now() + 7_000_000);
  // Once the time has passed, requests flow again.
  const later = new RateBudget(layout, { requestsPerWindow: 60, now: () => Date.now() + 7_201_000 });
  await later.acquire('GET /v1/me');
});

test('5xx and timeouts are SpotifyUnavailable; the local rate budget hands long waits back', async () => {
  const { client } = await setup(['gi']);
  fake.fail({ endpoint: 'api', status: 502, accountId: 'sp-gi' });
  await assert.rejects(client('gi').me(), (e: Error) => e instanceof SpotifyUnavailable && e.status === 502);
  assert.equal((await client('gi').me()).id, 'sp-gi');

  // A server that never answers: the request is abandoned after the timeout.
  const silent = http.createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (silent.address() as { port: number }).port;
    const home = mkdtempSync(path.join(os.tmpdir(), 'rewind-client-'));
    homes.push(home);
    const config = configForFake(loadConfig({ REWIND_HOME: home, REWIND_SPOTIFY_TIMEOUT: '1' }), fake);
    const layout = new Layout(home);
    await connectFakeAccount(config, layout, fake, { userId: 'hu', accountId: 'sp-hu' });
    const slowApp = { ...spotifyApp(config), apiUrl: `http://127.0.0.1:${port}` };
    const c = new SpotifyClient({ app: slowApp, store: tokenStore(config, layout), budget: rateBudget(config, layout), layout }, 'hu');
    const t = Date.now();
    await assert.rejects(c.me(), (e: Error) => e instanceof SpotifyUnavailable && /timed out/.test(e.message));
    assert.ok(Date.now() - t < 5000);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }

  const home = mkdtempSync(path.join(os.tmpdir(), 'rewind-budget-'));
  homes.push(home);
  let clock = 1_000_000;
  const budget = new RateBudget(new Layout(home), { requestsPerWindow: 2, now: () => clock });
  await budget.acquire('x');
  await budget.acquire('x');
  await assert.rejects(budget.acquire('x'), (e: Error) => e instanceof RateLimited && e.retryAfterSeconds === 30 && /local budget/.test(e.reason ?? ''));
  clock += 30_001;
  await budget.acquire('x');
});
