/**
 * The live sync end to end: a real Temporal dev server, a real worker, real DuckDB and Parquet, and
 * the fake Spotify (the only stand-in). The schedule fires and plays land once; a 429's Retry-After
 * is honoured to the second by a durable retry; a revoked token stops one user (schedule paused,
 * "reconnect needed") and not another; a sync during an import loses and duplicates nothing; a gap
 * is recorded when more than 50 plays were missed; no token ever reaches the Temporal history.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { type Config } from '../../config.ts';
import { createContext, type Context, type TemporalSession } from '../../cli/context.ts';
import { runImport } from '../../cli/import.ts';
import { ensureSyncSchedule, formatSyncStatus, runSync, syncStatus, SyncFailedError, type SyncWatch } from '../../cli/sync.ts';
import { writeDemoExport } from '../../cli/demo/generate.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { listGaps, readSyncState } from '../../spotify/sync-state.ts';
import { tokenStore } from '../../spotify/connect.ts';
import { connectFakeAccount, type FakeSpotify } from '../../spotify/fake/index.ts';
import { syncWorkflowId } from '../../workflows/ids.ts';
import { startSpotifyE2E, type SpotifyE2E } from '../helpers/spotify-e2e.ts';
import { until as waitUntil } from '../helpers/until.ts';

let fake: FakeSpotify;
let home: string;
let config: Config;
let ctx: Context;
/** The same data folder, with a schedule interval long enough that it never fires during a test. */
let manual: Context;
let session: TemporalSession;
let e2e: SpotifyE2E;

before(async () => {
  e2e = await startSpotifyE2E({ name: 'sync', env: { REWIND_SYNC_INTERVAL: '2s', REWIND_IMPORT_CONCURRENCY: '1' } });
  ({ fake, home, config, ctx, session } = e2e);
  manual = createContext({ ...config, syncIntervalSeconds: 3600 }, () => undefined);
});

after(async () => {
  await e2e?.stop();
});

async function count(sql: string): Promise<Record<string, unknown>> {
  return (await queryWarehouse(ctx.layout, {}, sql)).rows[0]!;
}

/** Waits at most 60,000 ms, polling every 250 ms. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000) => waitUntil<T>(what, fn, timeoutMs, 250);

async function deleteSchedule(userId: string): Promise<void> {
  await session.client.schedule.getHandle(syncWorkflowId(userId)).delete();
}

test('the schedule fires and plays land once; new plays arrive on the next run', { timeout: 120_000 }, async () => {
  fake.addAccount({ id: 'sp-ana' });
  const plays = fake.generatePlays('sp-ana', { count: 30, endAt: Date.now() - 60_000, everyMs: 200_000, seed: 1 });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'ana', accountId: 'sp-ana' });
  const created = await ensureSyncSchedule(ctx, session.client, 'ana');
  assert.equal(created.created, true);
  const d = await session.client.schedule.getHandle('sync:ana').describe();
  assert.equal(d.policies.overlap, 'SKIP');
  assert.equal(Number(d.spec.intervals?.[0]?.every), 2000);

  await until('the first scheduled sync', async () => (await readSyncState(ctx.layout, 'ana')).lastRun?.status === 'ok');
  const first = await count(`SELECT count(*) AS n, count(DISTINCT ended_at) AS t, min(source) AS s FROM plays WHERE user_id = 'ana'`);
  assert.deepEqual(first, { n: 30, t: 30, s: 'api' });
  const firstRun = (await readSyncState(ctx.layout, 'ana')).lastRun!.startedAt;

  // Later runs find nothing new and store nothing twice; then new plays arrive.
  await until('another scheduled run', async () => {
    const s = await readSyncState(ctx.layout, 'ana');
    return s.lastRun?.status === 'ok' && s.lastRun.startedAt !== firstRun;
  });
  assert.equal((await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'ana'`)).n, 30);
  const added = fake.addPlays('sp-ana', [1, 2, 3, 4, 5].map((k) => ({ playedAt: Date.now() - 50_000 + k * 1000, trackIndex: k })));
  const newest = added.at(-1)!.playedAt;
  await until('the new plays', async () => (await readSyncState(ctx.layout, 'ana')).cursor === newest && (await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'ana'`)).n === 35);
  assert.ok(newest > plays.at(-1)!.playedAt);
  await until('the affected days rebuilt', async () => (await count(`SELECT sum(streams) AS n FROM daily_rollups WHERE user_id = 'ana'`)).n === 35);
  const actions = (await session.client.schedule.getHandle('sync:ana').describe()).info.recentActions;
  assert.ok(actions.length >= 2, `the schedule started the runs (${actions.length})`);
  await deleteSchedule('ana');
});

test('a 429 is honoured for exactly its Retry-After, by a durable retry', { timeout: 60_000 }, async () => {
  fake.addAccount({ id: 'sp-bo' });
  fake.generatePlays('sp-bo', { count: 4, endAt: Date.now() - 30_000, seed: 2 });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'bo', accountId: 'sp-bo' });
  fake.fail({ endpoint: 'recently-played', status: 429, retryAfterSeconds: 3, accountId: 'sp-bo' });
  const seen: SyncWatch[] = [];
  const summary = await runSync(manual, { userId: 'bo', session, onProgress: (p) => seen.push(p) });
  await deleteSchedule('bo');
  assert.equal(summary.added, 4);

  const calls = fake.requests.filter((r) => r.accountId === 'sp-bo' && r.path === '/v1/me/player/recently-played');
  assert.equal(calls.length, 2, 'one refused call, one retry: no loop');
  assert.equal(calls[0]!.status, 429);
  assert.equal(calls[1]!.status, 200);
  const waited = calls[1]!.at - calls[0]!.at;
  assert.ok(waited >= 3000 && waited < 4000, `retried ${waited} ms after the 429 (Retry-After: 3)`);
  assert.ok(seen.some((p) => p.waiting && /retry after 3 s/.test(p.waiting.reason)), 'the wait was shown as progress');

  // The wait is Temporal's: the activity failed once with nextRetryDelay 3 s and was retried as attempt 2.
  const history = await session.client.workflow.getHandle('sync:bo').fetchHistory();
  const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
  assert.ok(started.some((e) => e.activityTaskStartedEventAttributes!.attempt === 2));
  const failure = started.map((e) => e.activityTaskStartedEventAttributes!.lastFailure).find((f) => f);
  assert.equal(failure?.applicationFailureInfo?.type, 'RateLimited');
  assert.equal(Number(failure?.applicationFailureInfo?.nextRetryDelay?.seconds), 3);
});

test('a revoked token stops that user (schedule paused, reconnect needed) and not another', { timeout: 120_000 }, async () => {
  for (const u of ['cy', 'di']) {
    fake.addAccount({ id: `sp-${u}` });
    fake.generatePlays(`sp-${u}`, { count: 3, endAt: Date.now() - 120_000, seed: 3 });
    await connectFakeAccount(config, ctx.layout, fake, { userId: u, accountId: `sp-${u}` });
  }
  fake.revoke('sp-cy');
  fake.expireAccessTokens('sp-cy');
  for (const u of ['cy', 'di']) await ensureSyncSchedule(ctx, session.client, u);

  await until('cy paused', async () => (await session.client.schedule.getHandle('sync:cy').describe()).state.paused);
  const paused = await session.client.schedule.getHandle('sync:cy').describe();
  assert.match(paused.state.note ?? '', /^reconnect needed/);
  const cyHandle = session.client.workflow.getHandle(paused.info.recentActions.at(-1)!.action.workflow.workflowId);
  await assert.rejects(cyHandle.result(), (e: Error & { cause?: { message?: string; nonRetryable?: boolean } }) => /reconnect needed/.test(e.cause?.message ?? '') && e.cause?.nonRetryable === true);
  const cyStatus = await syncStatus(ctx, 'cy');
  assert.equal(cyStatus.lastRun?.status, 'reconnect_needed');
  assert.match(cyStatus.reconnectNeeded ?? '', /invalid_grant/);
  assert.match(formatSyncStatus(cyStatus), /RECONNECT NEEDED/);
  assert.match(formatSyncStatus(cyStatus), /PAUSED/);
  await assert.rejects(runSync(ctx, { userId: 'cy', session }), (e: Error) => e instanceof SyncFailedError && /reconnect needed/.test(e.message));

  // di carries on: its plays land, and later ones too.
  await until('di synced', async () => (await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'di'`)).n === 3);
  fake.addPlays('sp-di', [{ playedAt: Date.now() - 1000, trackIndex: 11 }]);
  await until('di synced again', async () => (await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'di'`)).n === 4);
  assert.equal((await session.client.schedule.getHandle('sync:di').describe()).state.paused, false);
  assert.equal((await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'cy'`)).n, 0);

  // Connecting again resumes the schedule.
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'cy', accountId: 'sp-cy' });
  await ensureSyncSchedule(ctx, session.client, 'cy', { unpause: true });
  await until('cy synced after reconnecting', async () => (await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'cy'`)).n === 3);
  await Promise.all(['cy', 'di'].map(deleteSchedule));
});

test('a sync during an import loses and duplicates nothing', { timeout: 180_000 }, async () => {
  const zip = path.join(home, 'export.zip');
  await writeDemoExport(zip, { streams: 20_000, seed: 5, endDate: new Date(Date.UTC(2025, 11, 31)), years: 2, rowsPerFile: 4000 });
  fake.addAccount({ id: 'sp-ed' });
  // Plays after the export's end (API plays the export does not hold).
  fake.generatePlays('sp-ed', { count: 40, endAt: Date.now() - 60_000, everyMs: 240_000, seed: 6 });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'ed', accountId: 'sp-ed' });

  let syncDuringImport: Promise<unknown> | undefined;
  const summary = await runImport(ctx, {
    paths: [zip],
    userId: 'ed',
    session,
    onProgress: (p) => {
      if (!syncDuringImport && (p.phase === 'staging' || p.phase === 'merging')) syncDuringImport = runSync(manual, { userId: 'ed', session });
    },
  });
  assert.ok(syncDuringImport, 'the sync started while the import ran');
  const synced = (await syncDuringImport) as { added: number };
  assert.equal(synced.added, 40);
  assert.equal(summary.status, 'imported');

  const bySource = (await queryWarehouse(ctx.layout, {}, `SELECT source, count(*) AS n FROM plays WHERE user_id = 'ed' GROUP BY ALL ORDER BY ALL`)).rows;
  assert.deepEqual(bySource, [{ source: 'api', n: 40 }, { source: 'extended_export', n: summary.playsAdded }]);
  const keys = await count(`SELECT count(*) AS n, count(DISTINCT (source, ended_at, ms_played, occurrence)) AS k FROM plays WHERE user_id = 'ed'`);
  assert.equal(keys.n, keys.k, 'no stream stored twice');
  const again = await runSync(manual, { userId: 'ed', session });
  assert.equal(again.added, 0);
  assert.equal((await runImport(ctx, { paths: [zip], userId: 'ed', session })).status, 'already_imported');
  assert.equal((await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'ed'`)).n, summary.playsAdded + 40);
  const rollups = await count(`SELECT sum(streams) AS n FROM daily_rollups WHERE user_id = 'ed'`);
  assert.equal(rollups.n, summary.playsAdded + 40, 'the marts count every play once');
  await deleteSchedule('ed');
});

test('more than 50 plays missed between two syncs: a gap is recorded and shown', { timeout: 60_000 }, async () => {
  fake.addAccount({ id: 'sp-fa' });
  const early = fake.generatePlays('sp-fa', { count: 10, endAt: Date.now() - 30 * 60 * 60_000, everyMs: 200_000, seed: 7 });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'fa', accountId: 'sp-fa' });
  const first = await runSync(manual, { userId: 'fa', session });
  assert.equal(first.added, 10);
  assert.equal(first.gap, null);

  // 49 new plays: all reachable, no gap.
  const next = fake.generatePlays('sp-fa', { count: 49, endAt: Date.now() - 20 * 60 * 60_000, everyMs: 200_000, seed: 8 });
  assert.equal((await runSync(manual, { userId: 'fa', session })).gap, null);
  // 70 more: only the last 50 are reachable.
  const missed = fake.generatePlays('sp-fa', { count: 70, endAt: Date.now() - 60_000, everyMs: 200_000, seed: 9 });
  const third = await runSync(manual, { userId: 'fa', session });
  await deleteSchedule('fa');
  assert.equal(third.fetched, 50);
  assert.ok(third.gap);
  assert.equal(third.gap.from, new Date(next.at(-1)!.playedAt).toISOString());
  assert.equal(third.gap.to, new Date(missed[20]!.playedAt).toISOString());
  assert.ok(early.length + next.length + 50 === (await count(`SELECT count(*) AS n FROM plays WHERE user_id = 'fa'`)).n);

  const gaps = await listGaps(ctx.layout, 'fa');
  assert.deepEqual(gaps.map((g) => [g.userId, g.from, g.to]), [['fa', third.gap.from, third.gap.to]]);
  assert.match(gaps[0]!.suggestion, /import/);
  assert.deepEqual((await listGaps(ctx.layout)).map((g) => g.userId), ['fa']);
  assert.match(formatSyncStatus(await syncStatus(ctx, 'fa')), /GAP .* import an export/);
});

test('no token ever reaches the Temporal history', { timeout: 60_000 }, async () => {
  const secrets = new Set(fake.issuedTokens());
  for (const c of await tokenStore(config, ctx.layout).connections()) {
    const s = await tokenStore(config, ctx.layout).secrets(c.userId);
    if (s?.accessToken) secrets.add(s.accessToken);
    if (s) secrets.add(s.refreshToken);
  }
  assert.ok(secrets.size > 10);
  let workflows = 0;
  for await (const wf of session.client.workflow.list()) {
    const history = await session.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const text = JSON.stringify(history, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : typeof v === 'bigint' ? String(v) : v));
    for (const s of secrets) assert.ok(!text.includes(s), `a token appears in the history of ${wf.workflowId}`);
    assert.ok(!/Bearer [A-Za-z0-9]/.test(text));
    workflows += 1;
  }
  assert.ok(workflows >= 8, `looked at ${workflows} workflow histories (syncs that succeeded, waited out a 429, failed on invalid_grant)`);
});
