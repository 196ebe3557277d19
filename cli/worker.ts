/** `rewind worker` and `rewind temporal`. */
import { createWorker } from '../worker/worker.ts';
import { ensureTemporal, stopEmbeddedTemporal } from '../worker/temporal-server.ts';
import { TASK_QUEUE } from '../workflows/ids.ts';
import type { Context } from './context.ts';

export async function workerCommand(ctx: Context): Promise<void> {
  const endpoint = await ensureTemporal(ctx.config.temporal, ctx.layout, ctx.log);
  const { worker, connection } = await createWorker(ctx.config, ctx.layout, endpoint, 'worker');
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  ctx.log(`Rewind worker polling "${TASK_QUEUE}" on ${endpoint.address}${endpoint.uiUrl ? ` (Temporal UI: ${endpoint.uiUrl})` : ''}.`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

export async function temporalCommand(ctx: Context, action: string): Promise<void> {
  if (action === 'start') {
    const endpoint = await ensureTemporal(ctx.config.temporal, ctx.layout, ctx.log);
    process.stdout.write(`Temporal at ${endpoint.address}${endpoint.uiUrl ? `, UI at ${endpoint.uiUrl}` : ''}\n`);
  } else if (action === 'stop') {
    const stopped = await stopEmbeddedTemporal(ctx.layout);
    process.stdout.write(stopped ? 'Stopped the embedded Temporal dev server.\n' : 'No embedded Temporal dev server was running.\n');
  } else {
    throw new Error(`unknown action "${action}": use start or stop`);
  }
}
