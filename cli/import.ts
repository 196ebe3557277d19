/**
 * `rewind import`: start (or join) the import workflow of an export and follow it to the end.
 */
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import cliProgress from 'cli-progress';
import { hashExport } from '../activities/export/archive.ts';
import { assertUserId } from '../warehouse/layout.ts';
import { readManifest } from '../warehouse/manifest.ts';
import { importWorkflowId, TASK_QUEUE } from '../workflows/ids.ts';
import type { ImportInput, ImportProgress } from '../workflows/import.ts';
import { summarize, type ImportSummary } from '../workflows/summary.ts';
import { connectTemporal, prepareWorker, followWorkflow, type Context, type TemporalSession } from './context.ts';

export class ImportFailedError extends Error {}

export interface ImportOptions {
  paths: string[];
  userId: string;
  /** Called with the workflow's progress about twice a second. */
  onProgress?: (p: ImportProgress) => void;
  session?: TemporalSession;
}

/**
 * Start the import workflow of an archive not imported yet (no manifest), or join the run of the same
 * archive that is already going. Shared by `rewind import` and the API (POST /api/v1/imports).
 */
export async function startImportWorkflow(
  session: TemporalSession,
  input: ImportInput,
): Promise<{ handle: WorkflowHandle; started: boolean }> {
  try {
    const handle = await session.client.workflow.start('importExport', {
      taskQueue: TASK_QUEUE,
      workflowId: input.importId,
      args: [input],
      // Not imported here (no manifest): a finished run of the same ID imported into another data
      // folder or lost its data, so a new run is right. A running one is joined instead.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    return { handle, started: true };
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    // The same archive is being imported (or was): follow that run instead of starting another.
    return { handle: session.client.workflow.getHandle(input.importId), started: false };
  }
}

/** Import an export for a user through the import workflow; resolves with its summary. */
export async function runImport(ctx: Context, opts: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const userId = assertUserId(opts.userId);
  const paths = opts.paths.map((p) => path.resolve(p));
  for (const p of paths) await fs.access(p).catch(() => { throw new ImportFailedError(`${p}: no such file or folder`); });
  const sha256 = await hashExport(paths);
  const importId = importWorkflowId(userId, sha256);

  const committed = await readManifest(ctx.layout, userId, importId);
  if (committed) return summarize(committed, committed, 'already_imported', 0, (Date.now() - started) / 1000);

  const session = opts.session ?? (await connectTemporal(ctx));
  // The in-process worker (when one is needed) gets ready while the workflow starts.
  const prepared = prepareWorker(ctx, session);
  prepared.catch(() => undefined);
  try {
    const input: ImportInput = { userId, importId, sha256, paths, concurrency: ctx.config.importConcurrency };
    const { handle } = await startImportWorkflow(session, input);
    const onProgress = opts.onProgress;
    const summary = await followWorkflow<ImportSummary, ImportProgress>(ctx, session, handle, {
      prepared,
      poll: onProgress ? { ask: () => handle.query<ImportProgress>('progress'), tell: onProgress } : undefined,
      failure: (message) => new ImportFailedError(message),
    });
    return { ...summary, elapsedSeconds: Math.round((Date.now() - started) / 100) / 10 };
  } finally {
    if (!opts.session) await session.close();
  }
}

/** A progress bar on stderr when it is a terminal. */
export function progressBar(): { update: (p: ImportProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'importing [{bar}] {value}/{total} files | {rows} rows | {phase} {current}',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedBar = false;
  return {
    update(p) {
      const payload = { rows: p.rows.toLocaleString('en-US'), phase: p.phase, current: p.currentFiles.join(', ').slice(0, 60) };
      if (!startedBar) {
        bar.start(Math.max(p.filesTotal, 1), p.filesDone, payload);
        startedBar = true;
      }
      bar.setTotal(Math.max(p.filesTotal, 1));
      bar.update(p.filesDone, payload);
    },
    stop() {
      if (startedBar) bar.stop();
    },
  };
}

export function formatSummary(s: ImportSummary): string {
  const lines: string[] = [];
  if (s.status === 'already_imported') {
    lines.push(`This export was already imported for "${s.userId}" (${s.importId}); nothing to do.`);
  } else {
    lines.push(`Imported ${s.filesRead} file(s) for "${s.userId}" in ${s.elapsedSeconds.toFixed(1)} s.`);
  }
  lines.push(
    `  rows read:           ${s.rowsRead.toLocaleString('en-US')}`,
    `  plays added:         ${s.playsAdded.toLocaleString('en-US')}`,
    `  duplicates skipped:  ${s.duplicatesSkipped.toLocaleString('en-US')}`,
  );
  if (s.accountRowsSuperseded > 0) lines.push(`  account rows replaced by extended ones: ${s.accountRowsSuperseded.toLocaleString('en-US')}`);
  lines.push(`  rows rejected:       ${s.rowsRejected.toLocaleString('en-US')}`);
  for (const r of s.rejected) lines.push(`    ${r.file}: ${r.rows} row(s): ${r.reason} (first at row ${r.firstRow})`);
  if (s.ignoredFiles.length > 0) lines.push(`  ignored files (not listening history): ${s.ignoredFiles.join(', ')}`);
  return lines.join('\n');
}
