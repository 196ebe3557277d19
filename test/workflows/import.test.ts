/**
 * The import workflow survives its worker: a worker process killed (SIGKILL) in the middle of a
 * multi-file import (in the middle of a batch of files staged by one activity) is replaced, the
 * workflow resumes without re-doing finished files, and the import ends with every play exactly
 * once.
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
import { Layout } from '../../warehouse/layout.ts';
import type { StageBatchInput, StageBatchResult } from '../../activities/import.ts';
import { batchSize, MAX_FILES_PER_BATCH, type ImportProgress, type ImportSummary } from '../../workflows/import.ts';
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

/** The JSON value of a history event's first payload. */
function payload<T>(payloads: { data?: Uint8Array | null }[] | null | undefined): T {
  return JSON.parse(Buffer.from(payloads?.[0]?.data ?? new Uint8Array()).toString('utf8')) as T;
}

test('a worker killed mid-import: the restarted import ends with every play exactly once', { timeout: 240_000 }, async () => {
  const home = path.join(root, 'home');
  const zip = path.join(root, 'export.zip');
  // Small files, so that one staging activity takes several of them (concurrency 1: 8, then the rest).
  const demo = await writeDemoExport(zip, { streams: 120_000, rowsPerFile: 10_000, seed: 3, endDate: new Date(Date.UTC(2026, 0, 1)) });
  assert.ok(demo.files.length >= 10, `a multi-file export (${demo.files.length} files)`);

  // Reference: the same archive imported (by another user id, another data folder) with nobody interrupting.
  const calm = createContext(loadConfig({ REWIND_HOME: path.join(root, 'calm'), TEMPORAL_ADDRESS: temporal.address }), () => undefined);
  const reference = await runImport(calm, { paths: [zip], userId: 'ref' });

  const sha256 = await hashExport([zip]);
  const workflowId = importWorkflowId('kim', sha256);
  const stageDir = new Layout(home).staging(workflowId);
  const checkpoints = async () => (await fs.readdir(stageDir).catch(() => [] as string[])).filter((f) => f.endsWith('.parquet.json')).sort();
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  let worker = startWorker(home);
  try {
    const handle = await client.workflow.start('importExport', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ userId: 'kim', importId: workflowId, sha256, paths: [zip], concurrency: 1 }],
    });
    // Wait until the batch being staged has some of its files checkpointed and at least two still
    // to go, then kill the worker without warning. (The query comes first: files checkpointed
    // beyond filesDone are the current batch's, as one lane stages one batch at a time.)
    let progress: ImportProgress | undefined;
    const deadline = Date.now() + 120_000;
    for (;;) {
      progress = await handle.query<ImportProgress>('progress').catch(() => undefined);
      const inBatch = (await checkpoints()).length - (progress?.filesDone ?? 0);
      if (progress?.phase === 'staging' && inBatch >= 1 && inBatch <= progress.currentFiles.length - 2) break;
      assert.ok(Date.now() < deadline, 'the import made progress');
      assert.ok(!progress || ['inspecting', 'staging'].includes(progress.phase), 'caught a batch in the middle');
      await new Promise((r) => setTimeout(r, 5));
    }
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    const doneAtKill = await checkpoints();

    worker = startWorker(home);
    const summary = (await handle.result()) as ImportSummary;
    assert.equal(summary.status, 'imported');
    const historyFiles = demo.files.filter((f) => f.endsWith('.json'));
    assert.equal(summary.filesRead, historyFiles.length);

    // Finished files were not staged again. Every staging activity was scheduled and completed
    // once; only the batch in flight when the worker died ran a second attempt, and that attempt
    // took the files checkpointed before the kill from their checkpoints (`resumed`).
    const events = (await handle.fetchHistory()).events ?? [];
    const batches = new Map(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stageExportFiles')
        .map((e) => [String(e.eventId), payload<StageBatchInput>(e.activityTaskScheduledEventAttributes?.input?.payloads)]),
    );
    assert.deepEqual([...batches.values()].flatMap((b) => b.files.map((f) => f.index)), historyFiles.map((_, i) => i), 'each file in one batch');
    assert.ok(batches.size < historyFiles.length, `fewer activities (${batches.size}) than files`);
    const completed = events.filter((e) => batches.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '')));
    assert.equal(completed.length, batches.size);
    const retried = events
      .filter((e) => batches.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '')) && (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
      .map((e) => String(e.activityTaskStartedEventAttributes!.scheduledEventId));
    assert.equal(retried.length, 1, 'the batch in flight ran again');
    const killed = batches.get(retried[0]!)!;
    const result = payload<StageBatchResult>(completed.find((e) => String(e.activityTaskCompletedEventAttributes!.scheduledEventId) === retried[0])!.activityTaskCompletedEventAttributes!.result?.payloads);
    const checkpointed = killed.files.filter((f) => doneAtKill.some((c) => c.startsWith(`${String(f.index).padStart(4, '0')}-`))).map((f) => f.entry.name);
    assert.ok(checkpointed.length >= 1 && checkpointed.length <= killed.files.length - 1, `killed in the middle of the batch (${checkpointed.length} of ${killed.files.length} done)`);
    assert.deepEqual(result.resumed, checkpointed, 'the files checkpointed before the kill were not staged again');
    for (const other of completed.filter((e) => String(e.activityTaskCompletedEventAttributes!.scheduledEventId) !== retried[0])) {
      assert.deepEqual(payload<StageBatchResult>(other.activityTaskCompletedEventAttributes!.result?.payloads).resumed, []);
    }

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

/** The sizes of the batches `files` are staged in by `lanes` lanes, in the order the lanes take them. */
function batches(files: number, lanes: number): number[] {
  const sizes: number[] = [];
  for (let next = 0; next < files; next += sizes.at(-1)!) sizes.push(batchSize(files - next, lanes));
  return sizes;
}

test('staging batches: few activities for a heavy export, one file each for a small one and for the last files', () => {
  // The benchmark's export: 66 files, 4 lanes.
  assert.deepEqual(batches(66, 4), [8, 8, 8, 8, 8, 6, 5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1]);
  // A dozen files, the usual size of an extended export, with the default 4 lanes.
  assert.deepEqual(batches(12, 4), [3, 2, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(batches(3, 4), [1, 1, 1]);
  for (const [files, lanes] of [[1, 1], [7, 2], [66, 4], [500, 4], [13, 1]] as const) {
    const sizes = batches(files, lanes);
    assert.equal(sizes.reduce((a, b) => a + b, 0), files, 'every file in exactly one batch');
    assert.ok(sizes.every((n) => n >= 1 && n <= MAX_FILES_PER_BATCH));
    // With several lanes the last file goes alone, so that the lanes end together.
    if (lanes > 1) assert.equal(sizes.at(-1), 1, 'the last file alone');
  }
  // One lane: nothing to balance, the rest goes in batches of at most 8.
  assert.deepEqual(batches(13, 1), [8, 5]);
});
