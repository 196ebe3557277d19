/**
 * The sync's commands as a user runs them (`bin/rewind.js` in a child process), against the fake
 * Spotify and a real Temporal dev server: `login` through the browser flow (the test plays the
 * browser), `connect` with a refresh-token file, `sync --user`, `sync --all` with one revoked
 * account, and `status` showing connection, schedule, last sync and its error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../config.ts';
import { startFakeSpotify, type FakeSpotify } from '../../spotify/fake/index.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';

let temporal: TestTemporal;
let fake: FakeSpotify;
let home: string;

before(async () => {
  [temporal, fake] = await Promise.all([startTestTemporal(), startFakeSpotify()]);
  home = mkdtempSync(path.join(os.tmpdir(), 'rewind-cli-sync-'));
});
after(async () => {
  await Promise.all([temporal?.stop(), fake?.stop()]);
  await fs.rm(home, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function rewind(args: string[], opts: { onStderr?: (text: string) => void } = {}): Promise<Run> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin/rewind.js'), ...args], {
    env: {
      ...process.env,
      REWIND_HOME: home,
      TEMPORAL_ADDRESS: temporal.address,
      SPOTIFY_CLIENT_ID: fake.clientId,
      SPOTIFY_ACCOUNTS_URL: fake.url,
      SPOTIFY_API_URL: fake.url,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => {
    stderr += String(d);
    opts.onStderr?.(stderr);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('login (PKCE through the local callback), connect, sync, sync --all, status', { timeout: 300_000 }, async () => {
  fake.addAccount({ id: 'sp-ana', displayName: 'Ana' });
  fake.generatePlays('sp-ana', { count: 12, endAt: Date.now() - 60_000, seed: 21 });
  fake.setAuthorizingAccount('sp-ana');

  // login: the command prints the authorize URL; the "browser" opens it, the fake approves and
  // redirects to the command's callback on 127.0.0.1.
  let browsed: Promise<Response> | undefined;
  const login = await rewind(['login', '--user', 'ana', '--port', '0'], {
    onStderr: (text) => {
      const url = /(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)/.exec(text)?.[1];
      if (url && !browsed) browsed = fetch(url);
    },
  });
  assert.equal(login.code, 0, login.stderr);
  const page = await browsed!;
  assert.equal(page.status, 200);
  assert.match(await page.text(), /connected to Spotify/);
  assert.match(login.stdout, /Connected "ana" to Spotify account sp-ana \(Ana\)/);
  assert.match(login.stdout, /Sync scheduled every 900 s/);
  const record = JSON.parse(await fs.readFile(path.join(home, 'users', 'ana.json'), 'utf8')) as { spotify?: { accountId: string } };
  assert.equal(record.spotify?.accountId, 'sp-ana', 'the Spotify account id is in the user record');

  // connect: a refresh token from a file.
  fake.addAccount({ id: 'sp-bo' });
  fake.generatePlays('sp-bo', { count: 7, endAt: Date.now() - 90_000, seed: 22 });
  const tokenFile = path.join(home, 'bo.token');
  const refresh = fake.issueRefreshToken('sp-bo');
  await fs.writeFile(tokenFile, `${refresh}\n`, { mode: 0o600 });
  const connect = await rewind(['connect', '--user', 'bo', '--refresh-token-file', tokenFile]);
  assert.equal(connect.code, 0, connect.stderr);
  assert.match(connect.stdout, /Connected "bo" to Spotify account sp-bo/);
  const badFile = path.join(home, 'bad.token');
  await fs.writeFile(badFile, 'not a token\n');
  const bad = await rewind(['connect', '--user', 'cy', '--refresh-token-file', badFile]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /does not hold a refresh token/);

  const sync = await rewind(['sync', '--user', 'bo']);
  assert.equal(sync.code, 0, sync.stderr);
  assert.match(sync.stdout, /Synced "bo": 7 new play\(s\) from Spotify, 7 stored/);

  // One revoked account: the other still syncs, the command says which failed and exits 1.
  fake.revoke('sp-bo');
  fake.expireAccessTokens('sp-bo');
  fake.generatePlays('sp-bo', { count: 2, endAt: Date.now() - 10_000, seed: 23 });
  const all = await rewind(['sync', '--all']);
  assert.equal(all.code, 1);
  // (ana's schedule may have fired at a 15-minute boundary during the test, run by a command's worker.)
  assert.match(all.stdout, /Synced "ana": (12 new play\(s\) from Spotify, 12 stored|no new plays)/);
  assert.match(all.stdout, /Sync of "bo" failed: reconnect needed/);

  const status = await rewind(['status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const users = JSON.parse(status.stdout) as { user: string; plays: Record<string, number>; sync: { connected: boolean; reconnectNeeded: string | null; schedule: { paused: boolean; note?: string } | null; lastRun: { status: string; error?: string } | null } }[];
  const ana = users.find((u) => u.user === 'ana')!;
  const bo = users.find((u) => u.user === 'bo')!;
  assert.deepEqual(ana.plays, { api: 12 });
  assert.equal(ana.sync.connected, true);
  assert.equal(ana.sync.lastRun?.status, 'ok');
  assert.equal(ana.sync.schedule?.paused, false);
  assert.equal(bo.sync.lastRun?.status, 'reconnect_needed');
  assert.match(bo.sync.reconnectNeeded ?? '', /invalid_grant/);
  assert.equal(bo.sync.schedule?.paused, true);
  assert.match(bo.sync.schedule?.note ?? '', /reconnect needed/);
  const table = await rewind(['status']);
  assert.match(table.stdout, /RECONNECT NEEDED/);
  assert.match(table.stdout, /PAUSED/);

  // No command printed a token.
  for (const out of [login, connect, sync, all, status, table]) {
    for (const t of fake.issuedTokens()) assert.ok(!out.stdout.includes(t) && !out.stderr.includes(t), 'a token was printed');
  }
});
