/**
 * The Rewind worker: runs every workflow and activity on the task queue. Used by `rewind worker`
 * (foreground, until stopped) and by CLI commands that start a workflow while no worker polls
 * (in-process, until that workflow ends).
 *
 * The workflow bundle (webpack) takes seconds to build, so it is cached in the data folder, keyed
 * by the content of workflows/ and the SDK version.
 */
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, DefaultLogger } from '@temporalio/worker';
import { PROJECT_ROOT, type Config } from '../config.ts';
import { createActivities } from '../activities/index.ts';
import { TASK_QUEUE } from '../workflows/ids.ts';
import type { Layout } from '../warehouse/layout.ts';
import type { TemporalEndpoint } from './temporal-server.ts';

const WORKFLOWS_DIR = path.join(PROJECT_ROOT, 'workflows');

let runtimeInstalled = false;
/**
 * The SDK logs warnings for a long-running worker; a CLI command's in-process worker logs only
 * errors (the command reports failures itself, without a stack trace).
 */
function quietRuntime(level: 'WARN' | 'ERROR' = 'ERROR'): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // Already installed by the embedding program.
  }
}

async function workflowSourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = (await fs.readdir(WORKFLOWS_DIR, { recursive: true }))
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  for (const f of files) {
    hash.update(f);
    hash.update(await fs.readFile(path.join(WORKFLOWS_DIR, f)));
  }
  const sdk = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'node_modules/@temporalio/workflow/package.json'), 'utf8')) as { version: string };
  hash.update(sdk.version);
  return hash.digest('hex').slice(0, 16);
}

/** The workflow bundle, built once per content of workflows/ and cached under the data folder. */
export async function workflowBundle(layout: Layout): Promise<{ code: string }> {
  const file = path.join(layout.cache, `workflow-bundle-${await workflowSourceHash()}.js`);
  try {
    return { code: await fs.readFile(file, 'utf8') };
  } catch {
    quietRuntime();
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(WORKFLOWS_DIR, 'index.ts'),
      logger: new DefaultLogger('WARN'),
    });
    await fs.mkdir(layout.cache, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, code);
    await fs.rename(tmp, file);
    return { code };
  }
}

export interface RunningWorker {
  worker: Worker;
  connection: NativeConnection;
}

/**
 * Worker identities say what a worker is: `rewind-worker:<pid>@<host>` for a long-running
 * `rewind worker`, `rewind-cli:<pid>@<host>` for one a CLI command runs until its workflow ends.
 */
export function workerIdentity(kind: 'worker' | 'cli', pid = process.pid, host = os.hostname()): string {
  return `rewind-${kind}:${pid}@${host}`;
}

/** Is the poller with this identity a long-running worker that is still alive (as far as we can tell)? */
export function isLiveWorkerIdentity(identity: string, host = os.hostname()): boolean {
  const m = /^rewind-worker:(\d+)@(.+)$/.exec(identity);
  if (!m) return false;
  if (m[2] !== host) return true; // another machine: trust the server's last-seen time
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch {
    return false;
  }
}

export async function createWorker(
  config: Config,
  layout: Layout,
  endpoint: TemporalEndpoint,
  kind: 'worker' | 'cli' = 'cli',
): Promise<RunningWorker> {
  quietRuntime(kind === 'worker' ? 'WARN' : 'ERROR');
  const connection = await NativeConnection.connect({ address: endpoint.address });
  const worker = await Worker.create({
    connection,
    namespace: endpoint.namespace,
    taskQueue: TASK_QUEUE,
    identity: workerIdentity(kind),
    workflowBundle: await workflowBundle(layout),
    activities: createActivities({ config, layout }),
    maxConcurrentActivityTaskExecutions: Math.max(2, config.importConcurrency + 1),
    shutdownGraceTime: '5 seconds',
  });
  return { worker, connection };
}
