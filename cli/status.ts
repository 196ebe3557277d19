/** `rewind status`: users, plays per source, last import, models' freshness, Spotify sync (connection, schedule, last sync, gaps). */
import Table from 'cli-table3';
import { listManifests } from '../warehouse/manifest.ts';
import { readModelState } from '../warehouse/models.ts';
import { queryWarehouse } from '../warehouse/query.ts';
import { listUsers } from '../warehouse/users.ts';
import type { Context } from './context.ts';
import { formatSyncStatus, syncStatus } from './sync.ts';
import { formatRealtimeStatus, realtimeStatus } from './realtime.ts';
import { enrichStatus, formatEnrichStatus } from './enrich.ts';
import { enrichmentBacklog } from '../warehouse/catalog.ts';

export async function collectStatus(ctx: Context) {
  const users = await listUsers(ctx.layout);
  const counts = await queryWarehouse(
    ctx.layout,
    { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads },
    `SELECT user_id, source, count(*) AS plays, min(ended_at)::VARCHAR AS first, max(ended_at)::VARCHAR AS last FROM plays GROUP BY ALL ORDER BY ALL`,
  );
  const models = await readModelState(ctx.layout);
  return Promise.all(
    users.map(async (u) => {
      const imports = await listManifests(ctx.layout, u.id);
      const last = imports.at(-1);
      const rows = counts.rows.filter((r) => r.user_id === u.id);
      return {
        user: u.id,
        timezone: u.timezone,
        plays: Object.fromEntries(rows.map((r) => [String(r.source), Number(r.plays)])),
        firstPlay: rows.map((r) => String(r.first)).sort()[0] ?? null,
        lastPlay: rows.map((r) => String(r.last)).sort().at(-1) ?? null,
        imports: imports.length,
        lastImport: last ? { importId: last.importId, committedAt: last.committedAt, playsAdded: last.playsAdded } : null,
        models: models[u.id] ?? null,
        sync: await syncStatus(ctx, u.id),
        realtime: await realtimeStatus(ctx, u.id),
        // The catalog's backlog among this user's plays (the enrichment is shared: see `rewind enrich`).
        enrichment: await enrichmentBacklog(ctx.layout, { userId: u.id, db: { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads, tempDirectory: ctx.layout.tmp } }),
      };
    }),
  );
}

export async function statusCommand(ctx: Context, json: boolean): Promise<void> {
  const status = await collectStatus(ctx);
  if (json) {
    process.stdout.write(`${JSON.stringify(status)}\n`);
    return;
  }
  if (status.length === 0) {
    process.stdout.write(`No users yet in ${ctx.layout.home}. Import an export: rewind import <zip> --user <id>\n`);
    return;
  }
  const table = new Table({ head: ['user', 'tz', 'plays by source', 'first play', 'last play', 'last import', 'models built', 'spotify sync'], style: { head: [], border: [] } });
  for (const s of status) {
    table.push([
      s.user,
      s.timezone,
      Object.entries(s.plays).map(([k, v]) => `${k}: ${v.toLocaleString('en-US')}`).join('\n') || '-',
      s.firstPlay ?? '-',
      s.lastPlay ?? '-',
      s.lastImport ? `${s.lastImport.committedAt} (+${s.lastImport.playsAdded})` : '-',
      s.models ? JSON.stringify(s.models) : 'never',
      formatSyncStatus(s.sync) + (s.realtime.setting || s.realtime.state.polls > 0 ? `\n${formatRealtimeStatus(s.realtime)}` : ''),
    ]);
  }
  process.stdout.write(`${table.toString()}\n`);
  process.stdout.write(`${formatEnrichStatus(await enrichStatus(ctx))}\n`);
}
