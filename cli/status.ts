/** `rewind status`: users, plays per source, last import, models' freshness, Spotify sync (connection, schedule, last sync, gaps). */
import Table from 'cli-table3';
import { listManifests } from '../warehouse/manifest.ts';
import { readModelState, type UserModelState } from '../warehouse/models.ts';
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

/** An ISO instant as 'YYYY-MM-DD HH:MM UTC' (the table's width; --json keeps the ISO text). */
function minuteUtc(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

/** The "last import" cell: when it was committed and how many plays it added. */
export function formatLastImport(last: { committedAt: string; playsAdded: number } | null): string {
  return last ? `${minuteUtc(last.committedAt)}\n+${last.playsAdded.toLocaleString('en-US')} plays` : '-';
}

/**
 * The "models built" cell: when each mart was last built (one line when both were built in the
 * same minute), and the time zone they were built in when it is not the user's (a change of zone
 * whose rebuild has not run).
 */
export function formatModelState(m: UserModelState | null, user: { id: string; timezone: string }): string {
  if (!m || (!m.daily_rollups && !m.period_snapshots)) return 'never';
  const daily = m.daily_rollups ? minuteUtc(m.daily_rollups) : 'never';
  const snapshots = m.period_snapshots ? minuteUtc(m.period_snapshots) : 'never';
  const lines = daily === snapshots ? [daily] : [`daily rollups ${daily}`, `period snapshots ${snapshots}`];
  if (m.timezone && m.timezone !== user.timezone) lines.push(`built for ${m.timezone}: run rewind build --user ${user.id}`);
  return lines.join('\n');
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
      formatLastImport(s.lastImport),
      formatModelState(s.models, { id: s.user, timezone: s.timezone }),
      formatSyncStatus(s.sync) + (s.realtime.setting || s.realtime.state.polls > 0 ? `\n${formatRealtimeStatus(s.realtime)}` : ''),
    ]);
  }
  process.stdout.write(`${table.toString()}\n`);
  process.stdout.write(`${formatEnrichStatus(await enrichStatus(ctx))}\n`);
}
