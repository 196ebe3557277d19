/**
 * What the API needs from the rest of Rewind, passed to `buildApp` (so tests and `rewind serve`
 * build it the same way, and the sync can be plugged in when it exists).
 */
import type { Config } from '../config.ts';
import type { Layout } from '../warehouse/layout.ts';
import type { ImportProgress, ImportSummary } from '../workflows/import.ts';
import type { AnalyticsReader } from '../warehouse/analytics.ts';

/** The counts of an import, as the workflow's summary reports them. */
export type ImportCounts = Pick<
  ImportSummary,
  'filesRead' | 'rowsRead' | 'playsAdded' | 'duplicatesSkipped' | 'accountRowsSuperseded' | 'rowsRejected'
>;

/** One import as the API shows it. */
export interface ImportInfo {
  importId: string;
  /** running: the workflow works on it; imported: committed (manifest written); failed: the workflow failed. */
  status: 'running' | 'imported' | 'failed';
  startedAt: string | null;
  finishedAt: string | null;
  /** The workflow's live progress while running (its `progress` query). */
  progress: ImportProgress | null;
  /** Counts, once imported. */
  result: ImportCounts | null;
  /** Why it failed (names the archive entry and the reason for a bad export). */
  error: string | null;
}

/** Starting and following imports (implemented on Temporal in api/imports.ts). */
export interface ImportControl {
  /** Start the import workflow of an uploaded archive (or join the run already going). */
  start(userId: string, upload: { path: string; sha256: string }): Promise<ImportInfo & { alreadyImported: boolean }>;
  /** One import of the user, or undefined when the user has no such import. */
  get(userId: string, importId: string): Promise<ImportInfo | undefined>;
  /** The user's imports, newest first. */
  list(userId: string): Promise<ImportInfo[]>;
}

export interface SyncRunInfo {
  workflowId?: string;
  runId?: string;
  status?: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  playsAdded?: number | null;
  error?: string | null;
}

export interface SyncDescription {
  schedule: { intervalSeconds: number; paused: boolean; note?: string } | null;
  lastRun?: SyncRunInfo | null;
  nextRun?: string | null;
  /** Tracks waiting for metadata enrichment, when the sync tracks it. */
  enrichmentBacklog?: number | null;
}

/** The Spotify sync (implemented by the sync issue); the /sync routes answer 503 without it. */
export interface SyncControl {
  start(userId: string): Promise<{ workflowId: string; runId: string }>;
  describe(userId: string): Promise<SyncDescription>;
  /** Start or stop the user's realtime workflow to match their `realtime` setting. */
  applyRealtime?(userId: string): Promise<void>;
}

export interface AppDeps {
  config: Config;
  layout: Layout;
  imports: ImportControl;
  sync?: SyncControl;
  /** Is Temporal reachable right now? (GET /ready) */
  temporalReady(): Promise<boolean>;
  /** A reader to use instead of opening one (the app then does not close it). */
  reader?: AnalyticsReader;
  /** Fastify's logger: false (default) or pino options. */
  logger?: boolean | Record<string, unknown>;
}
