/**
 * Playlist snapshots end to end: a real Temporal dev server and worker, real DuckDB and Parquet, the
 * fake Spotify with its paging, 403 for playlists the user neither owns nor collaborates on, and
 * injected 429s. The schedule fires at creation; a second snapshot asks only for the list; changed
 * playlists (new snapshot_id) are fetched again and their older versions kept; a 429 in the middle
 * of the items is waited out and nothing fetched before is asked again; a missing scope is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Config } from '../../config.ts';
import { type Context, type TemporalSession } from '../../cli/context.ts';
import { ensurePlaylistsSchedule, formatPlaylistsSummary, PlaylistsFailedError, runPlaylists } from '../../cli/playlists.ts';
import { withDb } from '../../warehouse/duckdb.ts';
import { liveFile } from '../../warehouse/files.ts';
import { readPlaylistItems, readPlaylists } from '../../warehouse/playlists.ts';
import { connectWithRefreshToken } from '../../spotify/connect.ts';
import { connectFakeAccount, type FakeSpotify } from '../../spotify/fake/index.ts';
import { playlistsWorkflowId } from '../../workflows/ids.ts';
import { startSpotifyE2E, type SpotifyE2E } from '../helpers/spotify-e2e.ts';
import { until as waitUntil } from '../helpers/until.ts';

let e2e: SpotifyE2E;
let fake: FakeSpotify;
let config: Config;
let ctx: Context;
let session: TemporalSession;

before(async () => {
  e2e = await startSpotifyE2E({ name: 'playlists', env: { REWIND_PLAYLISTS_INTERVAL: '1h' } });
  ({ fake, config, ctx, session } = e2e);
});

after(async () => {
  await e2e?.stop();
});

/** Waits at most 60,000 ms, polling every 250 ms. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000) => waitUntil<T>(what, fn, timeoutMs, 250);

const itemCalls = (accountId: string, playlistId?: string) =>
  fake.requests.filter((r) => r.accountId === accountId && /^\/v1\/playlists\/[^/]+\/items$/.test(r.path) && (!playlistId || r.path.includes(playlistId)));

test('a daily snapshot: every playlist and its items, unchanged ones skipped, older versions kept, 429 waited out', { timeout: 180_000 }, async () => {
  fake.addAccount({ id: 'sp-pl', displayName: 'Pat' });
  fake.addAccount({ id: 'someone-else' });
  await connectFakeAccount(config, ctx.layout, fake, { userId: 'pl', accountId: 'sp-pl' });
  const big = fake.addPlaylist('sp-pl', {
    name: 'Everything',
    description: 'all of it',
    public: true,
    items: [...Array.from({ length: 118 }, (_, i) => ({ trackIndex: i })), { localIndex: 1 }, { localIndex: 2 }],
  });
  const collab = fake.addPlaylist('sp-pl', { name: 'Road trip', collaborative: true, ownerId: 'someone-else', items: [{ trackIndex: 200, addedBy: 'someone-else' }, { trackIndex: 201 }] });
  const followed = fake.addPlaylist('sp-pl', { name: 'Top hits', ownerId: 'someone-else', public: true, items: [{ trackIndex: 5 }] });
  const empty = fake.addPlaylist('sp-pl', { name: 'Empty', items: [] });
  for (let i = 0; i < 48; i++) fake.addPlaylist('sp-pl', { name: `Mix ${i}`, items: [{ trackIndex: 300 + i }] });

  // The schedule, created with a first run at once.
  assert.deepEqual(await ensurePlaylistsSchedule(ctx, session.client, 'pl'), { created: true });
  assert.deepEqual(await ensurePlaylistsSchedule(ctx, session.client, 'pl'), { created: false });
  const d = await session.client.schedule.getHandle(playlistsWorkflowId('pl')).describe();
  assert.equal(d.policies.overlap, 'SKIP');
  assert.equal(Number(d.spec.intervals?.[0]?.every), 3_600_000);
  await until('the first snapshot', async () => (await liveFile(ctx.layout.playlistsPartition('pl'))) !== undefined);
  await until('its run finished', async () => {
    const last = (await session.client.schedule.getHandle(playlistsWorkflowId('pl')).describe()).info.recentActions.at(-1);
    if (!last) return false;
    const h = session.client.workflow.getHandle(last.action.workflow.workflowId, last.action.workflow.firstExecutionRunId);
    return (await h.describe()).status.name === 'COMPLETED';
  });

  await withDb({}, async (db) => {
    const lists = await readPlaylists(db, ctx.layout, 'pl');
    assert.equal(lists.length, 52, 'both pages of /me/playlists');
    assert.deepEqual(lists.slice(0, 4).map((p) => [p.name, p.owner_id, p.collaborative, p.items_total, p.items_status]), [
      ['Everything', 'sp-pl', false, 120, 'fetched'],
      ['Road trip', 'someone-else', true, 2, 'fetched'],
      ['Top hits', 'someone-else', false, 1, 'forbidden'],
      ['Empty', 'sp-pl', false, 0, 'fetched'],
    ]);
    assert.equal(lists[0]!.snapshot_id, big.snapshotId);
    assert.equal(lists[0]!.description, 'all of it');
    const items = await readPlaylistItems(db, ctx.layout, 'pl', big.id);
    assert.equal(items.length, 120, 'three pages of items');
    assert.deepEqual(items.map((i) => i.position), Array.from({ length: 120 }, (_, i) => i));
    assert.equal(items[7]!.uri, `spotify:track:${fake.catalogue.tracks[7]!.id}`);
    assert.equal(items[7]!.name, fake.catalogue.tracks[7]!.name);
    assert.equal(items[7]!.item_type, 'track');
    assert.deepEqual(items.slice(118).map((i) => [i.is_local, i.uri?.startsWith('spotify:local:'), i.name]), [
      [true, true, fake.catalogue.localFiles[1]!.title],
      [true, true, fake.catalogue.localFiles[2]!.title],
    ]);
    assert.equal((await readPlaylistItems(db, ctx.layout, 'pl', collab.id))[0]!.added_by, 'someone-else');
    assert.deepEqual(await readPlaylistItems(db, ctx.layout, 'pl', followed.id), []);
    assert.deepEqual(await readPlaylistItems(db, ctx.layout, 'pl', empty.id), []);
  });
  assert.equal(itemCalls('sp-pl', followed.id).length, 1, 'asked once, 403');

  // Again: nothing changed, so only the list is asked for (2 pages), not one playlist's items.
  const before = itemCalls('sp-pl').length;
  const again = await runPlaylists(ctx, { userId: 'pl', session });
  assert.deepEqual([again.playlists, again.fetched, again.unchanged, again.forbidden, again.requests], [52, 0, 51, 1, 2]);
  assert.equal(itemCalls('sp-pl').length, before);
  assert.match(formatPlaylistsSummary(again), /52 playlist\(s\); 0 new version\(s\) fetched/);

  // Two playlists change; a 429 hits the second page of the big one: waited out, pages already done not asked again.
  const v2 = fake.setPlaylistItems(big.id, Array.from({ length: 60 }, (_, i) => ({ trackIndex: 100 + i })));
  fake.renamePlaylist(collab.id, 'Road trip 2026');
  let seen = 0;
  const bigCalls = () => itemCalls('sp-pl', big.id).length;
  const start = bigCalls();
  fake.fail({ endpoint: 'playlist-items', status: 429, retryAfterSeconds: 2, accountId: 'sp-pl', times: 1 });
  const third = await runPlaylists(ctx, { userId: 'pl', session });
  assert.deepEqual([third.fetched, third.unchanged, third.forbidden], [2, 49, 1]);
  const calls = itemCalls('sp-pl', big.id).slice(start);
  seen = calls.length;
  assert.equal(calls[0]!.status, 429);
  assert.ok(calls[1]!.at - calls[0]!.at >= 2000, `retried ${calls[1]!.at - calls[0]!.at} ms after the 429 (Retry-After: 2)`);
  assert.equal(seen, 3, 'the refused page, then the two pages of the new version');
  await withDb({}, async (db) => {
    const lists = await readPlaylists(db, ctx.layout, 'pl');
    assert.equal(lists.length, 52, "the day's rows replaced, not doubled");
    assert.equal(lists[0]!.snapshot_id, v2.snapshotId);
    assert.equal(lists[1]!.name, 'Road trip 2026');
    const items = await readPlaylistItems(db, ctx.layout, 'pl', big.id);
    assert.deepEqual(items.map((i) => i.uri), Array.from({ length: 60 }, (_, i) => `spotify:track:${fake.catalogue.tracks[100 + i]!.id}`));
    const versions = await db.all<{ snapshot_id: string; n: number }>(
      `SELECT snapshot_id, count(*) AS n FROM read_parquet($1) WHERE playlist_id = $2 GROUP BY ALL ORDER BY n DESC`,
      [(await liveFile(ctx.layout.playlistItemsPartition('pl')))!, big.id],
    );
    assert.deepEqual(versions, [{ snapshot_id: big.snapshotId, n: 120 }, { snapshot_id: v2.snapshotId, n: 60 }], 'the older version kept');
  });
});

test('an account connected without playlist-read-private is refused with the reason', { timeout: 60_000 }, async () => {
  fake.addAccount({ id: 'sp-old' });
  await connectWithRefreshToken(config, ctx.layout, 'old', fake.issueRefreshToken('sp-old', { scope: 'user-read-recently-played' }));
  await assert.rejects(runPlaylists(ctx, { userId: 'old', session }), (e: Error) => e instanceof PlaylistsFailedError && /playlist-read-private/.test(e.message) && /rewind login --user old/.test(e.message));
  assert.equal(fake.requests.filter((r) => r.accountId === 'sp-old' && r.path === '/v1/me/playlists').length, 0, 'Spotify was not asked');
});
