/**
 * followWorkflow (cli/context.ts), what `rewind import`, `sync` and `enrich` use to wait for their
 * workflow, against a real Temporal dev server with a worker in this process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../config.ts';
import { connectTemporal, createContext, followWorkflow } from '../../cli/context.ts';
import { startImportWorkflow } from '../../cli/import.ts';
import { hashExport } from '../../activities/export/archive.ts';
import { importWorkflowId } from '../../workflows/ids.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';
import { REAL_DATA } from '../helpers/real-data.ts';

let temporal: TestTemporal;
let root: string;

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-context-test-'));
});

after(async () => {
  await temporal.stop();
  await fs.rm(root, { recursive: true, force: true });
});

/** The import of one small real export file for `userId`, started (its worker not yet running). */
async function startSmallImport(home: string, userId: string) {
  const ctx = createContext(loadConfig({ REWIND_HOME: path.join(root, home), TEMPORAL_ADDRESS: temporal.address }), () => undefined);
  const session = await connectTemporal(ctx);
  const paths = [path.join(REAL_DATA, 'extended/mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2022.json')];
  const sha256 = await hashExport(paths);
  const { handle } = await startImportWorkflow(session, { userId, importId: importWorkflowId(userId, sha256), sha256, paths });
  return { ctx, session, handle };
}

describe('followWorkflow', () => {
  test('a progress query sent as the workflow ends, when no worker is left to answer it, does not hold the command up', async () => {
    const { ctx, session, handle } = await startSmallImport('home', 'q');
    try {
      const result = handle.result();
      let ended = 0;
      let queries = 0;
      // One poll, which asks only once the import has ended and the worker of this process (the
      // only one) has had the time to stop: nobody is left to answer it.
      const poll = async () => {
        if (queries++ > 0) return;
        await result;
        ended = Date.now();
        await sleep(3_000);
        await handle.query('progress');
      };
      const summary = await followWorkflow<{ status: string }, void>(ctx, session, handle, {
        poll: { ask: poll, tell: () => undefined },
        everyMs: 50,
        failure: (message) => new Error(message),
      });
      assert.equal(summary.status, 'imported');
      const waited = Date.now() - ended;
      assert.ok(waited < 3_000 + 5_000, `returned ${waited} ms after the workflow ended`);
    } finally {
      await session.close();
    }
  });

  test('what the progress callback starts is not cancelled when the workflow ends', async () => {
    // A test starts a sync from an import's progress callback: the sync's calls to Temporal must
    // outlive the import. (They used to run in the poll's cancellation scope, and were cancelled
    // as the import ended.)
    const { ctx, session, handle } = await startSmallImport('home-tell', 't');
    try {
      // A call to Temporal that is still in flight when the workflow ends: a long poll of a task
      // queue nobody else polls (the server holds it for about a minute).
      let inFlight: Promise<string> | undefined;
      const done = new AbortController(); // the test's own end of that poll
      const summary = await followWorkflow<{ status: string }, unknown>(ctx, session, handle, {
        poll: {
          ask: () => handle.query('progress'),
          tell: () =>
            (inFlight ??= session.client.connection
              .withAbortSignal(done.signal, () =>
                session.client.connection.withDeadline(Date.now() + 70_000, () =>
                  session.client.workflowService.pollWorkflowTaskQueue({
                    namespace: session.endpoint.namespace,
                    taskQueue: { name: 'nobody-polls-this' },
                    identity: 'test',
                  }),
                ),
              )
              .then(
                () => 'answered',
                (e: Error) => `failed: ${e.message}`,
              )),
        },
        everyMs: 50,
        failure: (message) => new Error(message),
      });
      assert.equal(summary.status, 'imported');
      assert.ok(inFlight, 'the callback ran');
      const outcome = await Promise.race([inFlight, sleep(1_500).then(() => 'still in flight')]);
      assert.equal(outcome, 'still in flight');
      done.abort();
      await inFlight;
    } finally {
      await session.close();
    }
  });

  test('many polls leave no listeners behind (no MaxListenersExceededWarning)', async () => {
    // The SDK adds an abort listener to the call's signal for every call and never removes it:
    // with one signal for every poll, `rewind import` printed a MaxListenersExceededWarning after
    // ten polls (five seconds) and kept every listener until it ended.
    const { ctx, session, handle } = await startSmallImport('home-many', 'm');
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      let answers = 0;
      const summary = await followWorkflow<{ status: string }, unknown>(ctx, session, handle, {
        poll: { ask: () => handle.query('progress'), tell: () => void answers++ },
        everyMs: 5,
        failure: (message) => new Error(message),
      });
      assert.equal(summary.status, 'imported');
      assert.ok(answers > 10, `only ${answers} polls were answered: too few to tell`);
      await sleep(50); // warnings are emitted on the next tick
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
      await session.close();
    }
  });
});
