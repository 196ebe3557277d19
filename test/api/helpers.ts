/**
 * A warehouse with two users (alice, bob) of known plays, their marts built, API tokens for both,
 * and the app built on it. Real DuckDB, real Parquet, the real models.
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../config.ts';
import { createContext } from '../../cli/context.ts';
import { Layout } from '../../warehouse/layout.ts';
import { rebuildUserModels } from '../../warehouse/models.ts';
import { ensureUser } from '../../warehouse/users.ts';
import { buildApp } from '../../api/app.ts';
import { createToken } from '../../api/auth/tokens.ts';
import { createTemporalImports } from '../../api/imports.ts';
import type { AppDeps } from '../../api/deps.ts';
import { writePlays, type PlayInput } from '../helpers/plays.ts';
import { reachable } from '../../worker/temporal-server.ts';

export interface Fixture {
  root: string;
  config: Config;
  layout: Layout;
  app: FastifyInstance;
  tokens: { alice: string; bob: string; carol: string };
  close(): Promise<void>;
}

/** Alice: plays in 2023 and 2024 (artists A1..A3). Bob: plays in 2022 only (artists B1, B2). Carol: none. */
export function alicePlays(): PlayInput[] {
  const rows: PlayInput[] = [];
  // 2023-07: two sessions on 2023-07-01 (A1 x3, then 2 hours later A2 x2), a skip.
  const t0 = Date.parse('2023-07-01T10:00:00Z');
  for (let i = 0; i < 3; i++) rows.push({ artist_name: 'A1', track_name: `T1-${i}`, album_name: 'Al1', started_at: new Date(t0 + i * 200_000), ms_played: 180_000 });
  for (let i = 0; i < 2; i++) rows.push({ artist_name: 'A2', track_name: `T2-${i}`, album_name: 'Al2', started_at: new Date(t0 + 2 * 3600_000 + i * 200_000), ms_played: 180_000 });
  rows.push({ artist_name: 'A2', track_name: 'T2-skip', album_name: 'Al2', started_at: new Date(t0 + 3 * 3600_000), ms_played: 5_000 });
  // 2023-07-02 and 07-03: a three-day streak.
  rows.push({ artist_name: 'A1', track_name: 'T1-0', album_name: 'Al1', started_at: '2023-07-02T08:00:00Z', ms_played: 200_000 });
  rows.push({ artist_name: 'A1', track_name: 'T1-0', album_name: 'Al1', started_at: '2023-07-03T08:00:00Z', ms_played: 200_000 });
  // 2024-01-15: a new artist A3 (first heard in 2024), an episode.
  rows.push({ artist_name: 'A3', track_name: 'T3', album_name: 'Al3', started_at: '2024-01-15T20:00:00Z', ms_played: 240_000, source: 'account_export', time_precision: 'minute' });
  rows.push({ kind: 'episode', show_name: 'Show', episode_name: 'Ep', started_at: '2024-01-15T21:00:00Z', ms_played: 600_000 });
  return rows;
}

export function bobPlays(): PlayInput[] {
  const rows: PlayInput[] = [];
  for (let i = 0; i < 4; i++) rows.push({ artist_name: 'B1', track_name: `BT${i}`, album_name: 'BA', started_at: new Date(Date.parse('2022-03-05T12:00:00Z') + i * 190_000), ms_played: 185_000 });
  rows.push({ artist_name: 'B2', track_name: 'Secret', album_name: 'BB', started_at: '2022-03-06T12:00:00Z', ms_played: 100_000 });
  return rows;
}

export async function makeFixture(opts: { deps?: Partial<AppDeps>; env?: Record<string, string>; temporalAddress?: string } = {}): Promise<Fixture> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rewind-api-test-'));
  const config = loadConfig({ REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: opts.temporalAddress ?? '127.0.0.1:1', ...opts.env });
  const layout = new Layout(config.home);
  const dbOptions = { threads: 1, memoryLimit: '256MB', tempDirectory: layout.tmp };
  await ensureUser(layout, 'alice', 'UTC');
  await ensureUser(layout, 'bob', 'UTC');
  await writePlays(layout, 'alice', alicePlays());
  await writePlays(layout, 'bob', bobPlays());
  await rebuildUserModels(layout, dbOptions, 'alice');
  await rebuildUserModels(layout, dbOptions, 'bob');
  const tokens = {
    alice: (await createToken(layout, 'alice', 'test')).token,
    bob: (await createToken(layout, 'bob', 'test')).token,
    carol: (await createToken(layout, 'carol', 'test')).token,
  };
  const ctx = createContext(config, () => undefined);
  const imports = createTemporalImports(ctx);
  // Temporal is not running for these tests (TEMPORAL_ADDRESS points at a closed port): /ready says so.
  const app = await buildApp({ config, layout, imports, temporalReady: () => reachable(config.temporal.address!, 300), ...opts.deps });
  return {
    root,
    config,
    layout,
    app,
    tokens,
    async close() {
      await app.close();
      await imports.close();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
