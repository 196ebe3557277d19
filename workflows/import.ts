/**
 * The import workflow: one per (user, archive content). Deterministic orchestration only; the work
 * is in activities (activities/import.ts), imported here as types.
 *
 *   inspect archive -> stage the history files (a checkpoint each, N lanes at once, a few files per
 *   activity) -> merge into the warehouse -> rebuild the marts of the days that changed
 *
 * Bad input fails the workflow at once (non-retryable), naming the file and the reason, after its
 * checkpoints are discarded; the warehouse is only ever written by the merge, which runs last.
 */
import { ApplicationFailure, ActivityFailure, defineQuery, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import { warehouseWriteOptions } from './policies.ts';
import type { Activities } from '../activities/index.ts';
import type { StageResult } from '../warehouse/plays.ts';
import { summarize, type ImportSummary } from './summary.ts';

export type { ImportSummary } from './summary.ts';

export interface ImportInput {
  userId: string;
  importId: string;
  sha256: string;
  paths: string[];
  /** How many files are staged at once. */
  concurrency?: number;
}

export interface ImportProgress {
  phase: 'inspecting' | 'staging' | 'merging' | 'modelling' | 'done' | 'failed';
  filesDone: number;
  filesTotal: number;
  rows: number;
  currentFiles: string[];
}

export const progressQuery = defineQuery<ImportProgress>('progress');

const NON_RETRYABLE = ['BadExport'];

const { inspectImport, discardImport } = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
});

const { stageExportFiles, stageExportFile } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  // A worker killed mid-batch is noticed within this (a batch heartbeats once it runs longer than
  // 3 s) and the batch runs again elsewhere; the files it had already checkpointed are not redone.
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
});

const { commitImport, buildModels } = proxyActivities<Activities>(warehouseWriteOptions(NON_RETRYABLE));

/** At most this many files per staging activity. */
export const MAX_FILES_PER_BATCH = 8;

/**
 * How many of the `remaining` files the next staging activity takes: each lane's fair share of
 * what remains, at most MAX_FILES_PER_BATCH. A heavy export costs far fewer activities than files
 * (each activity is a round of writes on the server and a workflow task: the benchmark's 66 files
 * in 17 activities stage about 1.2 s faster than in 66, in turns), the last files still go one at a time so the lanes finish
 * together, and an export of a few files is staged one file per activity.
 */
export function batchSize(remaining: number, lanes: number): number {
  return Math.max(1, Math.min(MAX_FILES_PER_BATCH, Math.floor(remaining / lanes), remaining));
}

export async function importExport(input: ImportInput): Promise<ImportSummary> {
  const started = Date.now();
  const progress: ImportProgress = { phase: 'inspecting', filesDone: 0, filesTotal: 0, rows: 0, currentFiles: [] };
  setHandler(progressQuery, () => progress);
  const elapsed = () => Math.round((Date.now() - started) / 100) / 10;

  try {
    const inventory = await inspectImport({ userId: input.userId, importId: input.importId, paths: input.paths });
    if (inventory.alreadyImported) {
      progress.phase = 'done';
      return summarize(input, inventory.alreadyImported, 'already_imported', 0, elapsed());
    }

    progress.phase = 'staging';
    progress.filesTotal = inventory.history.length;
    const files = inventory.history;
    const results: StageResult[] = new Array(files.length);
    const lanes = Math.max(1, Math.min(input.concurrency ?? 2, files.length));
    // Imports started before staging went by batches replay their one-file activities.
    const batches = patched('stage-batches');
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < files.length) {
        const count = batches ? batchSize(files.length - next, lanes) : 1;
        const batch = files.slice(next, next + count).map((entry, k) => ({ entry, index: next + k }));
        next += count;
        const names = batch.map((f) => f.entry.name);
        progress.currentFiles.push(...names);
        const staged = batches
          ? (await stageExportFiles({ userId: input.userId, importId: input.importId, paths: input.paths, files: batch })).files
          : [await stageExportFile({ userId: input.userId, importId: input.importId, paths: input.paths, ...batch[0]! })];
        staged.forEach((result, k) => {
          results[batch[k]!.index] = result;
          progress.rows += result.rowsRead;
        });
        progress.currentFiles = progress.currentFiles.filter((f) => !names.includes(f));
        progress.filesDone += batch.length;
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));

    progress.phase = 'merging';
    const commit = await commitImport({
      userId: input.userId,
      importId: input.importId,
      sha256: input.sha256,
      paths: input.paths,
      files: results,
      ignored: inventory.ignored,
    });

    progress.phase = 'modelling';
    if (commit.affectedDays.length > 0) await buildModels({ userId: input.userId, days: commit.affectedDays });

    progress.phase = 'done';
    return summarize(input, commit.manifest, 'imported', commit.affectedDays.length, elapsed());
  } catch (err) {
    progress.phase = 'failed';
    await discardImport({ importId: input.importId });
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) {
      // Surface the activity's own message (it names the archive entry and the reason).
      throw ApplicationFailure.create({ message: cause.message, type: cause.type ?? undefined, nonRetryable: true, details: cause.details ?? undefined });
    }
    throw err;
  }
}
