/**
 * The end-to-end setting of the Spotify workflows' tests: a real Temporal dev server, the fake
 * Spotify, a data folder, a configuration pointed at both, a client session and a long-running
 * worker (the one `rewind worker` runs). `stop()` undoes all of it.
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { loadConfig, type Config } from '../../config.ts';
import { createContext, type Context, type TemporalSession } from '../../cli/context.ts';
import { configForFake, startFakeSpotify, type FakeSpotify, type FakeSpotifyOptions } from '../../spotify/fake/index.ts';
import { createWorker } from '../../worker/worker.ts';
import { startTestTemporal, type TestTemporal } from './temporal.ts';

export interface SpotifyE2E {
  temporal: TestTemporal;
  fake: FakeSpotify;
  home: string;
  config: Config;
  ctx: Context;
  session: TemporalSession;
  /** The running worker (replaced by startWorker). */
  worker: Worker;
  /** Shut the worker down and wait until it has stopped. */
  stopWorker(): Promise<void>;
  /** Start a new worker (after stopWorker: a worker restart). */
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSpotifyE2E(opts: {
  /** Names the data folder. */
  name: string;
  /** Environment for loadConfig beyond REWIND_HOME and TEMPORAL_ADDRESS. */
  env?: Record<string, string>;
  fake?: FakeSpotifyOptions;
  logger?: DefaultLogger;
}): Promise<SpotifyE2E> {
  const [temporal, fake] = await Promise.all([startTestTemporal(), startFakeSpotify(opts.fake)]);
  const home = mkdtempSync(path.join(os.tmpdir(), `rewind-${opts.name}-e2e-`));
  const config = configForFake(loadConfig({ REWIND_HOME: home, TEMPORAL_ADDRESS: temporal.address, ...opts.env }), fake);
  const ctx = createContext(config, () => undefined);
  Runtime.install({ logger: opts.logger ?? new DefaultLogger('ERROR') });
  const connection = await Connection.connect({ address: temporal.address });
  const session: TemporalSession = {
    endpoint: { address: temporal.address, namespace: 'default', uiUrl: undefined, embedded: false },
    client: new Client({ connection }),
    close: async () => undefined,
  };
  let running: Promise<void> = Promise.resolve();
  const e2e: SpotifyE2E = {
    temporal,
    fake,
    home,
    config,
    ctx,
    session,
    worker: undefined as unknown as Worker,
    async stopWorker() {
      if (e2e.worker?.getState() === 'RUNNING') e2e.worker.shutdown();
      await running.catch(() => undefined);
    },
    async startWorker() {
      const w = await createWorker(config, ctx.layout, session.endpoint, 'worker');
      e2e.worker = w.worker;
      running = w.worker.run().finally(() => w.connection.close());
    },
    async stop() {
      await e2e.stopWorker();
      await connection.close();
      await Promise.all([temporal.stop(), fake.stop()]);
      await fs.rm(home, { recursive: true, force: true });
    },
  };
  await e2e.startWorker();
  return e2e;
}
