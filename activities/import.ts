/**
 * Activities of the import workflow. Each is idempotent: a retry (after a crash, a killed worker
 * or a timeout) finds its own earlier output and does not repeat or double it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Context, ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../config.ts';
import { Db, type DbOptions } from '../warehouse/duckdb.ts';
import { type Layout, safeName } from '../warehouse/layout.ts';
import { BadExportFileError, mergeStaged, stageFile, type MergeResult, type StageResult } from '../warehouse/plays.ts';
import { readJson, writeJsonAtomic } from '../warehouse/files.ts';
import { withUserLock } from '../warehouse/lock.ts';
import { readManifest, writeManifest, type ImportManifest } from '../warehouse/manifest.ts';
import { ensureUser } from '../warehouse/users.ts';
import { rebuildUserModels } from '../warehouse/models.ts';
import { ExportInputError, extractEntry, inspectExport, type HistoryEntry } from './export/archive.ts';

/** '1GB', '512MB', '1.5GB' -> bytes. */
function parseMemory(text: string): number {
  const m = /^\s*([\d.]+)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i.exec(text);
  if (!m) return 1024 ** 3;
  const unit = (m[2] ?? 'B').toUpperCase().replace('I', '');
  const power = { B: 0, KB: 1, MB: 2, GB: 3, TB: 4 }[unit as 'B'] ?? 0;
  return Number(m[1]) * 1024 ** power;
}

export interface ActivityDeps {
  config: Config;
  layout: Layout;
}

export interface InspectInput {
  userId: string;
  importId: string;
  paths: string[];
}

export interface InspectResult {
  history: HistoryEntry[];
  ignored: string[];
  totalBytes: number;
  /** Set when this import was committed before: the manifest of that import. */
  alreadyImported: ImportManifest | undefined;
}

export interface StageInput {
  userId: string;
  importId: string;
  paths: string[];
  entry: HistoryEntry;
  index: number;
}

export interface StageBatchInput {
  userId: string;
  importId: string;
  paths: string[];
  /** The files to stage, in order, with their index in the import's list of history files. */
  files: { entry: HistoryEntry; index: number }[];
}

export interface StageBatchResult {
  /** One result per input file, in order. */
  files: StageResult[];
  /** The files whose checkpoint an earlier attempt had already written (not staged again). */
  resumed: string[];
}

export interface CommitInput {
  userId: string;
  importId: string;
  sha256: string;
  paths: string[];
  files: StageResult[];
  ignored: string[];
}

export interface CommitResult {
  manifest: ImportManifest;
  affectedDays: string[];
}

export interface ModelsInput {
  userId: string;
  /** Local dates to rebuild; undefined rebuilds every day. */
  days?: string[];
}

export interface ModelsResult {
  days: number;
  dailyRows: number;
  snapshotRows: number;
}

/** Bad input is permanent: the workflow fails at once, naming the file and the reason. */
export const BAD_EXPORT = 'BadExport';

function permanent(err: unknown): never {
  if (err instanceof ExportInputError || err instanceof BadExportFileError) {
    const entry = err instanceof ExportInputError ? err.entry : err.entry;
    throw ApplicationFailure.create({
      type: BAD_EXPORT,
      message: err.message,
      nonRetryable: true,
      details: [{ entry: entry ?? null, reason: err.reason }],
    });
  }
  throw err;
}

/** How long a file's staging runs before it heartbeats (well inside the 15 s heartbeat timeout). */
export const STAGE_QUIET_MS = 3_000;

/** Heartbeat every few seconds while `work` runs (DuckDB work is async, so the event loop is free). */
async function withHeartbeat<T>(details: () => unknown, work: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), 3_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * The one way plays enter the warehouse, shared by imports and the live sync: merge staged
 * checkpoint files into the user's plays under the user's write lock (one writer per user, so an
 * import and a sync never interleave their writes), then `record` what was committed (an import's
 * manifest, the sync's cursor) once the merged files are in place and while the lock is still held.
 * The affected days' marts are rebuilt afterwards (the buildModels activity).
 */
export async function commitStagedPlays<T>(
  layout: Layout,
  dbOptions: DbOptions,
  opts: { userId: string; timezone: string; stagedFiles: string[]; record: (merge: MergeResult) => Promise<T> },
): Promise<T> {
  return withUserLock(layout, opts.userId, async () => {
    await fs.mkdir(layout.tmp, { recursive: true });
    const db = await Db.open(dbOptions);
    let merge: MergeResult;
    try {
      merge = await mergeStaged(db, layout, { userId: opts.userId, stagedFiles: opts.stagedFiles, timezone: opts.timezone });
    } finally {
      db.close();
    }
    return opts.record(merge);
  });
}

export function createImportActivities({ config, layout }: ActivityDeps) {
  const dbOptions: DbOptions = {
    memoryLimit: config.duckdb.memoryLimit,
    threads: config.duckdb.threads,
    tempDirectory: layout.tmp,
  };
  // Staging runs `importConcurrency` files at once: each lane gets its share of the cores and of
  // the memory limit, and keeps its DuckDB between files (opening one per file costs more than
  // parsing a small file).
  const lanes = Math.max(1, config.importConcurrency);
  const laneOptions: DbOptions = {
    ...dbOptions,
    threads: Math.max(1, Math.floor(config.duckdb.threads / lanes)),
    memoryLimit: `${Math.max(128, Math.floor(parseMemory(config.duckdb.memoryLimit) / lanes / 2 ** 20))}MB`,
  };
  // Idle lanes' databases, each with the timer that closes it when no file comes for it: a lane
  // ends when its last file is staged, and closing a database blocks the thread for a while, so
  // it is better done then, beside the other lanes' work, than all at once when the merge starts.
  const idle: { db: Db; timer: NodeJS.Timeout }[] = [];
  const LANE_IDLE_MS = 250;
  /** Staging is over when the merge starts: give the lanes' memory back first. */
  const closeLanes = () => {
    for (const { db, timer } of idle.splice(0)) {
      clearTimeout(timer);
      db.close();
    }
  };
  const park = (db: Db) => {
    const lane = {
      db,
      timer: setTimeout(() => {
        const at = idle.indexOf(lane);
        if (at >= 0) idle.splice(at, 1)[0]!.db.close();
      }, LANE_IDLE_MS).unref(),
    };
    idle.push(lane);
  };
  const withLaneDb = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    await fs.mkdir(layout.tmp, { recursive: true });
    const parked = idle.pop();
    if (parked) clearTimeout(parked.timer);
    const db = parked?.db ?? (await Db.open(laneOptions));
    let healthy = true;
    try {
      return await fn(db);
    } catch (e) {
      healthy = e instanceof BadExportFileError;
      throw e;
    } finally {
      if (healthy && idle.length < lanes) park(db);
      else db.close();
    }
  };
  const stageDir = (importId: string) => layout.staging(importId);
  const stagedParquet = (importId: string, index: number, entry: HistoryEntry) =>
    path.join(stageDir(importId), `${String(index).padStart(4, '0')}-${safeName(entry.name)}.parquet`);

  /** Stage one export file: inflate it to a temporary JSON file, parse it into its checkpoint. */
  const stageOne = async (
    input: { importId: string; paths: string[] },
    entry: HistoryEntry,
    index: number,
    state: { bytes: number; step: string },
  ): Promise<StageResult> => {
    const out = stagedParquet(input.importId, index, entry);
    const json = path.join(stageDir(input.importId), `.extract-${index}.json`);
    await fs.mkdir(stageDir(input.importId), { recursive: true });
    try {
      await extractEntry(input.paths, entry.name, json, config.limits, (n) => {
        state.bytes += n;
      });
      state.step = 'parse';
      const result = await withLaneDb((db) =>
        stageFile(db, { jsonPath: json, format: entry.format, importId: input.importId, entry: entry.name, outFile: out }),
      );
      await writeJsonAtomic(`${out}.json`, result);
      return result;
    } catch (e) {
      return permanent(e);
    } finally {
      await fs.rm(json, { force: true });
    }
  };

  const stageBatch = async (input: StageBatchInput): Promise<StageBatchResult> => {
    const ctx = Context.current();
    // A batch staged within STAGE_QUIET_MS sends no heartbeat at all (the heartbeat timeout is 15
    // s): each heartbeat is a write on the server. A longer one heartbeats its progress from then
    // on (the SDK sends at most one every 12 s).
    const started = Date.now();
    const state = { entry: '', filesDone: 0, bytes: 0, step: 'extract' };
    const timer = setInterval(() => {
      if (Date.now() - started >= STAGE_QUIET_MS) ctx.heartbeat({ ...state, files: input.files.length });
    }, 500);
    const files: StageResult[] = [];
    const resumed: string[] = [];
    try {
      for (const { entry, index } of input.files) {
        Object.assign(state, { entry: entry.name, bytes: 0, step: 'extract' });
        const done = await readJson<StageResult>(`${stagedParquet(input.importId, index, entry)}.json`);
        if (done) resumed.push(entry.name);
        files.push(done ?? (await stageOne(input, entry, index, state)));
        state.filesDone += 1;
      }
      return { files, resumed };
    } finally {
      clearInterval(timer);
    }
  };

  return {
    /** Check the archive (hostile input, limits) and list its streaming-history files. */
    async inspectImport(input: InspectInput): Promise<InspectResult> {
      const alreadyImported = await readManifest(layout, input.userId, input.importId);
      if (alreadyImported) return { history: [], ignored: alreadyImported.ignored, totalBytes: 0, alreadyImported };
      try {
        const inv = await withHeartbeat(() => ({ step: 'inspect' }), () => inspectExport(input.paths, config.limits));
        return { history: inv.history, ignored: inv.ignored, totalBytes: inv.totalBytes, alreadyImported: undefined };
      } catch (e) {
        return permanent(e);
      }
    },

    /**
     * Several export files, one after another, each to its own Parquet checkpoint under staging/:
     * a file staged before (by an earlier attempt of this batch, whose worker died) is not redone,
     * and is listed in `resumed`.
     */
    async stageExportFiles(input: StageBatchInput): Promise<StageBatchResult> {
      return stageBatch(input);
    },

    /** One export file to a Parquet checkpoint (kept for imports started by a version before batches). */
    async stageExportFile(input: StageInput): Promise<StageResult> {
      const { files } = await stageBatch({ ...input, files: [{ entry: input.entry, index: input.index }] });
      return files[0]!;
    },

    /** Merge every staged file into the warehouse under the user's lock, and record the manifest. */
    async commitImport(input: CommitInput): Promise<CommitResult> {
      closeLanes();
      const planFile = path.join(stageDir(input.importId), 'commit.json');
      const existing = await readManifest(layout, input.userId, input.importId);
      if (existing) {
        const plan = await readJson<CommitResult>(planFile);
        await fs.rm(stageDir(input.importId), { recursive: true, force: true });
        return { manifest: existing, affectedDays: plan?.affectedDays ?? [] };
      }
      const user = await ensureUser(layout, input.userId, config.defaultTimezone);
      const staged = input.files.map((f, i) => ({ f, file: stagedParquet(input.importId, i, { name: f.entry, size: 0, format: f.format }) }));
      const result = await withHeartbeat(
        () => ({ step: 'merge', files: staged.length }),
        () =>
          commitStagedPlays(layout, dbOptions, {
            userId: input.userId,
            stagedFiles: staged.filter((s) => s.f.rowsStaged > 0).map((s) => s.file),
            timezone: user.timezone,
            record: async (merge) => {
              // A retry after a crash re-merges the same staged files: the outcome is the same, and the
              // counts of the first attempt (kept in the plan) are the ones reported.
              const plan = await readJson<CommitResult>(planFile);
              const rowsRejected = input.files.reduce((n, f) => n + f.rejected.reduce((m, r) => m + r.rows, 0), 0);
              const manifest: ImportManifest = plan?.manifest ?? {
                importId: input.importId,
                userId: input.userId,
                sha256: input.sha256,
                inputs: input.paths,
                committedAt: new Date().toISOString(),
                files: input.files,
                ignored: input.ignored,
                rowsRead: input.files.reduce((n, f) => n + f.rowsRead, 0),
                playsAdded: merge.added,
                duplicatesSkipped: merge.duplicates,
                accountRowsSuperseded: merge.superseded,
                rowsRejected,
              };
              const out: CommitResult = { manifest, affectedDays: plan?.affectedDays ?? merge.affectedDays };
              if (!plan) await writeJsonAtomic(planFile, out);
              await writeManifest(layout, manifest);
              return out;
            },
          }),
      );
      await fs.rm(stageDir(input.importId), { recursive: true, force: true });
      return result;
    },

    /** Rebuild the user's marts for the days that changed (all days when none are given). */
    async buildModels(input: ModelsInput): Promise<ModelsResult> {
      return withHeartbeat(
        () => ({ step: 'models', days: input.days?.length ?? 'all' }),
        () => rebuildUserModels(layout, dbOptions, input.userId, { days: input.days, defaultTimezone: config.defaultTimezone }),
      );
    },

    /** Remove an import's checkpoints (after a permanent failure). The warehouse is not touched. */
    async discardImport(input: { importId: string }): Promise<void> {
      await fs.rm(stageDir(input.importId), { recursive: true, force: true });
    },
  };
}
