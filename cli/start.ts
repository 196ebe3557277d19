/** `rewind demo` and `rewind start` (the main job, `npm start`). */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeDemoExport } from './demo/generate.ts';
import { listUsers } from '../warehouse/users.ts';
import { queryWarehouse } from '../warehouse/query.ts';
import { connectTemporal, type Context } from './context.ts';
import { formatSummary, progressBar, runImport } from './import.ts';
import { rebuildUser } from './build.ts';

export interface DemoOptions {
  user: string;
  streams: number;
  seed: number;
  json?: boolean;
}

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

export async function startCommand(ctx: Context): Promise<void> {
  const session = await connectTemporal(ctx);
  try {
    const users = await listUsers(ctx.layout);
    if (users.length === 0) {
      ctx.log('The warehouse is empty: importing the demo export for user "demo".');
      await demoCommand(ctx, { user: 'demo', streams: 60_000, seed: 42 });
    }
    // Rolling periods (last 7/30/90/365 days) end today: refresh every user's snapshots.
    for (const u of await listUsers(ctx.layout)) await rebuildUser(ctx, u.id, []);
  } finally {
    await session.close();
  }
  const opts = { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads };
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
  out.push(
    '',
    `Temporal UI:  ${session.endpoint.uiUrl ?? `the UI of ${session.endpoint.address}`}`,
    `Ask anything: npx rewind sql "SELECT * FROM period_snapshots WHERE period_type = 'year'"`,
    `Status:       npx rewind status`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
