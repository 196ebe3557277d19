/**
 * How the sync's activities hand failures to Temporal: Retry-After as the exact next retry delay,
 * exponential backoff with jitter for 5xx, non-retryable reconnect/configuration/request errors,
 * and messages with any token-looking text redacted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, syncFailure, SYNC_FAILURES } from '../../activities/sync.ts';
import { RateLimited, ReconnectNeeded, SpotifyForbidden, SpotifyUnavailable, redact } from '../../spotify/errors.ts';
import { SpotifyNotConfigured } from '../../spotify/auth.ts';
import { TokenStoreError } from '../../spotify/tokens.ts';

test('backoff doubles from 2 s up to 10 minutes, with jitter between half and all of it', () => {
  assert.equal(backoffMs(1, () => 1), 2000);
  assert.equal(backoffMs(1, () => 0), 1000);
  assert.equal(backoffMs(4, () => 1), 16_000);
  assert.equal(backoffMs(30, () => 1), 600_000);
  assert.equal(backoffMs(30, () => 0), 300_000);
  const samples = Array.from({ length: 200 }, () => backoffMs(3));
  assert.ok(samples.every((s) => s >= 4000 && s <= 8000));
  assert.ok(new Set(samples).size > 50, 'jittered');
});

test('failures: types, retryability and delays', () => {
  const limited = syncFailure(new RateLimited(74_000, 'QUOTA_EXCEEDED', 'GET /v1/me/player/recently-played'), 1);
  assert.equal(limited.type, SYNC_FAILURES.rateLimited);
  assert.equal(limited.nonRetryable, false);
  assert.equal(limited.nextRetryDelay, 74_000_000, 'Retry-After, to the second, however long');

  const down = syncFailure(new SpotifyUnavailable('GET /v1/me answered 503', 503), 3);
  assert.equal(down.type, SYNC_FAILURES.unavailable);
  assert.ok(Number(down.nextRetryDelay) >= 4000 && Number(down.nextRetryDelay) <= 8000);

  const reconnect = syncFailure(new ReconnectNeeded('ana', 'Spotify refused the stored refresh token (invalid_grant: revoked)'), 1);
  assert.equal(reconnect.type, SYNC_FAILURES.reconnect);
  assert.equal(reconnect.nonRetryable, true);
  assert.match(reconnect.message, /^reconnect needed for user "ana"/);

  for (const e of [new SpotifyNotConfigured('SPOTIFY_CLIENT_ID is not set'), new TokenStoreError('cannot be decrypted')]) {
    assert.equal(syncFailure(e, 1).type, SYNC_FAILURES.configuration);
    assert.equal(syncFailure(e, 1).nonRetryable, true);
  }
  assert.equal(syncFailure(new SpotifyForbidden('403'), 1).nonRetryable, true);
  assert.equal(syncFailure(new Error('disk full'), 2).nonRetryable, false);
});

test('token-looking text never survives into a failure message', () => {
  const leaky = new Error('request failed: Authorization: Bearer BQCabcdef123456 refresh_token=AQDsecret987654321');
  const f = syncFailure(leaky, 1);
  assert.ok(!f.message.includes('BQCabcdef123456') && !f.message.includes('AQDsecret987654321'), f.message);
  assert.equal(redact('x AQD123456789 y', ['AQD123456789']), 'x [redacted] y');
});
