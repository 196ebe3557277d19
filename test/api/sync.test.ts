/**
 * The sync through the API, with the real server of `rewind serve` (worker in-process), the real
 * sync control, a real Temporal dev server and the fake Spotify: POST /sync runs a sync whose plays
 * land once, GET /sync shows the schedule and the last run, PATCH /me turns the realtime workflow
 * on and off, and another user sees none of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig } from '../../config.ts';
import { connectTemporal, createContext, type TemporalSession } from '../../cli/context.ts';
import { startServer, type RunningServer } from '../../cli/serve.ts';
import { createSyncControl } from '../../cli/sync.ts';
import { createToken } from '../../api/auth/tokens.ts';
import { configForFake, connectFakeAccount, startFakeSpotify, type FakeSpotify } from '../../spotify/fake/index.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { realtimeWorkflowId } from '../../workflows/ids.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';

let temporal: TestTemporal;
let fake: FakeSpotify;
let root: string;
let server: RunningServer;
let session: TemporalSession;
let ctx: ReturnType<typeof createContext>;
const tokens: Record<string, string> = {};

before(async () => {
  temporal = await startTestTemporal();
  fake = await startFakeSpotify({ port: 0 });
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-api-sync-'));
  const base = loadConfig({ REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: temporal.address, REWIND_REALTIME_POLL: '1' });
  ctx = createContext(configForFake(base, fake), () => undefined);
  await connectFakeAccount(ctx.config, ctx.layout, fake, { userId: 'alice', accountId: 'alice-spotify' });
  fake.generatePlays('alice-spotify', { count: 12, endAt: Date.now() - 60_000 });
  session = await connectTemporal(ctx);
  server = await startServer(ctx, { host: '127.0.0.1', port: 0, sync: createSyncControl(ctx, session) });
  assert.deepEqual(await server.temporal, { connected: true, worker: true });
  for (const u of ['alice', 'bob']) tokens[u] = (await createToken(ctx.layout, u)).token;
});

after(async () => {
  await server?.close();
  await session?.close();
  await fake?.stop();
  await temporal?.stop();
  await fs.rm(root, { recursive: true, force: true });
});

const api = (pathname: string, user: string, init: RequestInit = {}) =>
  fetch(`${server.url}/api/v1${pathname}`, { ...init, headers: { authorization: `Bearer ${tokens[user]}`, ...(init.headers ?? {}) } });

async function apiPlays(user: string): Promise<number> {
  const r = await queryWarehouse(ctx.layout, { tempDirectory: ctx.layout.tmp }, `SELECT count(*) AS n FROM plays WHERE user_id = '${user}' AND source = 'api'`);
  return Number(r.rows[0]!.n);
}

test('POST /sync runs a sync whose plays land once; GET /sync shows the schedule and the last run', { timeout: 180_000 }, async () => {
  const started = await api('/sync', 'alice', { method: 'POST' });
  assert.equal(started.status, 202);
  const { workflowId, runId } = (await started.json()) as { workflowId: string; runId: string };
  assert.equal(workflowId, 'sync:alice');
  assert.ok(runId);
  await session.client.workflow.getHandle(workflowId, runId).result();
  assert.equal(await apiPlays('alice'), 12);

  const again = await api('/sync', 'alice', { method: 'POST' });
  assert.equal(again.status, 202);
  const second = (await again.json()) as { workflowId: string; runId: string };
  await session.client.workflow.getHandle(second.workflowId, second.runId).result();
  assert.equal(await apiPlays('alice'), 12, 'a second sync adds nothing');

  const state = (await (await api('/sync', 'alice')).json()) as {
    schedule: { intervalSeconds: number; paused: boolean } | null;
    lastRun: { status: string | null } | null;
    nextRun: string | null;
  };
  assert.equal(state.schedule?.intervalSeconds, ctx.config.syncIntervalSeconds);
  assert.equal(state.schedule?.paused, false);
  assert.ok(state.lastRun?.status, 'a last run');
  assert.ok(state.nextRun && Date.parse(state.nextRun) > Date.now() - 1000, 'a next run');
});

test("another user's sync is not theirs to see or start", { timeout: 60_000 }, async () => {
  const state = (await (await api('/sync', 'bob')).json()) as { schedule: unknown; lastRun: unknown };
  assert.equal(state.schedule, null);
  assert.equal(state.lastRun, null);
  const start = await api('/sync', 'bob', { method: 'POST' });
  assert.equal(start.status, 409, 'bob has no Spotify account connected');
  const body = (await start.json()) as { code: string; message: string };
  assert.equal(body.code, 'spotify_not_connected');
  assert.match(body.message, /rewind login --user bob/);
  assert.equal(await apiPlays('bob'), 0);
});

test('PATCH /me realtime starts and stops the realtime workflow', { timeout: 120_000 }, async () => {
  const describe = async () => {
    try {
      return (await session.client.workflow.getHandle(realtimeWorkflowId('alice')).describe()).status.name;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return 'NONE';
      throw e;
    }
  };
  const on = await api('/me', 'alice', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ realtime: true }) });
  assert.equal(on.status, 200);
  assert.equal(((await on.json()) as { realtime: boolean }).realtime, true);
  assert.equal(await describe(), 'RUNNING');

  const off = await api('/me', 'alice', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ realtime: false }) });
  assert.equal(off.status, 200);
  const deadline = Date.now() + 30_000;
  let status = await describe();
  while (status === 'RUNNING' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    status = await describe();
  }
  assert.notEqual(status, 'RUNNING', 'the realtime workflow stopped');
});
