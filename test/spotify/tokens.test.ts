/**
 * The token store: tokens encrypted at rest (AES-256-GCM), a key generated on first use with 0600
 * in a 0700 folder or taken from REWIND_SECRET_KEY, tampering and wrong keys detected, nothing secret
 * readable in the file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Layout } from '../../warehouse/layout.ts';
import { TokenStore, TokenStoreError, loadSecretKey } from '../../spotify/tokens.ts';

const REFRESH = 'AQD-refresh-token-value-that-must-stay-secret-0123456789';
const ACCESS = 'BQC-access-token-value-that-must-stay-secret-9876543210';

const homes: string[] = [];
after(async () => {
  for (const h of homes) await fs.rm(h, { recursive: true, force: true });
});

function layout(): Layout {
  const home = mkdtempSync(path.join(os.tmpdir(), 'rewind-tokens-'));
  homes.push(home);
  return new Layout(home);
}

test('tokens round-trip and are unreadable on disk; key and file are private', async () => {
  const l = layout();
  const store = new TokenStore(l, undefined);
  const conn = await store.save('ana', { accountId: 'spotify-ana', displayName: 'Ana', scope: 'user-read-recently-played' }, { refreshToken: REFRESH, accessToken: ACCESS, accessTokenExpiresAt: 123 });
  assert.equal(conn.accountId, 'spotify-ana');
  assert.deepEqual(await store.secrets('ana'), { refreshToken: REFRESH, accessToken: ACCESS, accessTokenExpiresAt: 123 });

  const file = l.spotifyTokens('ana');
  const text = await fs.readFile(file, 'utf8');
  assert.ok(!text.includes(REFRESH) && !text.includes(ACCESS), 'no token in clear text');
  assert.ok(!text.includes(Buffer.from(REFRESH).toString('base64').slice(0, 20)), 'not merely base64-encoded');
  assert.equal(JSON.parse(text).cipher, 'aes-256-gcm');
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  assert.equal((await fs.stat(path.dirname(file))).mode & 0o777, 0o700);
  assert.equal((await fs.stat(l.secrets)).mode & 0o777, 0o700);
  assert.equal((await fs.stat(l.secretKeyFile)).mode & 0o777, 0o600);
  assert.equal(Buffer.from((await fs.readFile(l.secretKeyFile, 'utf8')).trim(), 'base64').length, 32);

  // The readable part is there for status; the secrets are not.
  const c = await store.connection('ana');
  assert.equal(c?.accountId, 'spotify-ana');
  assert.ok(!JSON.stringify(c).includes(REFRESH));
  assert.deepEqual((await store.connections()).map((x) => x.userId), ['ana']);
});

test('a tampered file, a file moved to another user, or a wrong key is refused clearly', async () => {
  const l = layout();
  const store = new TokenStore(l, undefined);
  await store.save('ana', { accountId: 'a', displayName: null, scope: '' }, { refreshToken: REFRESH });
  const file = l.spotifyTokens('ana');
  const original = JSON.parse(await fs.readFile(file, 'utf8'));

  const flipped = Buffer.from(original.data, 'base64');
  flipped[0] = flipped[0]! ^ 1;
  await fs.writeFile(file, JSON.stringify({ ...original, data: flipped.toString('base64') }));
  await assert.rejects(store.secrets('ana'), (e: Error) => e instanceof TokenStoreError && /cannot be decrypted/.test(e.message) && !e.message.includes(REFRESH));

  // The user id is authenticated data: ana's file copied as bob's does not decrypt.
  await fs.writeFile(l.spotifyTokens('bob'), JSON.stringify({ ...original, userId: 'bob' }));
  await assert.rejects(new TokenStore(l, undefined).secrets('bob'), TokenStoreError);

  await fs.writeFile(file, JSON.stringify(original));
  assert.equal((await store.secrets('ana'))?.refreshToken, REFRESH);
  await assert.rejects(new TokenStore(l, 'another key entirely').secrets('ana'), TokenStoreError);
});

test('REWIND_SECRET_KEY: hex and base64 keys are used as given, other text is stretched; no key file is written', async () => {
  const l = layout();
  const hex = 'ab'.repeat(32);
  assert.equal((await loadSecretKey(l, hex)).toString('hex'), hex);
  const b64 = Buffer.alloc(32, 7).toString('base64');
  assert.deepEqual(await loadSecretKey(l, b64), Buffer.alloc(32, 7));
  const stretched = await loadSecretKey(l, 'correct horse battery staple');
  assert.equal(stretched.length, 32);
  assert.deepEqual(await loadSecretKey(l, 'correct horse battery staple'), stretched);

  const store = new TokenStore(l, 'correct horse battery staple');
  await store.save('ana', { accountId: 'a', displayName: null, scope: '' }, { refreshToken: REFRESH });
  assert.equal((await store.secrets('ana'))?.refreshToken, REFRESH);
  await assert.rejects(fs.access(l.secretKeyFile), 'no generated key file when the key comes from the environment');
});

test('reconnect-needed is recorded, survives a token update only until a new login', async () => {
  const l = layout();
  const store = new TokenStore(l, undefined);
  await store.save('ana', { accountId: 'a', displayName: null, scope: '' }, { refreshToken: REFRESH });
  await store.markReconnectNeeded('ana', 'invalid_grant');
  assert.equal((await store.connection('ana'))?.reconnectNeeded?.reason, 'invalid_grant');
  await store.save('ana', { accountId: 'a', displayName: null, scope: '' }, { refreshToken: `${REFRESH}-new` });
  assert.equal((await store.connection('ana'))?.reconnectNeeded, undefined);
  assert.equal((await store.secrets('ana'))?.refreshToken, `${REFRESH}-new`);
  await store.remove('ana');
  assert.equal(await store.connection('ana'), undefined);
});
