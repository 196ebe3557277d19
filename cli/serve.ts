/**
 * `rewind serve`: the JSON API (and the users' dashboards) on REWIND_API_HOST:REWIND_API_PORT, with a
 * Temporal worker in-process when no other worker polls, so uploaded exports get imported.
 * `startServer` is also what `npm start` calls.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app.ts';
import type { SyncControl } from '../api/deps.ts';
import { createTemporalImports } from '../api/imports.ts';
import { listen } from '../api/server.ts';
import type { RunningWorker } from '../worker/worker.ts';
import { prepareWorker, type Context } from './context.ts';

export interface ServeOptions {
  host?: string;
  port?: number;
  /** Run a worker in this process when none polls (default true). */
  worker?: boolean;
  /** The Spotify sync, when available. */
  sync?: SyncControl;
  /** Log requests (pino, to stdout). Default false. */
  logRequests?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Resolves when Temporal is connected and the worker (if any) runs; never rejects. */
  temporal: Promise<{ connected: boolean; worker: boolean; error?: string }>;
  close(): Promise<void>;
}

export async function startServer(ctx: Context, opts: ServeOptions = {}): Promise<RunningServer> {
  const imports = createTemporalImports(ctx);
  const app = await buildApp({
    config: ctx.config,
    layout: ctx.layout,
    imports,
    sync: opts.sync,
    temporalReady: () => imports.ready(),
    logger: opts.logRequests ? { level: 'info' } : false,
  });
  const url = await listen(app, { host: opts.host ?? ctx.config.api.host, port: opts.port ?? ctx.config.api.port });

  // Temporal in the background: reads never wait for it.
  let worker: RunningWorker | undefined;
  let running: Promise<void> | undefined;
  let closing = false;
  const temporal = (async () => {
    try {
      const session = await imports.session();
      if (opts.worker !== false && !closing) {
        worker = await prepareWorker(ctx, session);
        // Run it even when closing began meanwhile: a created worker holds its connection until it has run and stopped.
        if (worker) running = worker.worker.run().catch((e) => ctx.log(`rewind serve: the worker stopped: ${e instanceof Error ? e.message : e}`));
      }
      return { connected: true, worker: worker !== undefined };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      ctx.log(`rewind serve: Temporal is not available (${error}); imports will fail until it is`);
      return { connected: false, worker: false, error };
    }
  })();

  return {
    app,
    url,
    temporal,
    async close() {
      closing = true;
      await app.close();
      await temporal;
      if (worker) {
        if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
        await running;
        await worker.connection.close();
      }
      await imports.close();
    },
  };
}

export async function serveCommand(ctx: Context, opts: { host?: string; port?: number; worker?: boolean }): Promise<void> {
  const server = await startServer(ctx, { ...opts, logRequests: false });
  process.stdout.write(`Rewind API on ${server.url} (docs: ${server.url}/api/docs)\n`);
  void server.temporal.then((t) => {
    if (t.connected) ctx.log(t.worker ? 'Temporal connected; running a worker in this process.' : 'Temporal connected; another worker polls the task queue.');
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  ctx.log('Stopping...');
  await server.close();
}
