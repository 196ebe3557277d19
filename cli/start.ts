/**
 * `rewind demo` and `rewind start` (the main job, `npm start`).
 *
 * `rewind start` brings the whole system up on embedded defaults and keeps it running until
 * interrupted: Temporal (embedded dev server unless TEMPORAL_ADDRESS is reachable), the demo
 * export imported when the warehouse is empty, the models and every user's dashboards built, the
 * API server with a worker in this process (it runs the imports, the schedules' syncs and the
 * realtime polls), and, when no Spotify app is configured (SPOTIFY_CLIENT_ID unset), the fake
 * Spotify with user `demo` connected to a listener who keeps playing, so the sync schedule brings
 * new plays in within minutes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeDemoExport } from './demo/generate.ts';
import { listUsers } from '../warehouse/users.ts';
import { queryWarehouse } from '../warehouse/query.ts';
import { buildSite } from '../warehouse/dashboards.ts';
import { configForFake, connectFakeAccount, startFakeSpotify, type FakeSpotify } from '../spotify/fake/index.ts';
import { syncWorkflowId } from '../workflows/ids.ts';
import { connectTemporal, createContext, type Context, type TemporalSession } from './context.ts';
import { formatSummary, progressBar, runImport } from './import.ts';
import { rebuildUser } from './build.ts';
import { createSyncControl, ensureSyncSchedule } from './sync.ts';
import { startServer } from './serve.ts';

export interface DemoOptions {
  user: string;
  streams: number;
  seed: number;
  json?: boolean;
}

/** The demo user's Spotify account on the fake Spotify, and how often the demo syncs. */
const DEMO_ACCOUNT = 'rewind-demo';
const DEMO_SYNC_SECONDS = 60;
/** The fake demo listener starts a new track every 3 minutes. */
const DEMO_PLAY_EVERY_MS = 180_000;

/** Today at 00:00 UTC: the demo's history ends yesterday, so its rolling periods are full. */
function demoEndDate(): Date {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - 86_400_000);
}

export async function demoCommand(ctx: Context, opts: DemoOptions): Promise<void> {
  const zip = path.join(ctx.layout.home, 'demo', `my_spotify_data-${opts.seed}-${opts.streams}.zip`);
  ctx.log(`Writing a synthetic export of about ${opts.streams.toLocaleString('en-US')} streams to ${zip} ...`);
  await fs.mkdir(path.dirname(zip), { recursive: true });
  await writeDemoExport(zip, { seed: opts.seed, streams: opts.streams, endDate: demoEndDate() });
  const bar = opts.json ? undefined : progressBar();
  const summary = await runImport(ctx, { paths: [zip], userId: opts.user, onProgress: bar?.update });
  bar?.stop();
  process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
}

/**
 * The demo's Spotify: the fake, with `demo` connected to a listener who has been playing for the
 * last hour and keeps playing. Returns a context whose configuration points at the fake.
 */
async function startDemoSpotify(ctx: Context, session: TemporalSession): Promise<{ ctx: Context; fake: FakeSpotify }> {
  const fake = await startFakeSpotify({ port: 0 });
  const demoCtx = createContext(configForFake(ctx.config, fake), ctx.log);
  // The fake forgets its tokens when it stops: connect again on every start (also resumes a paused schedule).
  await connectFakeAccount(demoCtx.config, demoCtx.layout, fake, { userId: 'demo', accountId: DEMO_ACCOUNT, displayName: 'Rewind demo' });
  fake.keepPlaying(DEMO_ACCOUNT, { seed: 7, startAt: Date.now() - 3_600_000, everyMs: DEMO_PLAY_EVERY_MS, skipRate: 0.15, localRate: 0.03 });
  await ensureSyncSchedule(demoCtx, session.client, 'demo', { intervalSeconds: DEMO_SYNC_SECONDS, unpause: true });
  // First sync now rather than at the next interval.
  await session.client.schedule.getHandle(syncWorkflowId('demo')).trigger();
  return { ctx: demoCtx, fake };
}

async function printSummary(ctx: Context): Promise<string[]> {
  const opts = { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads, tempDirectory: ctx.layout.tmp };
  const totals = await queryWarehouse(
    ctx.layout,
    opts,
    `SELECT user_id, count(*) AS plays, round(sum(ms_played) / 3600000.0, 1) AS hours,
            min(ended_at)::DATE::VARCHAR AS first, max(ended_at)::DATE::VARCHAR AS last
     FROM plays GROUP BY user_id ORDER BY user_id`,
  );
  const top = await queryWarehouse(
    ctx.layout,
    opts,
    `SELECT user_id, a.rank, a.artist_name, a.plays
     FROM period_snapshots, unnest(top_artists) AS t(a)
     WHERE period_type = 'all_time' AND a.rank <= 5 ORDER BY user_id, a.rank`,
  );
  const out: string[] = ['', `Rewind warehouse: ${ctx.layout.warehouse}`];
  for (const t of totals.rows) {
    out.push(`  ${t.user_id}: ${Number(t.plays).toLocaleString('en-US')} plays, ${t.hours} hours, ${t.first} .. ${t.last}`);
    const artists = top.rows.filter((r) => r.user_id === t.user_id).map((r) => `${r.rank}. ${r.artist_name} (${r.plays})`);
    if (artists.length) out.push(`    top artists of all time: ${artists.join(', ')}`);
  }
  return out;
}

export async function startCommand(ctx: Context): Promise<void> {
  const session = await connectTemporal(ctx);
  let fake: FakeSpotify | undefined;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    if ((await listUsers(ctx.layout)).length === 0) {
      ctx.log('The warehouse is empty: importing the demo export for user "demo".');
      await demoCommand(ctx, { user: 'demo', streams: 60_000, seed: 42 });
    }
    let runCtx = ctx;
    if (!ctx.config.spotify.clientId) {
      const demo = await startDemoSpotify(ctx, session);
      runCtx = demo.ctx;
      fake = demo.fake;
    }
    // Rolling periods (last 7/30/90/365 days) end today: refresh every user's snapshots, then their sites.
    const users = (await listUsers(ctx.layout)).map((u) => u.id);
    for (const id of users) await rebuildUser(ctx, id, []);
    for (const id of users) {
      ctx.log(`Building the dashboards of "${id}" ...`);
      await buildSite(ctx.config, id, ctx.log);
    }
    server = await startServer(runCtx, { sync: createSyncControl(runCtx, session) });
    const out = await printSummary(ctx);
    out.push(
      '',
      `Dashboards:   ${server.url}/  (${fake ? 'log in with "Log in with Spotify": the demo Spotify signs you in as demo' : 'log in with Spotify, or an API token from "npx rewind token create --user <id>"'})`,
      `API:          ${server.url}/api/v1  (docs: ${server.url}/api/docs)`,
      `Temporal UI:  ${session.endpoint.uiUrl ?? `the UI of ${session.endpoint.address}`}`,
      fake
        ? `Sync:         user demo is connected to a demo Spotify that keeps playing; its schedule sync:demo runs every ${DEMO_SYNC_SECONDS} s`
        : `Sync:         npx rewind login --user <id> connects a Spotify account; its schedule syncs every ${Math.round(ctx.config.syncIntervalSeconds / 60)} min`,
      `Ask anything: npx rewind sql "SELECT * FROM period_snapshots WHERE period_type = 'year'"`,
      '',
      'Rewind is running. Press Ctrl-C to stop.',
    );
    process.stdout.write(`${out.join('\n')}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    ctx.log('Stopping ...');
  } finally {
    await server?.close();
    await fake?.stop();
    await session.close();
  }
}
