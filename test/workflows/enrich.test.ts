/**
 * The enrichment end to end: a real Temporal dev server, a real worker, real DuckDB and Parquet,
 * plays imported from real exports (shared/real-data) and synced from the fake Spotify (the only
 * stand-in). The sync caches the metadata recently-played carries with no extra request; the shared
 * workflow looks up every other track and artist once (deduplicated across users, single-item
 * endpoints only), waits out a 429's Retry-After durably and resumes without repeating a lookup,
 * survives a worker restart and a crash mid-batch, records unknown ids (404) and leaves them be,
 * turns audio features off at the first 403 with one log line, switches to another user's token
 * when one is revoked, and shows its backlog to `rewind status`, the API and the dashboards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger } from '@temporalio/worker';
import { type Config } from '../../config.ts';
import { type Context, type TemporalSession } from '../../cli/context.ts';
import { runImport } from '../../cli/import.ts';
import { ensureSyncSchedule, runSync } from '../../cli/sync.ts';
import { enrichStatus, formatEnrichStatus, runEnrich } from '../../cli/enrich.ts';
import { collectStatus } from '../../cli/status.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { withDb, literal } from '../../warehouse/duckdb.ts';
import { liveFile } from '../../warehouse/files.ts';
import { enrichmentBacklog, readEnrichState, trackRowFromApi } from '../../warehouse/catalog.ts';
import { datasetColumns, datasetOptions } from '../../warehouse/dashboards.ts';
import { tokenStore } from '../../spotify/connect.ts';
import { connectFakeAccount, type FakeSpotify } from '../../spotify/fake/index.ts';
import { enrichJournal } from '../../activities/enrich.ts';
import { buildApp } from '../../api/app.ts';
import { createToken } from '../../api/auth/tokens.ts';
import { createTemporalImports } from '../../api/imports.ts';
import { ENRICH_WORKFLOW_TYPE, TASK_QUEUE, enrichWorkflowId } from '../../workflows/ids.ts';
import type { EnrichSummary } from '../../workflows/enrich.ts';
import { REAL_DATA } from '../helpers/real-data.ts';
import { startSpotifyE2E, type SpotifyE2E } from '../helpers/spotify-e2e.ts';
import { until as waitUntil } from '../helpers/until.ts';

const EXPORT_A = path.join(REAL_DATA, 'extended/EDGES2_Spotify-Data/Streaming_History_Audio_2025_2.json');
const EXPORT_B = path.join(REAL_DATA, 'extended/mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2022.json');

let e2e: SpotifyE2E;
let fake: FakeSpotify;
let config: Config;
let ctx: Context;
let session: TemporalSession;
const logs: string[] = [];

before(async () => {
  // Schedules that never fire during the tests (an hour); lookups fast (600/min) within a generous app budget.
  e2e = await startSpotifyE2E({
    name: 'enrich',
    env: { REWIND_SYNC_INTERVAL: '1h', REWIND_SPOTIFY_RATE: '2000', REWIND_ENRICH_RATE: '600', REWIND_IMPORT_CONCURRENCY: '1' },
    fake: { requestsPerWindow: 5000 },
    logger: new DefaultLogger('WARN', (entry) => logs.push(entry.message)),
  });
  ({ fake, config, ctx, session } = e2e);
});

after(async () => {
  await e2e?.stop();
});

/** The streams of a real export with a track URI: their distinct tracks, as the export names them. */
function exportTracks(file: string): { id: string; uri: string; name: string; artist: string; album: string }[] {
  const rows = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string | null>[];
  const byUri = new Map<string, { id: string; uri: string; name: string; artist: string; album: string }>();
  for (const r of rows) {
    const uri = r.spotify_track_uri;
    if (!uri || byUri.has(uri)) continue;
    byUri.set(uri, { id: uri.slice(14), uri, name: r.master_metadata_track_name ?? 'Unknown', artist: r.master_metadata_album_artist_name ?? 'Unknown', album: r.master_metadata_album_album_name ?? '' });
  }
  return [...byUri.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/** Lookups the fake served since `from`: path kind, id, status, account. */
function lookups(from = 0) {
  return fake.requests
    .slice(from)
    .map((r) => ({ ...r, m: /^\/v1\/(tracks|artists|audio-features)(?:\/([^/]+))?$/.exec(r.path) }))
    .filter((r) => r.m)
    .map((r) => ({ kind: r.m![1]!, id: r.m![2], status: r.status, at: r.at, accountId: r.accountId, query: r.query }));
}

/** Waits at most 90,000 ms, polling every 25 ms. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 90_000) => waitUntil<T>(what, fn, timeoutMs, 25);

async function startEnrich(workflowId: string, input: { batchesPerRun?: number; maxLookups?: number } = {}) {
  return session.client.workflow.start(ENRICH_WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId, args: [input] });
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await queryWarehouse(ctx.layout, {}, sql)).rows;
}

async function misses(): Promise<{ kind: string; uri: string; status: number; attempts: number }[]> {
  const file = await liveFile(ctx.layout.catalogMissesRoot);
  if (!file) return [];
  return withDb({}, (db) => db.all(`SELECT kind, uri, status, attempts FROM read_parquet(${literal(file)}) ORDER BY uri`));
}

test('the sync caches recently-played metadata with no extra request; with access, audio features are fetched', { timeout: 120_000 }, async () => {
  fake.addAccount({ id: 'sp-ann' });
  fake.generatePlays('sp-ann', { count: 12, endAt: Date.now() - 60_000, everyMs: 200_000, seed: 3 });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'ann', accountId: 'sp-ann' });
  const sync = await runSync(ctx, { userId: 'ann', session });
  assert.equal(sync.added, 12);
  assert.deepEqual(lookups(), [], 'no lookup during the sync');
  const synced = new Set(fake.plays('sp-ann').map((p) => `spotify:track:${fake.catalogue.tracks[p.trackIndex]!.id}`));
  const cached = await rows(`SELECT track_uri, duration_ms, album_image_url, source FROM tracks ORDER BY track_uri`);
  assert.deepEqual(cached.map((r) => r.track_uri), [...synced].sort());
  assert.ok(cached.every((r) => r.source === 'recently_played' && Number(r.duration_ms) > 0 && String(r.album_image_url).startsWith('https://i.scdn.co/')));

  fake.setAudioFeatures('allowed');
  const summary = await runEnrich(ctx, { session });
  assert.equal(summary.status, 'done');
  assert.equal(summary.looked.tracks, 0, 'the cached tracks are not looked up again');
  assert.equal(summary.looked.features, synced.size);
  const artists = await rows(`SELECT count(*) AS n, count(*) FILTER (WHERE source = 'lookup' AND genres IS NOT NULL AND image_url IS NOT NULL) AS full FROM artists`);
  assert.deepEqual(artists, [{ n: summary.looked.artists, full: summary.looked.artists }]);
  const features = await rows(`SELECT count(*) FILTER (WHERE features_status = 'fetched' AND danceability IS NOT NULL AND tempo IS NOT NULL) AS n FROM tracks`);
  assert.equal(features[0]!.n, synced.size);
  assert.deepEqual(new Set(lookups().map((l) => l.kind)), new Set(['artists', 'audio-features']));
  assert.equal((await readEnrichState(ctx.layout)).audioFeatures, 'on');
});

test('real exports are enriched once across users; a 429 mid-run is waited out; 404s recorded; the first 403 turns audio features off', { timeout: 240_000 }, async () => {
  fake.setAudioFeatures('forbidden');
  const tracks = exportTracks(EXPORT_A);
  const unknown = tracks.slice(-3); // Spotify does not know these (any more): 404
  for (const t of tracks.slice(0, -3)) fake.catalogue.addTrack({ id: t.id, name: t.name, artistName: t.artist, albumName: t.album });
  for (const userId of ['bo', 'cy']) {
    const r = await runImport(ctx, { paths: [EXPORT_A], userId, session });
    assert.equal(r.status, 'imported');
  }
  const before = fake.requests.length;
  assert.deepEqual(await enrichmentBacklog(ctx.layout, { userId: 'bo' }).then((b) => [b.tracksPending, b.audioFeatures]), [tracks.length, 'on']);

  // Small batches and runs: the history continues as new several times.
  const handle = await startEnrich('enrich-test-429', { batchesPerRun: 2, maxLookups: 10 });
  await until('15 track lookups', () => lookups(before).filter((l) => l.kind === 'tracks' && l.status === 200).length >= 15);
  fake.fail({ endpoint: 'api', status: 429, retryAfterSeconds: 3 });
  const summary = (await handle.result()) as EnrichSummary;
  assert.equal(summary.status, 'done');
  assert.ok(summary.runs >= 3, `continued as new (${summary.runs} runs)`);

  const served = lookups(before);
  assert.ok(served.every((l) => l.id !== undefined && Object.keys(l.query).length === 0), 'single-item lookups only, never ?ids=');
  const limited = served.filter((l) => l.status === 429);
  assert.equal(limited.length, 1, 'one 429, no retry loop');
  const next = served.find((l) => l.at > limited[0]!.at)!;
  const waited = next.at - limited[0]!.at;
  assert.ok(waited >= 3000 && waited < 6000, `the next lookup came ${waited} ms after the 429 (Retry-After: 3)`);
  // Every track and artist asked for exactly once (the refused one once more), deduplicated across bo and cy.
  const answered = served.filter((l) => l.status !== 429);
  const trackIds = answered.filter((l) => l.kind === 'tracks').map((l) => l.id!);
  assert.deepEqual(trackIds.slice().sort(), tracks.map((t) => t.id).sort(), 'each exported track looked up once');
  const artistIds = answered.filter((l) => l.kind === 'artists').map((l) => l.id!);
  assert.equal(new Set(artistIds).size, artistIds.length, 'each artist looked up once');
  assert.equal(summary.looked.tracks, tracks.length);
  assert.equal(summary.notFound, 3);

  // Audio features: one 403, then off (persisted), with one log line.
  assert.deepEqual(served.filter((l) => l.kind === 'audio-features').map((l) => l.status), [403]);
  const state = await readEnrichState(ctx.layout);
  assert.equal(state.audioFeatures, 'off');
  assert.match(state.audioFeaturesReason ?? '', /403/);
  assert.equal(logs.filter((m) => /audio features are now OFF/.test(m)).length, 1);
  assert.equal(summary.audioFeatures, 'off');

  // 404s are recorded, and not pending any more.
  assert.deepEqual(await misses(), unknown.map((t) => ({ kind: 'track', uri: t.uri, status: 404, attempts: 1 })));
  assert.deepEqual(await enrichmentBacklog(ctx.layout), { tracksPending: 0, artistsPending: 0, lastRunAt: state.lastRunAt, audioFeatures: 'off' });
  assert.ok(state.lastRunAt && Date.parse(state.lastRunAt) > Date.now() - 60_000);

  // The plays now have durations and art; every artist its genres (maybe none) and image.
  const joined = await rows(`
    SELECT count(*) AS plays, count(t.track_uri) AS known, count(*) FILTER (WHERE t.duration_ms > 0 AND t.album_image_url IS NOT NULL) AS complete
    FROM plays p LEFT JOIN tracks t USING (track_uri) WHERE p.user_id = 'bo' AND p.track_uri LIKE 'spotify:track:%'`);
  const unknownPlays = (await rows(`SELECT count(*) AS n FROM plays WHERE user_id = 'bo' AND track_uri IN (${unknown.map((t) => `'${t.uri}'`).join(', ')})`))[0]!.n;
  assert.equal(joined[0]!.known, Number(joined[0]!.plays) - Number(unknownPlays));
  assert.equal(joined[0]!.complete, joined[0]!.known);
  const artistRows = await rows(`
    SELECT count(DISTINCT a) AS refs, count(DISTINCT x.artist_uri) FILTER (WHERE x.source = 'lookup' AND x.genres IS NOT NULL AND x.image_url IS NOT NULL) AS looked
    FROM (SELECT unnest(artist_uris) AS a FROM tracks) r LEFT JOIN artists x ON x.artist_uri = r.a`);
  assert.equal(artistRows[0]!.looked, artistRows[0]!.refs);
  const names = await rows(`SELECT t.name, t.artist_names[1] AS artist FROM tracks t WHERE t.track_uri = '${tracks[0]!.uri}'`);
  assert.deepEqual(names, [{ name: tracks[0]!.name, artist: tracks[0]!.artist }]);

  // The 429 was waited out by Temporal: an attempt failed with RateLimited, nextRetryDelay 3 s.
  const failures = [];
  for await (const run of session.client.workflow.list({ query: `WorkflowId = 'enrich-test-429'` })) {
    const history = await session.client.workflow.getHandle('enrich-test-429', run.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const f = e.activityTaskStartedEventAttributes?.lastFailure;
      if (f) failures.push({ attempt: e.activityTaskStartedEventAttributes!.attempt, type: f.applicationFailureInfo?.type, delay: Number(f.applicationFailureInfo?.nextRetryDelay?.seconds) });
    }
  }
  assert.deepEqual(failures, [{ attempt: 2, type: 'RateLimited', delay: 3 }]);

  // Another run finds nothing to do: no request (misses held back, audio features off).
  const quiet = fake.requests.length;
  const again = (await (await startEnrich('enrich-test-again')).result()) as EnrichSummary;
  assert.deepEqual([again.status, again.looked, again.batches], ['done', { tracks: 0, artists: 0, features: 0 }, 1]);
  assert.deepEqual(lookups(quiet), []);
});

test('a worker restart and a crash mid-batch resume without repeating a lookup; a revoked token hands over to another user', { timeout: 240_000 }, async () => {
  const tracks = exportTracks(EXPORT_B);
  for (const t of tracks) fake.catalogue.addTrack({ id: t.id, name: t.name, artistName: t.artist, albumName: t.album });
  assert.equal((await runImport(ctx, { paths: [EXPORT_B], userId: 'dee', session })).status, 'imported');
  // A crash after the first pending track was looked up and journaled, before the batch was merged (a torn last line too).
  const journaled = tracks[0]!;
  const row = trackRowFromApi(fake.catalogue.trackObject(fake.catalogue.trackIndex(journaled.id)!, fake.url), { source: 'lookup', fetchedAt: new Date().toISOString(), uri: journaled.uri })!;
  await fs.mkdir(path.dirname(enrichJournal(ctx.layout)), { recursive: true });
  await fs.writeFile(enrichJournal(ctx.layout), `${JSON.stringify({ t: 'track', row, artists: [] })}\n{"t":"tra`);

  // ann's token is revoked: the lookups carry on with bo's.
  fake.addAccount({ id: 'sp-bo' });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'bo', accountId: 'sp-bo' });
  fake.revoke('sp-ann');
  fake.expireAccessTokens('sp-ann');

  const before = fake.requests.length;
  // Batches longer than the worker's 5 s shutdown grace time: the restart cuts one short.
  const handle = await startEnrich('enrich-test-restart', { maxLookups: 150 });
  await until('20 track lookups', () => lookups(before).filter((l) => l.kind === 'tracks' && l.status === 200).length >= 20);
  await e2e.stopWorker();
  const atShutdown = lookups(before).length;
  assert.equal((await handle.describe()).status.name, 'RUNNING', 'the workflow waits for a worker');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(lookups(before).length, atShutdown, 'nothing runs without a worker');
  await e2e.startWorker();
  const summary = (await handle.result()) as EnrichSummary;
  assert.equal(summary.status, 'done');

  const all = lookups(before);
  // ann's access token was refused once (401), her refresh answered invalid_grant: bo's token from then on.
  assert.deepEqual(all.filter((l) => l.status === 401).map((l) => l.accountId), ['sp-ann']);
  const served = all.filter((l) => l.status !== 401);
  // The batch in flight was interrupted by the shutdown (after the worker's grace time) and retried by the new worker.
  const retried = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes).filter((a) => a && a.attempt === 2);
  assert.match(retried[0]?.lastFailure?.message ?? '', /shutting down/, 'a batch was cut short by the restart');
  const trackIds = served.filter((l) => l.kind === 'tracks').map((l) => l.id!);
  assert.ok(!trackIds.includes(journaled.id), 'the journaled lookup was kept, not repeated');
  assert.deepEqual(trackIds.slice().sort(), tracks.slice(1).map((t) => t.id).sort(), 'every other track exactly once, across the restart');
  const artistIds = served.filter((l) => l.kind === 'artists').map((l) => l.id!);
  assert.equal(new Set(artistIds).size, artistIds.length);
  assert.ok(served.every((l) => l.accountId === 'sp-bo'), "bo's token after ann's was refused");
  assert.match((await tokenStore(config, ctx.layout).connection('ann'))?.reconnectNeeded?.reason ?? '', /invalid_grant/);
  const known = await rows(`SELECT count(*) AS n FROM (SELECT DISTINCT track_uri FROM plays WHERE user_id = 'dee' AND track_uri LIKE 'spotify:track:%') p JOIN tracks USING (track_uri)`);
  assert.equal(known[0]!.n, tracks.length);
  await assert.rejects(fs.access(enrichJournal(ctx.layout)), 'the journal is merged and removed');
});

test('the shared schedule, `rewind enrich`, and the backlog in `rewind status`, the API and the dashboards', { timeout: 120_000 }, async () => {
  await ensureSyncSchedule(ctx, session.client, 'bo');
  const schedule = await session.client.schedule.getHandle(enrichWorkflowId()).describe();
  assert.equal(schedule.policies.overlap, 'SKIP');
  assert.equal(Number(schedule.spec.intervals?.[0]?.every), config.enrich.intervalSeconds * 1000);
  assert.equal(schedule.action.type === 'startWorkflow' && schedule.action.workflowType, ENRICH_WORKFLOW_TYPE);
  await ensureSyncSchedule(ctx, session.client, 'ann').catch(() => undefined);
  assert.equal((await session.client.schedule.getHandle(enrichWorkflowId()).describe()).info.recentActions.length, 0, 'one schedule for everyone, not run on creation');

  // New plays arrive for cy (a sync): only their artists are new work, picked up by the schedule's next run.
  fake.addAccount({ id: 'sp-cy' });
  fake.catalogue.addTrack({ id: '7ouMYWpwJ422jRcDASZB7P', name: 'A Song Nobody Synced', artistName: 'A New Artist', albumName: 'New' });
  fake.addPlays('sp-cy', [{ playedAt: Date.now() - 30_000, trackIndex: fake.catalogue.trackIndex('7ouMYWpwJ422jRcDASZB7P')! }]);
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'cy', accountId: 'sp-cy' });
  await runSync(ctx, { userId: 'cy', session });
  assert.deepEqual(await enrichmentBacklog(ctx.layout, { userId: 'cy' }).then((b) => [b.tracksPending, b.artistsPending]), [0, 1]);
  const before = fake.requests.length;
  await session.client.schedule.getHandle(enrichWorkflowId()).trigger();
  const action = await until('the scheduled run', async () => (await session.client.schedule.getHandle(enrichWorkflowId()).describe()).info.recentActions[0]);
  const scheduled = (await session.client.workflow.getHandle(action.action.workflow.workflowId).result()) as EnrichSummary;
  assert.deepEqual([scheduled.status, scheduled.looked], ['done', { tracks: 0, artists: 1, features: 0 }]);
  assert.deepEqual(lookups(before).map((l) => [l.kind, l.status]), [['artists', 200]]);

  const manual = await runEnrich(ctx, { session });
  assert.deepEqual([manual.status, manual.looked.tracks + manual.looked.artists], ['done', 0]);

  // rewind status: the shared backlog line, and each user's share in --json.
  const text = formatEnrichStatus(await enrichStatus(ctx));
  assert.match(text, /^Enrichment \(shared catalog\): 0 track\(s\) and 0 artist\(s\) waiting; last run: \d{4}-.*; audio features: off \(.*403.*\)$/);
  const perUser = await collectStatus(ctx);
  assert.deepEqual(perUser.find((u) => u.user === 'dee')?.enrichment, { tracksPending: 0, artistsPending: 0, lastRunAt: (await readEnrichState(ctx.layout)).lastRunAt, audioFeatures: 'off' });

  // GET /api/v1/status: the caller's backlog.
  const app = await buildApp({ config, layout: ctx.layout, imports: createTemporalImports(ctx), temporalReady: async () => true });
  try {
    const token = (await createToken(ctx.layout, 'bo', 'test')).token;
    const r = await app.inject({ method: 'GET', url: '/api/v1/status', headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.statusCode, 200);
    const backlog = r.json().enrichmentBacklog;
    assert.deepEqual({ ...backlog, lastRunAt: typeof backlog.lastRunAt }, { tracksPending: 0, artistsPending: 0, lastRunAt: 'string', audioFeatures: 'off' });
  } finally {
    await app.close();
  }

  // The Data health page's dataset.
  const columns = await datasetColumns(ctx.layout, datasetOptions(config, ctx.layout), 'bo', 'enrichment');
  assert.deepEqual(Object.fromEntries(columns.map((c) => [c.name, c.name === 'last_run_at' ? typeof c.values[0] : c.values[0]])), {
    tracks_pending: 0,
    artists_pending: 0,
    last_run_at: 'string',
    audio_features: 'off',
  });
});
