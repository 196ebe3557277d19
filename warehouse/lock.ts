/**
 * One writer per user: every change to a user's plays and marts happens under that user's lock
 * (a lock file in `<home>/locks/`, held by whichever process writes; stale after a crash).
 */
import { closeSync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { type Layout, assertUserId } from './layout.ts';

export async function withUserLock<T>(layout: Layout, userId: string, fn: () => Promise<T>): Promise<T> {
  return withLock(layout, `user-${assertUserId(userId)}`, fn);
}

/** Hold the named lock of the data folder while `fn` runs (across processes). */
export async function withLock<T>(layout: Layout, name: string, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(layout.locks, { recursive: true });
  const target = path.join(layout.locks, `${name}.lock`);
  closeSync(openSync(target, 'a'));
  const release = await lockfile.lock(target, {
    stale: 30_000,
    update: 5_000,
    retries: { retries: 1_000, minTimeout: 100, maxTimeout: 2_000 },
  });
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
