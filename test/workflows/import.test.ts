/**
 * The import workflow survives its worker: a worker process killed (SIGKILL) in the middle of a
 * multi-file import is replaced, the workflow resumes without re-doing finished files, and the
 * import ends with every play exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, PROJECT_ROOT } from '../../config.ts';
import { createContext } from '../../cli/context.ts';
import { runImport } from '../../cli/import.ts';
import { hashExport } from '../../activities/export/archive.ts';
import { writeDemoExport } from '../../cli/demo/generate.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { importWorkflowId, TASK_QUEUE } from '../../workflows/ids.ts';
import type { ImportProgress, ImportSummary } from '../../workflows/import.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';

let temporal: TestTemporal;
let root: string;

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-kill-test-'));
});

after(async () => {
  await temporal.stop();
  await fs.rm(root, { recursive: true, force: true });
});

function startWorker(home: string): ChildProcess {
  return spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin/rewind.js'), 'worker'], {
    env: { ...process.env, REWIND_HOME: home, TEMPORAL_ADDRESS: temporal.address, REWIND_IMPORT_CONCURRENCY: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

test('a worker killed mid-import: the restarted import ends with every play exactly once', { timeout: 240_000 }, async () => {
  const home = path.join(root, 'home');
  const zip = path.join(root, 'export.zip');
  const demo = await writeDemoExport(zip, { streams: 120_000, seed: 3, endDate: new Date(Date.UTC(2026, 0, 1)) });
  assert.ok(demo.files.length >= 6, `a multi-file export (${demo.files.length} files)`);

  // Reference: the same archive imported (by another user id, another data folder) with nobody interrupting.
  const calm = createContext(loadConfig({ REWIND_HOME: path.join(root, 'calm'), TEMPORAL_ADDRESS: temporal.address }), () => undefined);
  const reference = await runImport(calm, { paths: [zip], userId: 'ref' });

  const sha256 = await hashExport([zip]);
  const workflowId = importWorkflowId('kim', sha256);
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  let worker = startWorker(home);
  try {
    const handle = await client.workflow.start('importExport', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ userId: 'kim', importId: workflowId, sha256, paths: [zip], concurrency: 1 }],
    });
    // Wait until some, not all, files are staged, then kill the worker without warning.
    let progress: ImportProgress | undefined;
    const deadline = Date.now() + 120_000;
    for (;;) {
      progress = await handle.query<ImportProgress>('progress').catch(() => undefined);
      if (progress && progress.filesDone >= 2) break;
      assert.ok(Date.now() < deadline, 'the import made progress');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(progress.filesDone < progress.filesTotal, 'killed in the middle');
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    const doneBeforeKill = progress.filesDone;

    worker = startWorker(home);
    const summary = (await handle.result()) as ImportSummary;
    assert.equal(summary.status, 'imported');
    const historyFiles = demo.files.filter((f) => f.endsWith('.json'));
    assert.equal(summary.filesRead, historyFiles.length);

    // Finished files were not staged again: each file's activity was scheduled and completed once,
    // and only the one in flight when the worker died needed a second attempt.
    const events = (await handle.fetchHistory()).events ?? [];
    const stageIds = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stageExportFile')
        .map((e) => String(e.eventId)),
    );
    assert.equal(stageIds.size, historyFiles.length);
    const completed = events.filter((e) => stageIds.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '')));
    assert.equal(completed.length, historyFiles.length);
    const retried = events.filter(
      (e) => stageIds.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '')) && (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
    );
    assert.ok(retried.length <= 1, `at most the file in flight was staged again (${retried.length})`);
    assert.ok(doneBeforeKill >= 2);

    // Every play exactly once: compare with the export's own distinct streams.
    const ctx = createContext(loadConfig({ REWIND_HOME: home }), () => undefined);
    const [row] = (await queryWarehouse(ctx.layout, {}, `
      SELECT count(*) AS n,
             count(DISTINCT (ended_at, ms_played, occurrence)) AS distinct_keys
      FROM plays WHERE user_id = 'kim'`)).rows;
    assert.equal(row!.n, summary.playsAdded);
    assert.equal(row!.distinct_keys, row!.n, 'no stream stored twice');
    assert.equal(summary.playsAdded + summary.duplicatesSkipped, summary.rowsRead - summary.rowsRejected);

    // And the same as an import of the same archive that nobody interrupted.
    assert.equal(summary.playsAdded, reference.playsAdded);
    const [ref] = (await queryWarehouse(calm.layout, {}, `SELECT count(*) AS n FROM plays WHERE user_id = 'ref'`)).rows;
    assert.equal(row!.n, ref!.n);
  } finally {
    worker.kill('SIGKILL');
    await connection.close();
  }
});
