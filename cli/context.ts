/**
 * What every CLI command shares: the configuration, the data folder's layout, and Temporal (the
 * embedded dev server unless TEMPORAL_ADDRESS is reachable), with a worker run in-process when no
 * worker polls the task queue.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { loadConfig, type Config } from '../config.ts';
import { Layout } from '../warehouse/layout.ts';
import { TASK_QUEUE } from '../workflows/ids.ts';
import type { TemporalEndpoint } from '../worker/temporal-server.ts';
import type { RunningWorker } from '../worker/worker.ts';

export interface Context {
  config: Config;
  layout: Layout;
  log: (message: string) => void;
}

export function createContext(config: Config = loadConfig(), log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): Context {
  return { config, layout: new Layout(config.home), log };
}

export interface TemporalSession {
  endpoint: TemporalEndpoint;
  client: Client;
  close(): Promise<void>;
}

export async function connectTemporal(ctx: Context): Promise<TemporalSession> {
  // Temporal's SDK loads here (and the worker in prepareWorker), not with this module: commands
  // that never talk to Temporal (sql, status, --help) start without them.
  const [{ ensureTemporal }, { Client, Connection }] = await Promise.all([
    import('../worker/temporal-server.ts'),
    import('@temporalio/client'),
  ]);
  const endpoint = await ensureTemporal(ctx.config.temporal, ctx.layout, ctx.log);
  const connection = await Connection.connect({ address: endpoint.address, connectTimeout: '10 seconds' });
  const client = new Client({ connection, namespace: endpoint.namespace });
  return { endpoint, client, close: () => connection.close() };
}

/** Does a worker (other than ours) poll the task queue right now? */
export async function workerPolling(session: TemporalSession): Promise<boolean> {
  const resp = await session.client.workflowService.describeTaskQueue({
    namespace: session.endpoint.namespace,
    taskQueue: { name: TASK_QUEUE },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  const { isLiveWorkerIdentity } = await import('../worker/worker.ts');
  const now = Date.now();
  return (resp.pollers ?? []).some((p) => {
    const seconds = Number(p.lastAccessTime?.seconds ?? 0);
    // A live poller renews its long poll at least every ~70 s; a `rewind worker` on this machine
    // must also still be running (the server remembers killed pollers for a while).
    return now - seconds * 1000 < 75_000 && isLiveWorkerIdentity(p.identity ?? '');
  });
}

/**
 * A worker for this process when no other worker polls the task queue (undefined otherwise).
 * Creating one takes about a second, so callers may start this before they start the workflow.
 */
export async function prepareWorker(ctx: Context, session: TemporalSession): Promise<RunningWorker | undefined> {
  if (await workerPolling(session)) return undefined;
  const { createWorker } = await import('../worker/worker.ts');
  return createWorker(ctx.config, ctx.layout, session.endpoint);
}

/**
 * Wait for a workflow's result, running a worker in this process for as long as it takes when no
 * other worker polls the task queue.
 */
export async function resultWithWorker<T>(
  ctx: Context,
  session: TemporalSession,
  handle: WorkflowHandle,
  prepared?: Promise<RunningWorker | undefined>,
): Promise<T> {
  const ready = prepared ? await prepared : await prepareWorker(ctx, session);
  if (!ready) return (await handle.result()) as T;
  const { worker, connection } = ready;
  try {
    return (await worker.runUntil(handle.result())) as T;
  } finally {
    await connection.close();
  }
}

/** Longest a progress poll may take: a slow answer is skipped, the next poll asks again. */
export const POLL_DEADLINE_MS = 5_000;

/**
 * A progress poll: `ask` makes the calls to Temporal (a query, say) and returns what to show, or
 * undefined; `tell` shows it. Only `ask` runs under the poll's deadline and cancellation: `tell`
 * runs outside them, so whatever it starts (another command, as a test does) is not cancelled
 * when this workflow ends.
 */
export interface Poll<V> {
  ask: () => Promise<V | undefined>;
  tell: (value: V) => void;
}

/**
 * Follow a workflow to its result (with a worker in this process when none polls, see
 * resultWithWorker), polling every `everyMs` while it runs: one poll at a time, its `ask` given
 * POLL_DEADLINE_MS, and the one in flight when the result arrives cancelled and awaited before
 * returning, so it never outlives the connection. (A query sent as the workflow ends may find no
 * worker to answer it: ours stops with the result, and the server would hold the query about 30 s.)
 * A failed workflow becomes `failure(message)` with the message of its cause (the activity's
 * reason, naming the input).
 */
export async function followWorkflow<T, V = unknown>(
  ctx: Context,
  session: TemporalSession,
  handle: WorkflowHandle,
  opts: { prepared?: Promise<RunningWorker | undefined>; poll?: Poll<V>; everyMs?: number; failure: (message: string) => Error },
): Promise<T> {
  let inFlight: Promise<void> | undefined;
  const poll = opts.poll;
  const connection = session.client.connection;
  const ended = new AbortController();
  const pollOnce = async ({ ask, tell }: Poll<V>): Promise<void> => {
    // The calls run in the scope of the deadline and the cancellation; `tell` after it, outside.
    // Each poll gets a signal of its own, aborted with `ended`: the SDK adds a listener to the
    // signal for every call and never removes it, so one signal for every poll collected them (a
    // MaxListenersExceededWarning on stderr after ten polls, and a leak over a long import).
    const own = new AbortController();
    const abort = () => own.abort();
    ended.signal.addEventListener('abort', abort, { once: true });
    if (ended.signal.aborted) own.abort();
    let value: V | undefined;
    try {
      value = await connection.withAbortSignal(own.signal, () => connection.withDeadline(Date.now() + POLL_DEADLINE_MS, ask));
    } finally {
      ended.signal.removeEventListener('abort', abort);
    }
    if (value !== undefined && !ended.signal.aborted) tell(value);
  };
  const timer = poll
    ? setInterval(() => (inFlight ??= pollOnce(poll).catch(() => undefined).finally(() => (inFlight = undefined))), opts.everyMs ?? 500)
    : undefined;
  try {
    return await resultWithWorker<T>(ctx, session, handle, opts.prepared);
  } catch (e) {
    const { WorkflowFailedError } = await import('@temporalio/client');
    if (e instanceof WorkflowFailedError) throw opts.failure((e.cause as { message?: string } | undefined)?.message ?? e.message);
    throw e;
  } finally {
    if (timer) clearInterval(timer);
    ended.abort();
    await inFlight;
  }
}
