/**
 * The realtime mode end to end: a real Temporal dev server, a real worker, real DuckDB and Parquet,
 * and the fake Spotify (the only stand-in) playing a scripted sequence of skips, a local file and a
 * listen. Skips and local files land once, with ms_played within the stated error of the truth;
 * the listen is left to recently-played (the sync brings it); a 429's Retry-After is honoured; the
 * workflow continues as new; starting it is idempotent; turning the setting off (the CLI, or the
 * setting alone as PATCH /me does) stops it; a missing scope is refused with the reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Config } from '../../config.ts';
import { type Context, type TemporalSession } from '../../cli/context.ts';
import { ensureRealtime, realtimeStatus, RealtimeError, setRealtimeMode, formatRealtimeStatus } from '../../cli/realtime.ts';
import { runSync } from '../../cli/sync.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { setRealtime } from '../../warehouse/users.ts';
import { connectWithRefreshToken } from '../../spotify/connect.ts';
import { connectFakeAccount, type FakeSpotify } from '../../spotify/fake/index.ts';
import { realtimeWorkflowId } from '../../workflows/ids.ts';
import type { RealtimeProgress } from '../../workflows/realtime.ts';
import { startSpotifyE2E, type SpotifyE2E } from '../helpers/spotify-e2e.ts';
import { until } from '../helpers/until.ts';

const POLL_SECONDS = 1;

let e2e: SpotifyE2E;
let fake: FakeSpotify;
let config: Config;
let ctx: Context;
let session: TemporalSession;

before(async () => {
  e2e = await startSpotifyE2E({
    name: 'realtime',
    env: { REWIND_SYNC_INTERVAL: '1h', REWIND_REALTIME_POLL: String(POLL_SECONDS), REWIND_REALTIME_POLLS_PER_RUN: '8' },
  });
  ({ fake, config, ctx, session } = e2e);
});

after(async () => {
  await e2e?.stop();
});

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await queryWarehouse(ctx.layout, {}, sql)).rows;
}


test('skips and local files land once with an honest ms_played; the listen is left to recently-played', { timeout: 180_000 }, async () => {
  fake.addAccount({ id: 'sp-rt' });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'rt', accountId: 'sp-rt' });
  const [A, B, C] = [3, 4, 5];
  // The first poll is refused with a 429: the next one waits exactly its Retry-After.
  fake.fail({ endpoint: 'currently-playing', status: 429, retryAfterSeconds: 2, accountId: 'sp-rt' });
  const script = fake.playStreams(
    'sp-rt',
    [
      { trackIndex: A, msPlayed: 7_000 },
      { localIndex: 0, msPlayed: 12_000 },
      { trackIndex: B, msPlayed: 31_000 },
      { trackIndex: C, msPlayed: 5_000 },
      { trackIndex: A, msPlayed: 9_000 },
    ],
    { startAt: Date.now() + 5_000 },
  );

  assert.deepEqual(await setRealtimeMode(ctx, session.client, 'rt', true), { state: 'started' });
  const firstRun = (await session.client.workflow.getHandle(realtimeWorkflowId('rt')).describe()).runId;
  // Idempotent: on again, or the sync's reconciliation, finds the one running workflow.
  assert.deepEqual(await setRealtimeMode(ctx, session.client, 'rt', true), { state: 'running' });
  assert.deepEqual(await ensureRealtime(ctx, session.client, 'rt'), { state: 'running' });

  const expected = script.filter((s) => !s.inRecentlyPlayed);
  await until('the skips and the local file recorded', async () => {
    const s = await realtimeStatus(ctx, 'rt');
    return s.state.recorded.skips === 3 && s.state.recorded.local === 1 && s.state.pending === 0 && Date.now() > script.at(-1)!.endedAt + 2_000;
  });

  const calls = fake.requests.filter((r) => r.accountId === 'sp-rt' && r.path === '/v1/me/player/currently-playing');
  assert.equal(calls[0]!.status, 429);
  const waited = calls[1]!.at - calls[0]!.at;
  assert.ok(waited >= 2000 && waited < 3000, `polled again ${waited} ms after the 429 (Retry-After: 2)`);

  const stored = (await rows(
    `SELECT track_uri, ms_played, epoch_ms(ended_at) AS ended, epoch_ms(started_at) AS started, source, source_file, kind
     FROM plays WHERE user_id = 'rt' ORDER BY ended_at`,
  )) as { track_uri: string; ms_played: number; ended: number; started: number; source: string; source_file: string; kind: string }[];
  assert.deepEqual(stored.map((r) => r.track_uri), expected.map((s) => s.uri), 'each skip and the local file once, and not the listen');
  const status = await realtimeStatus(ctx, 'rt');
  for (const [i, truth] of expected.entries()) {
    const row = stored[i]!;
    assert.equal(row.source, 'api');
    assert.equal(row.source_file, 'currently-playing');
    assert.equal(row.kind, 'track');
    const estimate = status.state.lastEstimates.find((e) => Date.parse(e.endedAt) === Number(row.ended));
    assert.ok(estimate, `the estimate of ${truth.uri} is in the status`);
    const error = Math.abs(Number(row.ms_played) - truth.msPlayed);
    assert.ok(error <= estimate.errorMs, `${truth.uri}: ${row.ms_played} ms estimated, ${truth.msPlayed} ms true: off by ${error} ms, stated bound ${estimate.errorMs} ms (${estimate.method})`);
    assert.ok(error <= POLL_SECONDS * 1000, `${truth.uri}: within one poll interval (${error} ms)`);
    assert.ok(Math.abs(Number(row.ended) - truth.endedAt) <= estimate.errorMs, `${truth.uri}: ended_at within the bound`);
    assert.equal(Number(row.ended) - Number(row.started), Number(row.ms_played));
  }
  assert.ok(stored[1]!.track_uri.startsWith('spotify:local:'));
  assert.match(formatRealtimeStatus(status), /recorded: 3 skip\(s\), 1 local file play\(s\)/);

  // The sync brings the listen: every stream of the script is stored exactly once.
  const synced = await runSync(ctx, { userId: 'rt', session });
  assert.equal(synced.added, 1);
  const all = (await rows(`SELECT track_uri, source_file FROM plays WHERE user_id = 'rt' ORDER BY ended_at`)) as { track_uri: string; source_file: string }[];
  assert.deepEqual(all.map((r) => r.track_uri), script.map((s) => s.uri));
  await until('the marts rebuilt', async () => {
    const [m] = await rows(`SELECT sum(streams) AS streams, sum(skips) AS skips, sum(listens) AS listens FROM daily_rollups WHERE user_id = 'rt'`);
    return Number(m!.streams) === 5 && Number(m!.skips) === 4 && Number(m!.listens) === 1;
  }, 30_000);

  // The workflow continued as new (8 polls a run) and kept its totals.
  const handle = session.client.workflow.getHandle(realtimeWorkflowId('rt'));
  const progress = await handle.query<RealtimeProgress>('realtime');
  assert.ok(progress.runs >= 2, `continued as new (${progress.runs} runs)`);
  assert.ok(progress.polls >= 16);
  assert.equal(progress.added, 4);
  assert.notEqual((await handle.describe()).runId, firstRun);
  const executions: string[] = [];
  for await (const wf of session.client.workflow.list({ query: `WorkflowId = '${realtimeWorkflowId('rt')}'` })) executions.push(wf.runId);
  assert.ok(executions.length >= 2, `${executions.length} runs of ${realtimeWorkflowId('rt')}`);

  // The Temporal history holds counts, never a token or what was played.
  const history = JSON.stringify(await handle.fetchHistory(), (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : typeof v === 'bigint' ? String(v) : v));
  for (const s of script) {
    const name = s.localIndex !== undefined ? fake.catalogue.localFiles[s.localIndex]!.title : s.uri.split(':')[2]!;
    assert.ok(!history.includes(name), `no track in the history (${name})`);
  }
  for (const t of fake.issuedTokens()) assert.ok(!history.includes(t), 'no token in the history');

  // Off: the workflow stops, and stays stopped. It is cancelled, or, when a poll in flight already
  // read the setting (or the cancel met a continue-as-new), it ends by itself as turned off.
  assert.deepEqual(await setRealtimeMode(ctx, session.client, 'rt', false), { state: 'cancelled' });
  const ended = await until('stopped', async () => {
    const status = (await handle.describe()).status.name;
    return status !== 'RUNNING' && status;
  }, 30_000);
  assert.ok(ended === 'CANCELLED' || ended === 'COMPLETED', `stopped as ${ended}`);
  assert.deepEqual(await ensureRealtime(ctx, session.client, 'rt'), { state: 'not_running' });
  assert.equal((await rows(`SELECT count(*) AS n FROM plays WHERE user_id = 'rt'`))[0]!.n, 5);
});

test('the setting turned on elsewhere starts with the next sync; turned off, the workflow ends at its next poll', { timeout: 90_000 }, async () => {
  fake.addAccount({ id: 'sp-on' });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'on', accountId: 'sp-on' });
  fake.keepPlaying('sp-on', { seed: 3, everyMs: 40_000, skipRate: 0.5 });
  await setRealtime(ctx.layout, 'on', true); // what PATCH /api/v1/me does
  await runSync(ctx, { userId: 'on', session });
  const handle = session.client.workflow.getHandle(realtimeWorkflowId('on'));
  assert.equal((await handle.describe()).status.name, 'RUNNING', 'the sync started the realtime workflow');
  await until('a few polls', async () => (await realtimeStatus(ctx, 'on')).state.polls >= 2);
  await setRealtime(ctx.layout, 'on', false);
  const summary = await handle.result();
  assert.equal(summary.stopped, 'turned_off');
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
});

test('an account connected without user-read-currently-playing is refused with the reason', async () => {
  fake.addAccount({ id: 'sp-old' });
  const token = fake.issueRefreshToken('sp-old', { scope: 'user-read-recently-played' });
  await connectWithRefreshToken(config, ctx.layout, 'old', token);
  await assert.rejects(setRealtimeMode(ctx, session.client, 'old', true), (e: Error) => e instanceof RealtimeError && /user-read-currently-playing/.test(e.message) && /rewind login --user old/.test(e.message));
  assert.equal((await realtimeStatus(ctx, 'old')).setting, false, 'the setting stays off');
  await assert.rejects(setRealtimeMode(ctx, session.client, 'nobody', true), (e: Error) => e instanceof RealtimeError && /no Spotify account/.test(e.message));
});
