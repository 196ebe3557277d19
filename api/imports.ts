/**
 * Imports for the API, on Temporal: starting the import workflow of an uploaded archive (the same
 * start as `rewind import`), and following it (the manifest once committed, the workflow's state and
 * `progress` query while it runs, its failure when it failed).
 */
import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowExecutionDescription } from '@temporalio/client';
import { connectTemporal, type Context, type TemporalSession } from '../cli/context.ts';
import { startImportWorkflow } from '../cli/import.ts';
import { assertUserId } from '../warehouse/layout.ts';
import { listManifests, readManifest, type ImportManifest } from '../warehouse/manifest.ts';
import { importWorkflowId } from '../workflows/ids.ts';
import type { ImportInput, ImportProgress, ImportSummary } from '../workflows/import.ts';
import type { ImportControl, ImportInfo } from './deps.ts';

export interface TemporalImports extends ImportControl {
  /** The Temporal session (connected on first use). */
  session(): Promise<TemporalSession>;
  /** Is Temporal reachable now? */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

const IMPORT_ID = /^import:([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):([0-9a-f]{64})$/;

function fromManifest(m: ImportManifest): ImportInfo {
  return {
    importId: m.importId,
    status: 'imported',
    startedAt: null,
    finishedAt: m.committedAt,
    progress: null,
    result: {
      filesRead: m.files.length,
      rowsRead: m.rowsRead,
      playsAdded: m.playsAdded,
      duplicatesSkipped: m.duplicatesSkipped,
      accountRowsSuperseded: m.accountRowsSuperseded,
      rowsRejected: m.rowsRejected,
    },
    error: null,
  };
}

function failureMessage(e: unknown): string {
  if (e instanceof WorkflowFailedError) {
    const cause = e.cause as { message?: string } | undefined;
    return cause?.message ?? e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

export function createTemporalImports(ctx: Context, opts: { session?: TemporalSession } = {}): TemporalImports {
  let connecting: Promise<TemporalSession> | undefined = opts.session ? Promise.resolve(opts.session) : undefined;
  const session = (): Promise<TemporalSession> => {
    connecting ??= connectTemporal(ctx).catch((e) => {
      connecting = undefined;
      throw e;
    });
    return connecting;
  };

  async function describeRun(userId: string, importId: string, desc?: WorkflowExecutionDescription): Promise<ImportInfo | undefined> {
    const s = await session();
    const handle = s.client.workflow.getHandle(importId);
    try {
      desc ??= await handle.describe();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return undefined;
      throw e;
    }
    const base: ImportInfo = {
      importId,
      status: 'running',
      startedAt: desc.startTime.toISOString(),
      finishedAt: desc.closeTime?.toISOString() ?? null,
      progress: null,
      result: null,
      error: null,
    };
    switch (desc.status.name) {
      case 'RUNNING':
        base.progress = await handle.query<ImportProgress>('progress').catch(() => null);
        return base;
      case 'COMPLETED': {
        // Committed since we looked for the manifest, or committed into another data folder.
        const manifest = await readManifest(ctx.layout, userId, importId);
        if (manifest) return { ...fromManifest(manifest), startedAt: base.startedAt };
        const summary = (await handle.result().catch(() => undefined)) as ImportSummary | undefined;
        return {
          ...base,
          status: 'imported',
          result: summary
            ? {
                filesRead: summary.filesRead,
                rowsRead: summary.rowsRead,
                playsAdded: summary.playsAdded,
                duplicatesSkipped: summary.duplicatesSkipped,
                accountRowsSuperseded: summary.accountRowsSuperseded,
                rowsRejected: summary.rowsRejected,
              }
            : null,
        };
      }
      default:
        return { ...base, status: 'failed', error: await handle.result().then(() => desc!.status.name, failureMessage) };
    }
  }

  async function getImport(userId: string, importId: string): Promise<ImportInfo | undefined> {
    const m = IMPORT_ID.exec(importId);
    if (!m || m[1] !== userId) return undefined;
    // The manifest is written when the plays are committed, before the marts are rebuilt: the
    // import is done when its workflow is (a run still going is shown with its progress).
    const run = await describeRun(userId, importId).catch(() => undefined);
    if (run?.status === 'running') return run;
    const manifest = await readManifest(ctx.layout, userId, importId);
    if (manifest) return { ...fromManifest(manifest), startedAt: run?.startedAt ?? null, finishedAt: run?.finishedAt ?? manifest.committedAt };
    return run;
  }

  return {
    session,

    async ready() {
      try {
        const s = await session();
        await s.client.connection.withDeadline(Date.now() + 2000, () => s.client.workflowService.getSystemInfo({}));
        return true;
      } catch {
        return false;
      }
    },

    async close() {
      if (connecting && !opts.session) await (await connecting.catch(() => undefined))?.close();
    },

    async start(userId, upload) {
      assertUserId(userId);
      const importId = importWorkflowId(userId, upload.sha256);
      const committed = await readManifest(ctx.layout, userId, importId);
      if (committed) return { ...fromManifest(committed), alreadyImported: true };
      const s = await session();
      const input: ImportInput = { userId, importId, sha256: upload.sha256, paths: [upload.path], concurrency: ctx.config.importConcurrency };
      await startImportWorkflow(s, input);
      const info = await describeRun(userId, importId);
      return { ...(info ?? { importId, status: 'running', startedAt: null, finishedAt: null, progress: null, result: null, error: null }), alreadyImported: false };
    },

    get: getImport,

    async list(userId) {
      assertUserId(userId);
      const byId = new Map<string, ImportInfo>();
      for (const m of await listManifests(ctx.layout, userId)) byId.set(m.importId, fromManifest(m));
      const s = await session();
      const prefix = `import:${userId}:`;
      // The user id is of a safe alphabet (no quotes), checked above.
      const runs = s.client.workflow.list({ query: `WorkflowType = 'importExport' AND WorkflowId STARTS_WITH '${prefix}'` });
      const seen = new Set<string>();
      for await (const run of runs) {
        if (!run.workflowId.startsWith(prefix) || seen.has(run.workflowId)) continue;
        seen.add(run.workflowId);
        // Committed and finished: the manifest says it all. Running or failed: ask the workflow.
        if (byId.has(run.workflowId) && run.status.name !== 'RUNNING') continue;
        const info = await getImport(userId, run.workflowId).catch(() => undefined);
        if (info) byId.set(run.workflowId, info);
      }
      const when = (i: ImportInfo) => i.startedAt ?? i.finishedAt ?? '';
      return [...byId.values()].sort((a, b) => when(b).localeCompare(when(a)));
    },
  };
}
