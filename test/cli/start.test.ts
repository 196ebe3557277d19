/**
 * `npm start` (rewind start) from an empty data folder, as a new user runs it: imports the demo,
 * builds the models, prints a summary; the second run imports nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../config.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';

const exec = promisify(execFile);
let temporal: TestTemporal;
let root: string;

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-start-test-'));
});
after(async () => {
  await temporal.stop();
  await fs.rm(root, { recursive: true, force: true });
});

test('rewind start on an empty warehouse imports the demo and prints a summary; again, it imports nothing', { timeout: 240_000 }, async () => {
  const env = { ...process.env, REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: temporal.address };
  const bin = path.join(PROJECT_ROOT, 'bin/rewind.js');
  const first = await exec(process.execPath, [bin, 'start'], { env });
  assert.match(first.stdout, /Imported \d+ file\(s\) for "demo"/);
  assert.match(first.stdout, /demo: [\d,]+ plays/);
  assert.match(first.stdout, /top artists of all time: 1\. /);
  assert.match(first.stdout, /Temporal UI:/);

  const second = await exec(process.execPath, [bin, 'start'], { env });
  assert.doesNotMatch(second.stdout, /Imported/);
  assert.match(second.stdout, /demo: [\d,]+ plays/);

  const status = JSON.parse((await exec(process.execPath, [bin, 'status', '--json'], { env })).stdout) as {
    user: string; plays: Record<string, number>; imports: number; models: unknown;
  }[];
  assert.equal(status.length, 1);
  assert.equal(status[0]!.user, 'demo');
  assert.equal(status[0]!.imports, 1);
  assert.ok(status[0]!.plays.extended_export! > 50_000);
  assert.ok(status[0]!.models, 'models built');
});
