/**
 * Temporal as the embedded default: started under the data folder when TEMPORAL_ADDRESS is unset or
 * unreachable, reused by the next command, stopped on request. A real dev server, real ports.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config.ts';
import { Layout } from '../../warehouse/layout.ts';
import { ensureTemporal, reachable, stopEmbeddedTemporal } from '../../worker/temporal-server.ts';
import { freePort } from '../helpers/temporal.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'rewind-temporal-test-'));
const layout = new Layout(path.join(root, 'home'));
after(async () => {
  await stopEmbeddedTemporal(layout);
  await fs.rm(root, { recursive: true, force: true });
});

test('starts the dev server with its database in the data folder, reuses it, and stops it', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const uiPort = await freePort();
  const deadPort = await freePort();
  const config = loadConfig({
    REWIND_HOME: layout.home,
    REWIND_TEMPORAL_PORT: String(port),
    REWIND_TEMPORAL_UI_PORT: String(uiPort),
    // Set but unreachable: the embedded server is used instead.
    TEMPORAL_ADDRESS: `127.0.0.1:${deadPort}`,
  });
  const messages: string[] = [];
  const first = await ensureTemporal(config.temporal, layout, (m) => messages.push(m));
  assert.equal(first.address, `127.0.0.1:${port}`);
  assert.equal(first.embedded, true);
  assert.equal(first.uiUrl, `http://127.0.0.1:${uiPort}`);
  assert.ok(messages.some((m) => m.includes('not reachable')), messages.join('\n'));
  assert.ok(existsSync(path.join(layout.temporal, 'temporal.db')), 'workflow history is kept in the data folder');
  const state = JSON.parse(await fs.readFile(path.join(layout.temporal, 'server.json'), 'utf8')) as { pid: number };
  assert.ok(await reachable(`127.0.0.1:${uiPort}`), 'the Temporal UI answers');

  const again: string[] = [];
  const second = await ensureTemporal(config.temporal, layout, (m) => again.push(m));
  assert.equal(second.address, first.address);
  assert.ok(!again.some((m) => m.startsWith('Starting')), 'reused, not started again');
  const stateAfter = JSON.parse(await fs.readFile(path.join(layout.temporal, 'server.json'), 'utf8')) as { pid: number };
  assert.equal(stateAfter.pid, state.pid);

  // Other ports configured for the same data folder: the server already running for it is used,
  // not a second one on the same database file.
  const otherPorts = loadConfig({ REWIND_HOME: layout.home, REWIND_TEMPORAL_PORT: String(await freePort()), REWIND_TEMPORAL_UI_PORT: String(await freePort()) });
  const moved: string[] = [];
  const third = await ensureTemporal(otherPorts.temporal, layout, (m) => moved.push(m));
  assert.deepEqual([third.address, third.uiUrl, third.embedded], [first.address, first.uiUrl, true]);
  assert.ok(moved.some((m) => m.includes('already running for this data folder')), moved.join('\n'));
  const stateThird = JSON.parse(await fs.readFile(path.join(layout.temporal, 'server.json'), 'utf8')) as { pid: number };
  assert.equal(stateThird.pid, state.pid);

  assert.ok(!again.some((m) => m.includes('not started for the data folder')), again.join('\n'));

  // Another data folder with the same ports: the server listening there is used (two servers
  // cannot share the ports), and the command says it was not started for that folder.
  const otherHome = path.join(root, 'another-folder');
  const foreign: string[] = [];
  const fourth = await ensureTemporal(
    loadConfig({ REWIND_HOME: otherHome, REWIND_TEMPORAL_PORT: String(port), REWIND_TEMPORAL_UI_PORT: String(uiPort) }).temporal,
    new Layout(otherHome),
    (m) => foreign.push(m),
  );
  assert.equal(fourth.address, first.address);
  assert.ok(foreign.some((m) => m.includes(`not started for the data folder ${otherHome}`) && m.includes('REWIND_TEMPORAL_PORT')), foreign.join('\n'));
  assert.ok(!existsSync(path.join(otherHome, 'temporal', 'server.json')), 'nothing started for the other folder');

  // A reachable TEMPORAL_ADDRESS is used as it is.
  const external = await ensureTemporal(loadConfig({ REWIND_HOME: path.join(root, 'other'), TEMPORAL_ADDRESS: first.address }).temporal, new Layout(path.join(root, 'other')));
  assert.deepEqual([external.address, external.embedded], [first.address, false]);

  assert.equal(await stopEmbeddedTemporal(layout), true);
  assert.equal(await reachable(first.address), false);
});
