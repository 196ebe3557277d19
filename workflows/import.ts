/**
 * The import workflow: one per (user, archive content). Deterministic orchestration only; the work
 * is in activities (activities/import.ts), imported here as types.
 *
 *   inspect archive -> stage each history file (a checkpoint each, N at a time) -> merge into the
 *   warehouse -> rebuild the marts of the days that changed
 *
 * Bad input fails the workflow at once (non-retryable), naming the file and the reason, after its
 * checkpoints are discarded; the warehouse is only ever written by the merge, which runs last.
 */
import { ApplicationFailure, ActivityFailure, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
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

const { stageExportFile } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  // A worker killed mid-file is noticed within this and the file is staged again elsewhere.
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
});

const { commitImport, buildModels } = proxyActivities<Activities>(warehouseWriteOptions(NON_RETRYABLE));

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
    const results: StageResult[] = new Array(inventory.history.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < inventory.history.length) {
        const index = next++;
        const entry = inventory.history[index]!;
        progress.currentFiles.push(entry.name);
        const result = await stageExportFile({ userId: input.userId, importId: input.importId, paths: input.paths, entry, index });
        results[index] = result;
        progress.currentFiles = progress.currentFiles.filter((f) => f !== entry.name);
        progress.filesDone += 1;
        progress.rows += result.rowsRead;
      }
    };
    const lanes = Math.max(1, Math.min(input.concurrency ?? 2, inventory.history.length));
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
