/**
 * The realtime mode's ms_played estimate (activities/realtime.ts), checked against the truth: the
 * fake Spotify's listener plays hours of tracks with skips and local files (on a test clock), the
 * estimate follows its currently-playing answers every 15 s exactly as the activity does, and every
 * play it decides to write is compared with what really played. Then the cases the listener never
 * produces (nothing after a play, a pause, a repeat, a track whose end cannot be placed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeSpotify, type FakeStream } from '../../spotify/fake/index.ts';
import type { CurrentlyPlaying } from '../../spotify/types.ts';
import { advance, classify, finishPlay, observedTrack, realtimeApiPlay, SKIP_THRESHOLD_MS, type FinishedPlay, type Observation, type OpenPlay } from '../../activities/realtime.ts';

const POLL_MS = 15_000;

test('hours of a listener with skips and local files: what is written is what was skipped, within the stated error', async () => {
  let clock = Date.UTC(2026, 3, 1, 18);
  const fake = await startFakeSpotify({ now: () => clock, accessTokenSeconds: 86_400 });
  try {
    fake.addAccount({ id: 'l' });
    const refresh = fake.issueRefreshToken('l');
    const t = await fetch(`${fake.url}/api/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: fake.clientId }),
    });
    const { access_token: token } = (await t.json()) as { access_token: string };
    const startAt = clock + 3_000;
    fake.keepPlaying('l', { seed: 11, startAt, everyMs: 90_000, skipRate: 0.35, localRate: 0.15 });

    let open: OpenPlay | null = null;
    const finished: FinishedPlay[] = [];
    const polls = 4 * 60 * 4; // four hours every 15 s
    for (let i = 0; i < polls; i++) {
      clock += POLL_MS;
      const r = await fetch(`${fake.url}/v1/me/player/currently-playing`, { headers: { authorization: `Bearer ${token}` } });
      assert.ok(r.status === 200 || r.status === 204, `currently-playing answered ${r.status}`);
      const body = r.status === 204 ? null : ((await r.json()) as CurrentlyPlaying);
      const obs: Observation = { at: clock, rttMs: 0, track: observedTrack(body), progressMs: body?.progress_ms ?? 0, isPlaying: body?.is_playing === true };
      const step = advance(open, obs);
      open = step.open;
      if (step.finished) finished.push(step.finished);
    }
    const truth = fake.streams('l');
    assert.ok(truth.length > 200, `${truth.length} streams`);
    const written = finished.filter((f) => ['skip', 'local'].includes(classify(f)));
    const truthOf = (f: FinishedPlay): FakeStream | undefined =>
      truth.filter((s) => s.uri === f.track.uri).sort((a, b) => Math.abs(a.endedAt - f.endedAt) - Math.abs(b.endedAt - f.endedAt))[0];

    let maxError = 0;
    for (const f of written) {
      const s = truthOf(f);
      assert.ok(s, `a written play of ${f.track.uri} that never played`);
      assert.ok(!s.inRecentlyPlayed, `${f.track.uri} at ${new Date(s.endedAt).toISOString()} is a listen recently-played lists: not written`);
      const error = Math.abs(f.msPlayed - s.msPlayed);
      maxError = Math.max(maxError, error);
      assert.ok(error <= f.errorMs, `${f.track.uri}: ${f.msPlayed} ms estimated, ${s.msPlayed} ms true, bound ${f.errorMs} (${f.method})`);
      assert.ok(Math.abs(f.endedAt - s.endedAt) <= f.errorMs, 'the end within the bound');
      assert.ok(f.lowerMs <= s.msPlayed && s.msPlayed <= f.upperMs, 'the truth within [lower, upper]');
    }
    // Skips and local files followed by a track are placed by that track: within 1 s.
    assert.ok(maxError <= 1_000, `largest error ${maxError} ms`);

    // Every local file, and every skip at least one poll long, is written once; a shorter skip only when a poll fell in it.
    const writtenKey = new Set(written.map((f) => `${f.track.uri}@${truthOf(f)!.endedAt}`));
    assert.equal(writtenKey.size, written.length, 'no stream written twice');
    const local = truth.filter((s) => s.localIndex !== undefined && s.endedAt < clock - POLL_MS);
    const longSkips = truth.filter((s) => s.localIndex === undefined && !s.inRecentlyPlayed && s.msPlayed >= POLL_MS);
    const shortSkips = truth.filter((s) => s.localIndex === undefined && !s.inRecentlyPlayed && s.msPlayed < POLL_MS);
    assert.ok(local.length > 10 && longSkips.length > 5 && shortSkips.length > 10, `${local.length} local, ${longSkips.length} + ${shortSkips.length} skips`);
    for (const s of [...local, ...longSkips]) assert.ok(writtenKey.has(`${s.uri}@${s.endedAt}`), `${s.uri} (${s.msPlayed} ms, ${s.startedAt}-${s.endedAt}) was written: ${JSON.stringify(finished.filter((f) => f.track.uri === s.uri).map((f) => [f.endedAt, f.msPlayed, f.method, classify(f)]))}`);
    const seenShort = shortSkips.filter((s) => writtenKey.has(`${s.uri}@${s.endedAt}`)).length;
    const expectedShort = shortSkips.reduce((n, s) => n + s.msPlayed / POLL_MS, 0);
    assert.ok(Math.abs(seenShort - expectedShort) <= 3 * Math.sqrt(expectedShort) + 2, `skips under 15 s seen: ${seenShort}, about ${expectedShort.toFixed(1)} expected`);
    // No listen is written: recently-played brings those.
    assert.equal(written.filter((f) => !f.track.isLocal && f.msPlayed >= SKIP_THRESHOLD_MS).length, 0);
  } finally {
    await fake.stop();
  }
});

const track = (uri: string, durationMs = 200_000, isLocal = false) => ({
  uri,
  name: 'T',
  artistName: 'A',
  artistUris: [],
  albumName: null,
  albumUri: null,
  durationMs,
  isLocal,
  contextUri: null,
  contextType: null,
});
const obs = (at: number, t: ReturnType<typeof track> | null, progressMs = 0, isPlaying = true, rttMs = 200): Observation => ({ at, rttMs, track: t, progressMs, isPlaying });

test('the end placed by the next track; midpoint when nothing follows; paused; repeat; undecidable skips left to recently-played', () => {
  const a = track('spotify:track:a');
  const b = track('spotify:track:b');
  // Seen at 5 s, then b at 3 s 15 s later: a ended 12 s after the poll, at 17 s.
  let s = advance(null, obs(0, a, 5_000));
  s = advance(s.open, obs(15_000, b, 3_000));
  assert.equal(s.finished?.method, 'next_track');
  assert.equal(s.finished?.msPlayed, 17_000);
  assert.equal(s.finished?.endedAt, 12_000);
  assert.equal(classify(s.finished!), 'skip');
  assert.equal(s.open?.track.uri, b.uri);

  // Nothing after it (204): somewhere in the 15 s after the last poll; the middle, ± half.
  s = advance(advance(null, obs(0, a, 5_000)).open, obs(15_000, null));
  assert.deepEqual([s.finished?.method, s.finished?.msPlayed, s.finished?.lowerMs, s.finished?.upperMs], ['midpoint', 12_500, 5_000, 20_000]);
  assert.equal(s.finished?.errorMs, 7_500 + 200);
  assert.equal(classify(s.finished!), 'skip');
  assert.equal(s.open, null);
  // 25 s ± 7.5 s: could be a listen recently-played lists: not written here.
  s = advance(advance(null, obs(0, a, 18_000)).open, obs(15_000, null));
  assert.equal(classify(s.finished!), 'ambiguous');
  // 29.6 s ± 1.3 s, even placed by the next track: the same.
  s = advance(advance(null, obs(0, a, 16_000)).open, obs(15_000, b, 1_400, true, 400));
  assert.deepEqual([s.finished?.method, s.finished?.msPlayed, s.finished?.errorMs], ['next_track', 29_600, 1_300]);
  assert.equal(classify(s.finished!), 'ambiguous');
  s = advance(advance(null, obs(0, a, 16_000)).open, obs(15_000, b, 3_000, true, 400));
  assert.equal(classify(s.finished!), 'skip', '28 s ± 1.3 s is a skip');
  // The bound never passes the track's end.
  const short = track('spotify:track:s', 10_000);
  s = advance(advance(null, obs(0, short, 6_000)).open, obs(15_000, null));
  assert.deepEqual([s.finished?.upperMs, s.finished?.msPlayed], [10_000, 8_000]);

  // Paused at 9 s, then something else: 9 s.
  s = advance(advance(null, obs(0, a, 9_000, false)).open, obs(60_000, b, 1_000));
  assert.deepEqual([s.finished?.method, s.finished?.msPlayed], ['paused', 9_000]);
  // The same track again from the start (repeat): the first play ends, a second begins.
  s = advance(advance(null, obs(0, a, 8_000)).open, obs(15_000, a, 4_000));
  assert.equal(s.finished?.msPlayed, 19_000);
  assert.equal(s.open?.firstProgressMs, 4_000);
  // The same play seen again: still open, nothing finished.
  s = advance(advance(null, obs(0, a, 8_000)).open, obs(15_000, a, 23_000));
  assert.equal(s.finished, null);
  assert.equal(s.open?.lastProgressMs, 23_000);
  // A local file of any length is written; a listen is not.
  const l = track('spotify:local:A:B:C:200', 200_000, true);
  s = advance(advance(null, obs(0, l, 100_000)).open, obs(15_000, b, 2_000));
  assert.equal(classify(s.finished!), 'local');
  assert.equal(realtimeApiPlay(s.finished!).isLocal, true);
  assert.equal(realtimeApiPlay(s.finished!).msPlayed, 113_000);
  s = advance(advance(null, obs(0, a, 100_000)).open, obs(15_000, b, 2_000));
  assert.equal(classify(s.finished!), 'listen');
  // An item that is not a track (an episode, an ad) is "nothing".
  assert.equal(observedTrack({ currently_playing_type: 'episode', item: null } as unknown as CurrentlyPlaying), null);
  assert.equal(finishPlay(advance(null, obs(0, a, 1_000)).open!, obs(5_000, null)).upperMs, 6_000);
});
