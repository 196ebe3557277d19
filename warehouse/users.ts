/**
 * Per-user settings kept in the data folder (`<home>/users/<id>.json`): for now the IANA timezone
 * that days and hours are counted in.
 */
import { promises as fs } from 'node:fs';
import { type Layout, assertUserId } from './layout.ts';
import { readJson, writeJsonAtomic } from './files.ts';

export interface UserSettings {
  id: string;
  timezone: string;
  createdAt: string;
  /** Realtime mode: sync recent plays as often as the sync allows (set through PATCH /api/v1/me). */
  realtime?: boolean;
}

export class InvalidTimezoneError extends Error {}

/** Throws unless `tz` is an IANA timezone name this runtime knows. */
export function assertTimezone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new InvalidTimezoneError(`unknown timezone "${tz}": use an IANA name such as "Europe/Berlin"`);
  }
  return tz;
}

export async function getUser(layout: Layout, userId: string): Promise<UserSettings | undefined> {
  return readJson<UserSettings>(layout.userSettings(assertUserId(userId)));
}

/** The user's settings, created with `defaultTimezone` on first use. */
export async function ensureUser(layout: Layout, userId: string, defaultTimezone = 'UTC'): Promise<UserSettings> {
  const existing = await getUser(layout, userId);
  if (existing) return existing;
  const created: UserSettings = { id: userId, timezone: assertTimezone(defaultTimezone), createdAt: new Date().toISOString() };
  await writeJsonAtomic(layout.userSettings(userId), created);
  return created;
}

export async function setTimezone(layout: Layout, userId: string, timezone: string): Promise<UserSettings> {
  const user = await ensureUser(layout, userId);
  const updated = { ...user, timezone: assertTimezone(timezone) };
  await writeJsonAtomic(layout.userSettings(userId), updated);
  return updated;
}

export async function setRealtime(layout: Layout, userId: string, realtime: boolean): Promise<UserSettings> {
  const user = await ensureUser(layout, userId);
  const updated = { ...user, realtime };
  await writeJsonAtomic(layout.userSettings(userId), updated);
  return updated;
}

export async function listUsers(layout: Layout): Promise<UserSettings[]> {
  let names: string[] = [];
  try {
    names = await fs.readdir(layout.usersDir);
  } catch {
    return [];
  }
  const users = await Promise.all(
    names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => getUser(layout, n.slice(0, -5))),
  );
  return users.filter((u): u is UserSettings => u !== undefined).sort((a, b) => a.id.localeCompare(b.id));
}
