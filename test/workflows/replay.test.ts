/**
 * Workflow code changes must not break the workflows already running on a user's Temporal server
 * (the embedded dev server keeps its history across restarts and upgrades). Each history here was
 * recorded from a real run of an earlier version; the current workflow code must replay it
 * command for command.
 *
 * - import-per-file-staging.json: an import of a 4-file demo export (2 lanes) by the version that
 *   staged one file per activity (commit 5f463e8), recorded with `temporal workflow show --output
 *   json`. The current code stages several files per activity behind `patched('stage-batches')`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type * as proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { PROJECT_ROOT } from '../../config.ts';
import { Layout } from '../../warehouse/layout.ts';
import { workflowBundle } from '../../worker/worker.ts';

let home: string;

/**
 * A history in Temporal's JSON (as `temporal workflow show --output json` writes it) to the SDK's
 * History object. `Worker.runReplayHistory` would parse the JSON itself, but with SDK 1.24 npm
 * installs two copies of protobufjs 8 (one under @temporalio/common, one under @temporalio/proto,
 * because gRPC's loader keeps protobufjs 7 at the top), and the SDK's parser, from the first,
 * refuses the message types of the second ("type must be a Type"). So the JSON is parsed here
 * with the protobufjs that @temporalio/proto's types come from.
 */
function historyFromJson(json: unknown): proto.temporal.api.history.v1.IHistory {
  const require = createRequire(import.meta.url);
  const fromProto = createRequire(require.resolve('@temporalio/proto'));
  const { fromJson } = fromProto('protobufjs/ext/protojson') as { fromJson: (type: unknown, json: unknown, options: object) => unknown };
  const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as { patchProtobufRoot: (root: unknown) => { lookupType(name: string): unknown } };
  const historyType = patchProtobufRoot(require('@temporalio/proto')).lookupType('temporal.api.history.v1.History');
  return fromJson(historyType, json, { ignoreUnknownFields: true }) as proto.temporal.api.history.v1.IHistory;
}

before(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'rewind-replay-test-'));
});

after(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

test('an import started by the version that staged one file per activity replays on the current code', async () => {
  const file = path.join(PROJECT_ROOT, 'test/workflows/histories/import-per-file-staging.json');
  const history = JSON.parse(await fs.readFile(file, 'utf8')) as { events: { eventType: string; activityTaskScheduledEventAttributes?: { activityType: { name: string } } }[] };
  // The recorded run is what it claims to be: four one-file staging activities, then the merge.
  const scheduled = history.events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType.name ?? []);
  assert.deepEqual(scheduled, ['inspectImport', 'stageExportFile', 'stageExportFile', 'stageExportFile', 'stageExportFile', 'commitImport', 'buildModels']);
  const bundle = await workflowBundle(new Layout(home));
  await Worker.runReplayHistory({ workflowBundle: bundle }, historyFromJson(history), 'import-per-file-staging');
});
