/**
 * The enrichment from the outside: its Temporal Schedule `enrich` (one for all users, every
 * REWIND_ENRICH_INTERVAL, default an hour, overlapping runs skipped), created beside the users' sync
 * schedules by `ensureSyncSchedule`; `rewind enrich`, which runs it now and follows it; and the
 * backlog `rewind status` shows.
 *
 * Why a schedule rather than one workflow that never ends: a run ends when nothing is left, so an
 * idle Rewind has nothing running; a run that failed (say, a configuration error) is simply tried
 * again at the next tick instead of staying dead until someone restarts it; each run shows as
 * itself in the Temporal UI; and new plays from imports and syncs are picked up within the
 * interval without anybody having to signal anything. Overlap SKIP keeps it to one run at a time,
 * and the `enrich` lock (activities/enrich.ts) serializes batches even against `rewind enrich`.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { enrichmentBacklog, readEnrichState, type EnrichmentBacklog } from '../warehouse/catalog.ts';
import { ENRICH_WORKFLOW_TYPE, TASK_QUEUE, enrichWorkflowId } from '../workflows/ids.ts';
import type { EnrichProgress, EnrichSummary } from '../workflows/enrich.ts';
import { ensureIntervalSchedule } from './schedules.ts';
import { connectTemporal, prepareWorker, followWorkflow, type Context, type TemporalSession } from './context.ts';

export class EnrichFailedError extends Error {}

/**
 * Create the shared enrichment schedule, or bring an existing one to the configured interval. Its
 * first run comes one interval later (`rewind enrich` runs one now).
 */
export async function ensureEnrichSchedule(ctx: Context, client: Client): Promise<{ created: boolean }> {
  const { created } = await ensureIntervalSchedule(client, {
    id: enrichWorkflowId(),
    workflowType: ENRICH_WORKFLOW_TYPE,
    args: [{}],
    everySeconds: ctx.config.enrich.intervalSeconds,
    catchupWindow: '1 minute',
    note: `catalog enrichment every ${ctx.config.enrich.intervalSeconds} s at ${ctx.config.enrich.ratePerMinute} lookups/min`,
  });
  return { created };
}

/** Run the enrichment now (joining a run started by hand that is going on) and wait for it to finish. */
export async function runEnrich(
  ctx: Context,
  opts: { session?: TemporalSession; onProgress?: (p: EnrichProgress) => void; batchesPerRun?: number; maxLookups?: number } = {},
): Promise<EnrichSummary> {
  const session = opts.session ?? (await connectTemporal(ctx));
  const prepared = prepareWorker(ctx, session);
  prepared.catch(() => undefined);
  try {
    await ensureEnrichSchedule(ctx, session.client);
    let handle;
    try {
      handle = await session.client.workflow.start(ENRICH_WORKFLOW_TYPE, {
        taskQueue: TASK_QUEUE,
        workflowId: enrichWorkflowId(),
        args: [{ batchesPerRun: opts.batchesPerRun, maxLookups: opts.maxLookups }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
      handle = session.client.workflow.getHandle(enrichWorkflowId());
    }
    const ask = () => handle.query<EnrichProgress>('progress').catch(() => undefined);
    return await followWorkflow<EnrichSummary, EnrichProgress>(ctx, session, handle, {
      prepared,
      poll: opts.onProgress ? { ask, tell: opts.onProgress } : undefined,
      everyMs: 1000,
      failure: (message) => new EnrichFailedError(message),
    });
  } finally {
    if (!opts.session) await session.close();
  }
}

/** The backlog and the enrichment's last run, as `rewind status` prints it. */
export async function enrichStatus(ctx: Context): Promise<EnrichmentBacklog & { lastStatus: string | null; lastError: string | null; rateLimitedUntil: string | null; audioFeaturesReason: string | null }> {
  const db = { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads, tempDirectory: ctx.layout.tmp };
  const [backlog, state] = await Promise.all([enrichmentBacklog(ctx.layout, { db }), readEnrichState(ctx.layout)]);
  const limited = state.rateLimitedUntil && Date.parse(state.rateLimitedUntil) > Date.now() ? state.rateLimitedUntil : null;
  return {
    ...backlog,
    lastStatus: state.lastRun?.status ?? null,
    lastError: state.lastRun?.error ?? null,
    rateLimitedUntil: limited,
    audioFeaturesReason: state.audioFeatures === 'off' ? (state.audioFeaturesReason ?? null) : null,
  };
}

export function formatEnrichStatus(s: Awaited<ReturnType<typeof enrichStatus>>): string {
  const parts = [
    `Enrichment (shared catalog): ${s.tracksPending.toLocaleString('en-US')} track(s) and ${s.artistsPending.toLocaleString('en-US')} artist(s) waiting`,
    `last run: ${s.lastRunAt ?? 'never'}${s.lastStatus && s.lastStatus !== 'ok' ? ` (${s.lastStatus}${s.lastError ? `: ${s.lastError}` : ''})` : ''}`,
    `audio features: ${s.audioFeatures}${s.audioFeaturesReason ? ` (${s.audioFeaturesReason})` : ''}`,
  ];
  if (s.rateLimitedUntil) parts.push(`rate limited until ${s.rateLimitedUntil}`);
  return parts.join('; ');
}

export function formatEnrichSummary(s: EnrichSummary): string {
  const what =
    s.status === 'no_account'
      ? 'stopped: no connected Spotify account to ask with (rewind login --user <id>)'
      : `looked up ${s.looked.tracks} track(s), ${s.looked.artists} artist(s), ${s.looked.features} audio feature set(s); ${s.notFound} unknown to Spotify`;
  return `Enrichment ${s.status === 'done' ? 'done' : 'ended'}: ${what}. Left: ${s.remaining.tracks} track(s), ${s.remaining.artists} artist(s). Audio features: ${s.audioFeatures}.`;
}

/** `rewind enrich`: run the enrichment now and wait for it, with progress on stderr. */
export async function enrichCommand(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const summary = await runEnrich(ctx, {
    onProgress: opts.json ? undefined : (p) => ctx.log(`enrich: ${p.looked.tracks} track(s), ${p.looked.artists} artist(s) looked up${p.remaining ? `, ${p.remaining.tracks + p.remaining.artists} left` : ''}`),
  });
  process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${formatEnrichSummary(summary)}\n`);
}
