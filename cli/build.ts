/** `rewind build` and `rewind timezone`: rebuilding the models, then each user's dashboards site. */
import { buildSite } from '../warehouse/dashboards.ts';
import { rebuildUserModels } from '../warehouse/models.ts';
import { getUser, listUsers, setTimezone } from '../warehouse/users.ts';
import type { Context } from './context.ts';

/** Rebuild a user's models: every day (days undefined), or only the period snapshots (days = []). */
export async function rebuildUser(ctx: Context, userId: string, days?: string[]) {
  return rebuildUserModels(
    ctx.layout,
    { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads, tempDirectory: ctx.layout.tmp },
    userId,
    { days, defaultTimezone: ctx.config.defaultTimezone },
  );
}

export interface BuildOptions {
  /** Build the dashboards site after the models (default true). */
  site?: boolean;
}

/**
 * Rebuild the models of one user or all (every day), then their dashboards sites (each into
 * `<home>/site/<user>/`, served by `rewind serve` behind login).
 */
export async function buildCommand(ctx: Context, userId?: string, opts: BuildOptions = {}): Promise<void> {
  const users = userId ? [userId] : (await listUsers(ctx.layout)).map((u) => u.id);
  for (const id of users) {
    const r = await rebuildUser(ctx, id);
    process.stdout.write(`${id}: ${r.dailyRows} daily rollups, ${r.snapshotRows} period snapshots\n`);
    if (opts.site === false) continue;
    const site = await buildSite(ctx.config, id, ctx.log);
    process.stdout.write(`${id}: dashboards (${site.pages.length} pages) built in ${site.seconds.toFixed(1)} s: ${site.site}\n`);
  }
  if (users.length === 0) process.stdout.write('No users yet: import an export first (rewind import <zip> --user <id>).\n');
}

export async function timezoneCommand(ctx: Context, userId: string, timezone?: string): Promise<void> {
  if (!timezone) {
    const user = await getUser(ctx.layout, userId);
    process.stdout.write(`${user?.timezone ?? ctx.config.defaultTimezone}\n`);
    return;
  }
  const before = await getUser(ctx.layout, userId);
  await setTimezone(ctx.layout, userId, timezone);
  if (before?.timezone !== timezone) {
    const r = await rebuildUser(ctx, userId);
    process.stdout.write(`${userId}: timezone ${timezone}; rebuilt ${r.dailyRows} daily rollups and ${r.snapshotRows} period snapshots\n`);
  } else {
    process.stdout.write(`${userId}: timezone already ${timezone}\n`);
  }
}
