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

describe('followWorkflow', () => {
  test('a progress query sent as the workflow ends, when no worker is left to answer it, does not hold the command up', async () => {
    const ctx = createContext(loadConfig({ REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: temporal.address }), () => undefined);
    const session = await connectTemporal(ctx);
    try {
      const paths = [path.join(REAL_DATA, 'extended/mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2022.json')];
      const sha256 = await hashExport(paths);
      const { handle } = await startImportWorkflow(session, { userId: 'q', importId: importWorkflowId('q', sha256), sha256, paths });
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
      const summary = await followWorkflow<{ status: string }>(ctx, session, handle, {
        poll,
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
});
